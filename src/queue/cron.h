/*
 * Cron expressions: parsing, validation and next-fire computation in an IANA time zone.
 * docs/cron.md is the user-facing reference; this is the summary.
 *
 *   5 fields  minute hour day-of-month month day-of-week          (second = 0)
 *   6 fields  second minute hour day-of-month month day-of-week
 *   7 fields  second minute hour day-of-month month day-of-week year (1970-2199)
 *   macros    @yearly @annually @monthly @weekly @daily @midnight @hourly, @every <duration>
 *
 * Lists, ranges, steps (star-slash-5, `10-40/10`, `5/15`), names (JAN-DEC, SUN-SAT, any case),
 * `?` (day fields), `L` `L-3` `LW` `15W` (day-of-month), `5L` `FRI#2` (day-of-week); day of
 * week 0-7 with 0 and 7 both Sunday. A range whose start is past its end wraps around in
 * the cyclic fields (`FRI-MON`, hours `22-2`); day-of-month and year ranges must ascend.
 *
 * Day-of-month and day-of-week combine as Vixie cron does: if either field starts with `*`
 * or is `?`, a day must match both; otherwise (both restricted) a day matching EITHER fires.
 *
 * Daylight saving time, in a schedule's zone:
 *   - an expression is *periodic* when its second (6/7 fields), minute or hour field starts
 *     with `*` (a star, or a star with a step) or it is @hourly; otherwise *fixed-time*;
 *   - spring forward (a local time that does not exist): fixed-time expressions fire once at
 *     the first instant after the gap (02:30 on Berlin's spring-forward day fires at 03:00
 *     CEST); periodic ones skip the missing times;
 *   - fall back (a local time that happens twice): fixed-time expressions fire at the first
 *     occurrence only; periodic ones fire at every real instant whose local time matches,
 *     so a minute field of star-slash-15 keeps firing every 15 minutes through the
 *     repeated hour.
 * `@every` counts real seconds from the Unix epoch and ignores the zone.
 *
 * A compiled `struct cron` is immutable: any thread may call cron_next on it at once.
 * Fire times are whole seconds, computed by skipping over fields (never second by second),
 * up to the end of CRON_YEAR_MAX.
 */
#ifndef RATCHET_QUEUE_CRON_H
#define RATCHET_QUEUE_CRON_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct cron;
struct tz_db;

#define CRON_EXPR_MAX   512 /* longest expression accepted, in bytes */
#define CRON_YEAR_MIN   1970
#define CRON_YEAR_MAX   2199 /* fire times are computed up to the end of this year */
#define CRON_NEXT_N_MAX 1000

/* Compiles expr for time zone tz_name (an IANA name; NULL or "" means UTC). zones is the
 * zone cache to load from; NULL reads /usr/share/zoneinfo directly. On success *out is an
 * owned cron (cron_free). Errors are -E_INVALID with a message starting "cron: " that names
 * the bad field and value, e.g.
 *     cron: expected 5, 6 or 7 fields, got 4
 *     cron: field 2 (hour) value 25 out of range 0-23
 *     cron: field 5 (day-of-week) "FOO" is not a day name
 *     cron: unknown macro @weird
 *     cron: "0 0 30 2 *" never fires (no matching time from 1970 to 2199)
 *     cron: unknown time zone "Europe/Nowhere"
 * Thread-safe. */
int cron_parse(const char *expr, const char *tz_name, struct tz_db *zones, struct cron **out,
               struct err *err);
void cron_free(struct cron *c);

/* The first fire time strictly after after_ms (Unix ms, UTC) into *next_ms (a whole
 * second). Returns 0, or -E_NOT_FOUND ("cron: no fire time after <time> up to 2199") when
 * the schedule has no more fire times (a past year field). Thread-safe. */
int cron_next(const struct cron *c, int64_t after_ms, int64_t *next_ms, struct err *err);

/* The next n (at most CRON_NEXT_N_MAX) fire times after after_ms into out[], ascending, for
 * a "next runs" preview. Returns how many were written: fewer than n only when the schedule
 * ends. Thread-safe. */
size_t cron_next_n(const struct cron *c, int64_t after_ms, size_t n, int64_t *out);

/* The expression as given (surrounding blanks trimmed), and the zone name ("UTC"). */
const char *cron_expr(const struct cron *c);
const char *cron_tz_name(const struct cron *c);

#endif
