/* Base64 (RFC 4648, standard alphabet, padded) for bodies that are not UTF-8 text, as HAR
 * content with "encoding": "base64" holds them. Thread-safe. */
#ifndef RATCHET_UTIL_BASE64_H
#define RATCHET_UTIL_BASE64_H

#include <stddef.h>

struct strbuf;

/* Appends the base64 form of data[0..len) to sb; returns 0 or -E_TOO_LARGE past sb's cap. */
int base64_encode(struct strbuf *sb, const void *data, size_t len);
/* Decodes text[0..len) into an owned buffer (NUL-terminated for convenience; *out_len excludes
 * it). ASCII whitespace is skipped and padding is optional. Returns 0, or -E_INVALID for a
 * character outside the alphabet, misplaced padding or a dangling 6-bit group. */
int base64_decode(const char *text, size_t len, char **out, size_t *out_len);
/* The 6-bit value of character c in the standard alphabet, or -1 when it is not in it. */
int base64_sextet(unsigned c);
/* The standard alphabet, indexed by 6-bit value. */
extern const char base64_alphabet[65];

#endif
