/*
 * IANA time zones read from the system's TZif files (RFC 8536), for cron schedules.
 *
 * We never touch TZ, tzset() or localtime(): they are process-global and not thread-safe.
 * A zone is parsed once (v1 and v2+ data, and the POSIX TZ footer string that describes the
 * rules past the last transition), then shared: `struct tz` is immutable and
 * reference-counted, so any thread may use it. A `struct tz_db` caches loaded zones by name.
 *
 * Time is int64 seconds since the Unix epoch (UTC); offsets are seconds east of UTC.
 * The calendar is split into *spans*: maximal stretches of time with one UTC offset. Cron
 * walks spans to find gaps (spring forward) and overlaps (fall back).
 */
#ifndef RATCHET_QUEUE_TZ_H
#define RATCHET_QUEUE_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct tz;
struct tz_db;

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_NAME_MAX    128          /* longest zone name accepted */
#define TZ_FILE_MAX    (512 * 1024) /* largest TZif file read */

/* A cache of zones loaded from dir (NULL: TZ_DEFAULT_DIR). Thread-safe. Zones handed out
 * stay valid after tz_db_free (each holds its own reference). */
struct tz_db *tz_db_new(const char *dir);
void tz_db_free(struct tz_db *db);

/* Returns in *out a new reference to the zone called name ("Europe/Berlin"). NULL, "" and
 * "UTC" give UTC without reading a file. db may be NULL: the zone is then read from
 * TZ_DEFAULT_DIR without caching. Errors (-E_INVALID): a name that is not a plausible zone
 * name (absolute, "..", odd characters: no file is opened), an unknown zone, a file that is
 * not valid TZif, a leap-second ("right/") zone. Messages name the zone. Thread-safe. */
int tz_get(struct tz_db *db, const char *name, struct tz **out, struct err *err);

/* Checks the form of a zone name only (no file access): 0 or -E_INVALID. */
int tz_check_name(const char *name, struct err *err);

/* Parses a TZif image (the bytes of a zoneinfo file) into a zone called name. For tests and
 * fuzzing; tz_get uses it. */
int tz_parse(const char *name, const void *data, size_t len, struct tz **out, struct err *err);

/* Reference counting: tz_dup returns z with one more reference; tz_free drops one and frees
 * the zone with the last. Both accept NULL and are thread-safe. */
struct tz *tz_dup(struct tz *z);
void tz_free(struct tz *z);

/* The name the zone was loaded as ("UTC" for the built-in one). */
const char *tz_name(const struct tz *z);

struct tz_span {
    int64_t start;      /* first second of the span; INT64_MIN if unbounded */
    int64_t end;        /* first second after the span; INT64_MAX if unbounded */
    int32_t utoff;      /* seconds east of UTC within the span */
    int32_t prev_utoff; /* the offset just before start (utoff when start is unbounded) */
    bool is_dst;
};

/* The span containing instant t. Thread-safe, no allocation. */
void tz_span_at(const struct tz *z, int64_t t, struct tz_span *span);
/* The UTC offset at instant t. */
int32_t tz_offset_at(const struct tz *z, int64_t t);

#endif
