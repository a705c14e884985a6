/* UTF-8 well-formedness (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF),
 * for everything that comes from outside and ends up in JSON, logs or metrics. Thread-safe. */
#ifndef RATCHET_UTIL_UTF8_H
#define RATCHET_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf;

/* True if s[0..len) is well-formed UTF-8 (NUL bytes count as valid U+0000). */
bool utf8_valid(const char *s, size_t len);
/* Length of the well-formed sequence starting at s (1..4), or 0 if s starts an invalid one;
 * len is what is left of the input. */
size_t utf8_seq_len(const unsigned char *s, size_t len);
/* Appends s to sb with each invalid byte replaced by U+FFFD; returns 0 or -E_TOO_LARGE. */
int utf8_sanitize(struct strbuf *sb, const char *s, size_t len);

#endif
