/* Clocks and RFC 3339 timestamps. All times are int64 milliseconds since the Unix epoch
 * (UTC) unless a name says otherwise (_ns, _us). Thread-safe. */
#ifndef RATCHET_UTIL_TIMEUTIL_H
#define RATCHET_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t time_now_ms(void);  /* wall clock */
int64_t time_now_us(void);  /* wall clock, microseconds */
int64_t time_mono_ns(void); /* monotonic, for durations */
int64_t time_mono_ms(void);

/* Writes "2026-11-26T09:14:00.123Z" (24 chars + NUL); returns buf. */
char *time_format_rfc3339_ms(int64_t ms, char *buf, size_t size);
/* Parses RFC 3339 date-times: "2026-11-26T09:14:00Z", with fraction and/or "+01:00"
 * offsets, 't'/'z' in any case, and a space instead of 'T'. Returns 0 or -E_INVALID. */
int time_parse_rfc3339(const char *s, int64_t *ms);

#endif
