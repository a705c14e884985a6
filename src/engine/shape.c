/*
 * Reading task source before it runs: which fetch form ENGINE_FETCH_AUTO picks (a small scanner
 * that skips strings, template literals, comments and regular expressions and looks for async
 * constructs), and the names of the modes.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "engine/internal.h"

static const char *const mode_names[] = {
    [ENGINE_FETCH_AUTO] = "auto",
    [ENGINE_FETCH_SYNC] = "sync",
    [ENGINE_FETCH_STANDARD] = "standard",
};

const char *engine_fetch_mode_name(enum engine_fetch_mode mode)
{
    if ((unsigned)mode >= sizeof(mode_names) / sizeof(mode_names[0]))
        return "auto";
    return mode_names[mode];
}

static bool ident_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* Identifiers that mean the code is asynchronous (`then` only as `.then(`). */
static const char *const async_words[] = {"async", "await", "Promise"};

/* Keywords after which a '/' starts a regular expression, not a division. */
static const char *const operand_keywords[] = {"return", "typeof", "case",   "in",         "of",
                                               "void",   "throw",  "delete", "instanceof", "new",
                                               "yield",  "else",   "do"};

static bool keyword_before_operand(const char *word, size_t n)
{
    for (size_t k = 0; k < sizeof(operand_keywords) / sizeof(operand_keywords[0]); k++) {
        if (strlen(operand_keywords[k]) == n && memcmp(word, operand_keywords[k], n) == 0)
            return true;
    }
    return false;
}

/* Skips a quoted string starting at code[i] (the quote); returns the index after it. */
static size_t skip_string(const char *code, size_t len, size_t i)
{
    char q = code[i++];
    while (i < len && code[i] != q && code[i] != '\n') {
        if (code[i] == '\\')
            i++;
        i++;
    }
    return i + 1;
}

static size_t skip_regex(const char *code, size_t len, size_t i)
{
    bool in_class = false;
    for (i++; i < len && code[i] != '\n'; i++) {
        if (code[i] == '\\')
            i++;
        else if (code[i] == '[')
            in_class = true;
        else if (code[i] == ']')
            in_class = false;
        else if (code[i] == '/' && !in_class)
            return i + 1;
    }
    return i;
}

/* A '/' starts a regular expression unless the previous significant character ends an
 * operand. */
static bool regex_allowed(char prev)
{
    return !(ident_char((unsigned char)prev) || prev == ')' || prev == ']' || prev == '}' ||
             prev == '"' || prev == '\'' || prev == '`');
}

enum engine_fetch_mode engine_detect_fetch_mode(const char *code, size_t len)
{
    /* Template literal nesting: for each open `...${, the brace depth at which it resumes. */
    int tmpl_stack[64];
    int ntmpl = 0, braces = 0;
    char prev = 0; /* last significant character outside strings and comments */
    size_t i = 0;
    while (i < len) {
        char c = code[i];
        if (c == '/' && i + 1 < len && code[i + 1] == '/') {
            while (i < len && code[i] != '\n')
                i++;
            continue;
        }
        if (c == '/' && i + 1 < len && code[i + 1] == '*') {
            const char *end = len - i > 2 ? memmem(code + i + 2, len - i - 2, "*/", 2) : NULL;
            i = end ? (size_t)(end - code) + 2 : len;
            continue;
        }
        if (c == '\'' || c == '"') {
            i = skip_string(code, len, i);
            prev = c;
            continue;
        }
        if (c == '/' && regex_allowed(prev)) {
            i = skip_regex(code, len, i);
            prev = 'x'; /* a regex literal is an operand */
            continue;
        }
        if (c == '`' || (c == '}' && ntmpl > 0 && braces == tmpl_stack[ntmpl - 1])) {
            if (c == '}')
                ntmpl--;
            /* inside a template literal: skip to its end or to the next ${ */
            for (i++; i < len; i++) {
                if (code[i] == '\\') {
                    i++;
                } else if (code[i] == '`') {
                    i++;
                    break;
                } else if (code[i] == '$' && i + 1 < len && code[i + 1] == '{') {
                    if (ntmpl < (int)(sizeof(tmpl_stack) / sizeof(tmpl_stack[0])))
                        tmpl_stack[ntmpl++] = braces;
                    i += 2;
                    break;
                }
            }
            prev = '`';
            continue;
        }
        if (c == '{')
            braces++;
        if (c == '}')
            braces--;
        if (ident_char((unsigned char)c)) {
            size_t start = i;
            while (i < len && ident_char((unsigned char)code[i]))
                i++;
            size_t n = i - start;
            char prev_tok = prev;
            if (prev_tok != '.' && !isdigit((unsigned char)code[start])) {
                for (size_t w = 0; w < sizeof(async_words) / sizeof(async_words[0]); w++) {
                    if (strlen(async_words[w]) == n && memcmp(code + start, async_words[w], n) == 0)
                        return ENGINE_FETCH_STANDARD;
                }
            }
            if (prev_tok == '.' && n == 4 && memcmp(code + start, "then", 4) == 0) {
                size_t j = i;
                while (j < len && isspace((unsigned char)code[j]))
                    j++;
                if (j < len && code[j] == '(')
                    return ENGINE_FETCH_STANDARD;
            }
            prev = keyword_before_operand(code + start, n) ? '(' : code[i - 1];
            continue;
        }
        if (!isspace((unsigned char)c))
            prev = c;
        i++;
    }
    return ENGINE_FETCH_SYNC;
}
