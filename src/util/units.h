/* Parsing sizes ("128MB", "64 KiB", 1048576) and durations ("30s", "500ms", "5m", 30000). */
#ifndef RATCHET_UTIL_UNITS_H
#define RATCHET_UTIL_UNITS_H

#include <stddef.h>
#include <stdint.h>

struct err;

/* Parses a byte size: a plain number of bytes, or a number with B, KB, MB, GB (powers of
 * 1024, as the original's "128MB" meant) or KiB, MiB, GiB; case-insensitive, optional space.
 * Returns 0 or -E_INVALID with a message naming `what`. */
int units_parse_size(const char *s, const char *what, uint64_t *out, struct err *err);
/* Parses a duration: a plain number is in `default_unit_ms` units (1 for ms, 1000 for s);
 * suffixes ms, s, m, h are accepted. Returns 0 or -E_INVALID naming `what`. */
int units_parse_duration_ms(const char *s, int64_t default_unit_ms, const char *what, int64_t *out,
                            struct err *err);

#endif
