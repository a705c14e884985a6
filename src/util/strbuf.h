/*
 * A growable, NUL-terminated byte buffer (after git's strbuf.h), with an optional hard cap
 * (after curl's dynbuf) for buffers whose size outside input decides.
 *
 *     struct strbuf sb = STRBUF_INIT;          // uncapped
 *     strbuf_init(&sb, 1 << 20);               // or: at most 1 MiB of content
 *     if (strbuf_add(&sb, data, n) < 0) ...    // -E_TOO_LARGE past the cap; content unchanged
 *     char *s = strbuf_detach(&sb, NULL);      // caller owns s; sb is reset
 *
 * sb.buf is always a valid C string (never NULL after init). Adding never fails for lack of
 * memory (xalloc.h aborts instead). Not thread-safe; one owner at a time.
 */
#ifndef RATCHET_UTIL_STRBUF_H
#define RATCHET_UTIL_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
    char *buf;
    size_t len;
    size_t alloc;
    size_t max_bytes; /* 0: no cap */
};

extern char strbuf_empty[];
#define STRBUF_INIT           \
    {                         \
        strbuf_empty, 0, 0, 0 \
    }

void strbuf_init(struct strbuf *sb, size_t max_bytes);
void strbuf_release(struct strbuf *sb);
/* Returns the buffer (caller frees) and resets sb; *len gets its length when not NULL. */
char *strbuf_detach(struct strbuf *sb, size_t *len);
void strbuf_reset(struct strbuf *sb);
void strbuf_setlen(struct strbuf *sb, size_t len);
/* Ensures room for extra more bytes; returns -E_TOO_LARGE past the cap. */
int strbuf_grow(struct strbuf *sb, size_t extra);

int strbuf_add(struct strbuf *sb, const void *data, size_t len);
int strbuf_adds(struct strbuf *sb, const char *s);
int strbuf_addch(struct strbuf *sb, int c);
int strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Appends s as a JSON string literal, quotes included. */
int strbuf_add_json_string(struct strbuf *sb, const char *s, size_t len);

#endif
