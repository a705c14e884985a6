/* stderr logging in text or JSON (log.h). The settings are written once by main(). */
#include "util/log.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/err.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

static struct {
    enum log_level level;
    enum log_format format;
    char proc[32];
} log_settings = {LOG_INFO, LOG_FORMAT_TEXT, "ratchet"};

static const char *const level_names[] = {"trace", "debug", "info", "warn", "error", "off"};

void log_configure(enum log_level level, enum log_format format, const char *proc)
{
    log_settings.level = level;
    log_settings.format = format;
    if (proc)
        snprintf(log_settings.proc, sizeof(log_settings.proc), "%s", proc);
}

bool log_enabled(enum log_level level)
{
    return level >= log_settings.level && level < LOG_OFF;
}

enum log_level log_get_level(void)
{
    return log_settings.level;
}

enum log_format log_get_format(void)
{
    return log_settings.format;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i <= LOG_OFF; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -E_INVALID;
}

const char *log_level_name(enum log_level level)
{
    return level_names[level <= LOG_OFF ? level : LOG_OFF];
}

int log_format_parse(const char *s, enum log_format *out)
{
    if (strcasecmp(s, "text") == 0 || strcasecmp(s, "pretty") == 0 ||
        strcasecmp(s, "compact") == 0) {
        *out = LOG_FORMAT_TEXT;
        return 0;
    }
    if (strcasecmp(s, "json") == 0) {
        *out = LOG_FORMAT_JSON;
        return 0;
    }
    return -E_INVALID;
}

static void add_number(struct strbuf *sb, double v)
{
    if (isfinite(v) && v == (double)(long long)v)
        strbuf_addf(sb, "%lld", (long long)v);
    else if (isfinite(v))
        strbuf_addf(sb, "%.3f", v);
    else
        strbuf_adds(sb, "null");
}

void log_fields(enum log_level level, const struct log_field *fields, size_t nfields,
                const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    char ts[40];
    time_format_rfc3339_ms(time_now_ms(), ts, sizeof(ts));
    struct strbuf sb = STRBUF_INIT;
    if (log_settings.format == LOG_FORMAT_JSON) {
        strbuf_addf(&sb, "{\"ts\":\"%s\",\"level\":\"%s\",\"proc\":", ts, level_names[level]);
        strbuf_add_json_string(&sb, log_settings.proc, strlen(log_settings.proc));
        strbuf_adds(&sb, ",\"msg\":");
        strbuf_add_json_string(&sb, msg, strlen(msg));
        for (size_t i = 0; i < nfields; i++) {
            strbuf_addch(&sb, ',');
            strbuf_add_json_string(&sb, fields[i].key, strlen(fields[i].key));
            strbuf_addch(&sb, ':');
            if (fields[i].str)
                strbuf_add_json_string(&sb, fields[i].str, strlen(fields[i].str));
            else
                add_number(&sb, fields[i].num);
        }
        strbuf_adds(&sb, "}\n");
    } else {
        strbuf_addf(&sb, "%s %-5s [%s] %s", ts, level_names[level], log_settings.proc, msg);
        for (size_t i = 0; i < nfields; i++) {
            strbuf_addf(&sb, " %s=", fields[i].key);
            if (fields[i].str)
                strbuf_adds(&sb, fields[i].str);
            else
                add_number(&sb, fields[i].num);
        }
        strbuf_addch(&sb, '\n');
    }
    ssize_t off = 0;
    while ((size_t)off < sb.len) {
        ssize_t n = write(STDERR_FILENO, sb.buf + off, sb.len - (size_t)off);
        if (n <= 0)
            break;
        off += n;
    }
    strbuf_release(&sb);
}
