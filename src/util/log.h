/*
 * Process logs, to stderr only (stdout carries results). Text for people, JSON for
 * collectors. Configured once at start by main() (log_configure); safe to call from any
 * thread afterwards: each record is built in full and written with one write(2).
 *
 *     log_info("loaded %d tasks from %s", n, dir);
 *     log_fields(LOG_INFO, (struct log_field[]){LF_STR("request_id", id), LF_NUM("status", 200)},
 *                2, "request");
 */
#ifndef RATCHET_UTIL_LOG_H
#define RATCHET_UTIL_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

struct log_field {
    const char *key;
    const char *str; /* string value, or NULL for a number */
    double num;
};
#define LF_STR(k, v)           \
    {                          \
        (k), (v) ? (v) : "", 0 \
    }
#define LF_NUM(k, v)           \
    {                          \
        (k), NULL, (double)(v) \
    }

/* Sets level, format and the process tag shown in each record ("serve", "worker-2"). The
 * tag is copied. Call before starting threads. */
void log_configure(enum log_level level, enum log_format format, const char *proc);
bool log_enabled(enum log_level level);
enum log_level log_get_level(void);
enum log_format log_get_format(void);
/* Parses "trace|debug|info|warn|warning|error|off"; returns 0 or -E_INVALID. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);
int log_format_parse(const char *s, enum log_format *out);

void log_fields(enum log_level level, const struct log_field *fields, size_t nfields,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_trace(...) log_fields(LOG_TRACE, NULL, 0, __VA_ARGS__)
#define log_debug(...) log_fields(LOG_DEBUG, NULL, 0, __VA_ARGS__)
#define log_info(...)  log_fields(LOG_INFO, NULL, 0, __VA_ARGS__)
#define log_warn(...)  log_fields(LOG_WARN, NULL, 0, __VA_ARGS__)
#define log_error(...) log_fields(LOG_ERROR, NULL, 0, __VA_ARGS__)

#endif
