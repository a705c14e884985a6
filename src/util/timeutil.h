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

/* Proleptic Gregorian calendar arithmetic, independent of any time zone (no libc tz state).
 * Months are 1-12, days 1-31; "days" count from 1970-01-01 (negative before it). */
int time_is_leap_year(int64_t year);
int time_days_in_month(int64_t year, int month);
int64_t time_days_from_civil(int64_t year, int month, int day);
void time_civil_from_days(int64_t days, int64_t *year, int *month, int *day);
/* Day of the week of a day count: 0 = Sunday ... 6 = Saturday. */
int time_weekday(int64_t days);
/* Floor division and modulo, for negative times (time_floor_div(-1, 1000) == -1). */
int64_t time_floor_div(int64_t a, int64_t b);
int64_t time_floor_mod(int64_t a, int64_t b);

#endif
