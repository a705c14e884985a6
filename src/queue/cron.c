/*
 * Cron (cron.h): the parser builds one bit set per field plus the special day rules (L, W,
 * #); next-fire search walks the zone's UTC-offset spans and, inside each, searches local
 * civil time field by field (year, month, day, hour, minute, second), skipping whole
 * non-matching units. DST gaps and overlaps are handled at span boundaries (see cron.h).
 */
#include "queue/cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/tz.h"
#include "util/err.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

enum field_id { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_YEAR, F__COUNT };

struct field_info {
    const char *name;
    int min, max;
    bool wraps;               /* a reversed range wraps around (FRI-MON) */
    const char *const *names; /* three-letter names, value = index + names_base */
    int names_base;
    const char *names_what; /* "month", "day" */
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                          "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

static const struct field_info fields[F__COUNT] = {
    [F_SEC] = {"second", 0, 59, true, NULL, 0, NULL},
    [F_MIN] = {"minute", 0, 59, true, NULL, 0, NULL},
    [F_HOUR] = {"hour", 0, 23, true, NULL, 0, NULL},
    [F_DOM] = {"day-of-month", 1, 31, false, NULL, 0, NULL},
    [F_MON] = {"month", 1, 12, true, month_names, 1, "month"},
    [F_DOW] = {"day-of-week", 0, 7, true, day_names, 0, "day"},
    [F_YEAR] = {"year", CRON_YEAR_MIN, CRON_YEAR_MAX, false, NULL, 0, NULL},
};

/* Which field each position holds, by field count. */
static const enum field_id layout5[] = {F_MIN, F_HOUR, F_DOM, F_MON, F_DOW};
static const enum field_id layout6[] = {F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW};
static const enum field_id layout7[] = {F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_YEAR};

/* Macros expand to 6-field expressions. */
static const struct {
    const char *name;
    const char *fields;
} macros[] = {
    {"@yearly", "0 0 0 1 1 *"}, {"@annually", "0 0 0 1 1 *"}, {"@monthly", "0 0 0 1 * *"},
    {"@weekly", "0 0 0 * * 0"}, {"@daily", "0 0 0 * * *"},    {"@midnight", "0 0 0 * * *"},
    {"@hourly", "0 0 * * * *"},
};

#define EVERY_MAX_S (366 * 86400)

/*
 * Invariants: set[f] has bit (v - fields[f].min) for every allowed value v (day of week
 * 0-6, Sunday 0). dom_star/dow_star follow Vixie cron: the field starts with '*' or is '?'.
 * When every_s > 0 the expression is "@every" and only every_s matters.
 */
struct cron {
    char *expr;
    struct tz *tz;
    int64_t every_s;
    uint64_t set[F__COUNT][4];
    uint32_t dom_last;     /* bit k: the day k days before the month's last (L, L-k) */
    uint32_t dom_near;     /* bit d: the weekday nearest day d (dW) */
    bool dom_last_weekday; /* LW */
    uint8_t dow_last;      /* bit w: the last weekday w of the month (wL) */
    uint8_t dow_nth[7];    /* bit k: the k-th weekday w of the month (w#k) */
    bool dom_star, dow_star;
    bool periodic; /* DST rule: second, minute or hour starts with '*' */
    bool year_any; /* no year field: years before CRON_YEAR_MIN match too */
};

/* ---- bit sets ---- */

static void bit_set(uint64_t *s, int i)
{
    s[i >> 6] |= (uint64_t)1 << (i & 63);
}

static bool bit_test(const uint64_t *s, int i)
{
    return (s[i >> 6] >> (i & 63)) & 1;
}

/* The smallest set bit >= from and <= last, or -1. */
static int bit_next(const uint64_t *s, int from, int last)
{
    for (int i = from; i <= last;) {
        uint64_t w = s[i >> 6] >> (i & 63);
        if (w)
            return i + __builtin_ctzll(w) <= last ? i + __builtin_ctzll(w) : -1;
        i = (i | 63) + 1;
    }
    return -1;
}

/* ---- messages ---- */

/* Copies at most 40 bytes of s for a message: printable ASCII as is, others as \xNN. */
static const char *shown(char *buf, size_t size, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < size; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i == 40) {
            o += (size_t)snprintf(buf + o, size - o, "...");
            break;
        }
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
            buf[o++] = (char)ch;
        else
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
    }
    buf[o] = '\0';
    return buf;
}

struct fctx {
    enum field_id id;
    int pos; /* 1-based position in the expression */
    struct err *err;
};

static int ferr(const struct fctx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int ferr(const struct fctx *f, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return err_set(f->err, E_INVALID, "cron: field %d (%s) %s", f->pos, fields[f->id].name, what);
}

/* ---- parsing ---- */

static bool str_ieq(const char *a, size_t alen, const char *b)
{
    return strlen(b) == alen && strncasecmp(a, b, alen) == 0;
}

/* A number or (month, day of week) a name: the whole of s[0..len). */
static int parse_value(const struct fctx *f, const char *s, size_t len, int *out)
{
    const struct field_info *fi = &fields[f->id];
    char b[200];
    if (len == 0)
        return ferr(f, "is missing a value");
    if (isdigit((unsigned char)s[0])) {
        long v = 0;
        for (size_t i = 0; i < len; i++) {
            if (!isdigit((unsigned char)s[i]))
                return ferr(f, "unexpected \"%s\"", shown(b, sizeof(b), s + i, len - i));
            if (v < 100000)
                v = v * 10 + (s[i] - '0');
        }
        if (v < fi->min || v > fi->max)
            return ferr(f, "value %s out of range %d-%d", shown(b, sizeof(b), s, len), fi->min,
                        fi->max);
        *out = (int)v;
        return 0;
    }
    if (isalpha((unsigned char)s[0])) {
        for (int i = 0; fi->names && fi->names[i]; i++)
            if (str_ieq(s, len, fi->names[i])) {
                *out = i + fi->names_base;
                return 0;
            }
        if (fi->names)
            return ferr(f, "\"%s\" is not a %s name", shown(b, sizeof(b), s, len), fi->names_what);
        return ferr(f, "\"%s\" is not a number", shown(b, sizeof(b), s, len));
    }
    return ferr(f, "unexpected \"%s\"", shown(b, sizeof(b), s, len));
}

/* Length of the value at s: a run of digits, or a word up to the next '-' or '/'. */
static size_t value_len(const char *s, size_t len)
{
    size_t n = 0;
    bool digits = len > 0 && isdigit((unsigned char)s[0]);
    while (n < len && (digits ? isdigit((unsigned char)s[n]) : s[n] != '-' && s[n] != '/'))
        n++;
    return n;
}

static void set_value(struct cron *c, enum field_id id, int v)
{
    if (id == F_DOW)
        v %= 7;
    bit_set(c->set[id], v - fields[id].min);
}

/* Adds a..b by step; a > b wraps around in cyclic fields (validated by the caller). */
static void add_range(struct cron *c, enum field_id id, int a, int b, int step)
{
    const struct field_info *fi = &fields[id];
    int span = id == F_DOW ? 7 : fi->max - fi->min + 1;
    if (id == F_DOW && a == 7)
        a = 0;
    int count = b >= a ? b - a : b - a + span;
    for (int k = 0; k <= count; k += step)
        set_value(c, id, fi->min + (a - fi->min + k) % span);
}

static int parse_uint_part(const struct fctx *f, const char *what, const char *s, size_t len,
                           int lo, int hi, int *out)
{
    char b[200];
    long v = 0;
    if (len == 0)
        return ferr(f, "is missing its %s", what);
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return ferr(f, "%s \"%s\" is not a number", what, shown(b, sizeof(b), s, len));
        if (v < 100000)
            v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return ferr(f, "%s %s out of range %d-%d", what, shown(b, sizeof(b), s, len), lo, hi);
    *out = (int)v;
    return 0;
}

/* Day-of-month specials: L, L-n, LW, nW. Returns 1 if s was one, 0 if not, < 0 on error. */
static int parse_dom_special(struct cron *c, const struct fctx *f, const char *s, size_t len)
{
    int n;
    if (len >= 1 && toupper((unsigned char)s[0]) == 'L') {
        if (len == 1) {
            c->dom_last |= 1;
            return 1;
        }
        if (len == 2 && toupper((unsigned char)s[1]) == 'W') {
            c->dom_last_weekday = true;
            return 1;
        }
        if (s[1] != '-')
            return ferr(f, "\"L\" must stand alone or be followed by -N or W");
        int rc = parse_uint_part(f, "L- offset", s + 2, len - 2, 0, 30, &n);
        if (rc < 0)
            return rc;
        c->dom_last |= (uint32_t)1 << n;
        return 1;
    }
    if (len >= 2 && toupper((unsigned char)s[len - 1]) == 'W') {
        int rc = parse_uint_part(f, "W day", s, len - 1, 1, 31, &n);
        if (rc < 0)
            return rc;
        c->dom_near |= (uint32_t)1 << n;
        return 1;
    }
    return 0;
}

/* Day-of-week specials: wL (last w of the month), w#k (k-th w). */
static int parse_dow_special(struct cron *c, const struct fctx *f, const char *s, size_t len)
{
    int w, k;
    const char *hash = memchr(s, '#', len);
    if (hash) {
        int rc = parse_value(f, s, (size_t)(hash - s), &w);
        if (rc == 0)
            rc = parse_uint_part(f, "# occurrence", hash + 1, len - (size_t)(hash - s) - 1, 1, 5,
                                 &k);
        if (rc < 0)
            return rc;
        c->dow_nth[w % 7] |= (uint8_t)(1u << k);
        return 1;
    }
    if (len >= 1 && toupper((unsigned char)s[len - 1]) == 'L') {
        if (len == 1)
            return ferr(f, "\"L\" needs a day before it (5L or FRIL: the last Friday)");
        int rc = parse_value(f, s, len - 1, &w);
        if (rc < 0)
            return rc;
        c->dow_last |= (uint8_t)(1u << (w % 7));
        return 1;
    }
    return 0;
}

/* One list item: *, v, a-b, each optionally /step; or a day special. */
static int parse_item(struct cron *c, const struct fctx *f, const char *s, size_t len)
{
    const struct field_info *fi = &fields[f->id];
    char b[200];
    int rc = 0;
    if (f->id == F_DOM)
        rc = parse_dom_special(c, f, s, len);
    else if (f->id == F_DOW)
        rc = parse_dow_special(c, f, s, len);
    if (rc != 0)
        return rc < 0 ? rc : 0;

    const char *slash = memchr(s, '/', len);
    size_t blen = slash ? (size_t)(slash - s) : len;
    int top = f->id == F_DOW ? 6 : fi->max; /* steps over the week stop at Saturday */
    int a, bv, step = 1;
    if (slash) {
        int span = f->id == F_DOW ? 7 : fi->max - fi->min + 1;
        rc = parse_uint_part(f, "step", slash + 1, len - blen - 1, 0, 1000000, &step);
        if (rc < 0)
            return rc;
        if (step == 0)
            return ferr(f, "step 0 must be at least 1");
        if (step > span)
            return ferr(f, "step %d out of range 1-%d", step, span);
    }
    if (blen == 1 && s[0] == '*') {
        add_range(c, f->id, fi->min, top, step);
        return 0;
    }
    size_t alen = value_len(s, blen);
    if (alen == 0)
        return ferr(f, "unexpected \"%s\"", shown(b, sizeof(b), s, len));
    rc = parse_value(f, s, alen, &a);
    if (rc < 0)
        return rc;
    if (alen == blen) { /* "a" or "a/step" (from a to the field's end) */
        if (slash)
            add_range(c, f->id, a, f->id == F_DOW && a == 7 ? 7 : top, step);
        else
            set_value(c, f->id, a);
        return 0;
    }
    if (s[alen] != '-') {
        char whole[200];
        return ferr(f, "unexpected \"%s\" in \"%s\"", shown(b, sizeof(b), s + alen, blen - alen),
                    shown(whole, sizeof(whole), s, len));
    }
    rc = parse_value(f, s + alen + 1, blen - alen - 1, &bv);
    if (rc < 0)
        return rc;
    int an = f->id == F_DOW && a == 7 ? 0 : a;
    if (an > bv && !fi->wraps)
        return ferr(f, "range %d-%d is reversed (%s ranges must ascend)", a, bv, fi->name);
    add_range(c, f->id, a, bv, step);
    return 0;
}

static int parse_field(struct cron *c, enum field_id id, int pos, const char *s, size_t len,
                       struct err *err)
{
    struct fctx f = {id, pos, err};
    bool star = s[0] == '*';
    if (len == 1 && s[0] == '?') {
        if (id != F_DOM && id != F_DOW)
            return ferr(&f, "\"?\" is only allowed in day-of-month and day-of-week");
        star = true;
        add_range(c, id, fields[id].min, id == F_DOW ? 6 : fields[id].max, 1);
    } else {
        for (size_t i = 0; i <= len;) {
            size_t j = i;
            while (j < len && s[j] != ',')
                j++;
            if (j == i)
                return ferr(&f, "has an empty list item");
            int rc = parse_item(c, &f, s + i, j - i);
            if (rc < 0)
                return rc;
            i = j + 1;
        }
    }
    if (id == F_DOM)
        c->dom_star = star;
    if (id == F_DOW)
        c->dow_star = star;
    if (star && (id == F_SEC || id == F_MIN || id == F_HOUR))
        c->periodic = true;
    return 0;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int parse_fields(struct cron *c, const char *s, struct err *err)
{
    const char *tok[8];
    size_t tlen[8];
    int n = 0;
    for (const char *p = s; *p;) {
        while (is_blank(*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && !is_blank(*p))
            p++;
        if (n < 8) {
            tok[n] = start;
            tlen[n] = (size_t)(p - start);
        }
        n++;
    }
    const enum field_id *layout = n == 5 ? layout5 : n == 6 ? layout6 : n == 7 ? layout7 : NULL;
    if (!layout)
        return err_set(err, E_INVALID, "cron: expected 5, 6 or 7 fields, got %d", n);
    for (int i = 0; i < n; i++) {
        int rc = parse_field(c, layout[i], i + 1, tok[i], tlen[i], err);
        if (rc < 0)
            return rc;
    }
    if (n == 5)
        bit_set(c->set[F_SEC], 0);
    if (n < 7) {
        add_range(c, F_YEAR, CRON_YEAR_MIN, CRON_YEAR_MAX, 1);
        c->year_any = true;
    }
    return 0;
}

/* "@every 1h30m": units d, h, m, s; whole seconds from 1s to 366d. */
static int parse_every(struct cron *c, const char *s, struct err *err)
{
    char b[200];
    while (is_blank(*s))
        s++;
    int64_t total = 0;
    const char *p = s;
    while (*p && !is_blank(*p)) {
        int64_t v = 0;
        if (!isdigit((unsigned char)*p))
            goto bad;
        while (isdigit((unsigned char)*p)) {
            v = v * 10 + (*p++ - '0');
            if (v > EVERY_MAX_S)
                goto bad;
        }
        int64_t unit = *p == 'd' ? 86400 : *p == 'h' ? 3600 : *p == 'm' ? 60 : *p == 's' ? 1 : 0;
        if (!unit)
            goto bad;
        p++;
        total += v * unit;
        if (total > EVERY_MAX_S)
            return err_set(err, E_INVALID, "cron: @every %s is longer than 366d",
                           shown(b, sizeof(b), s, strlen(s)));
    }
    while (is_blank(*p))
        p++;
    if (*p || total < 1)
        goto bad;
    c->every_s = total;
    return 0;
bad:
    return err_set(err, E_INVALID,
                   "cron: @every needs a duration like 30s, 15m, 1h30m or 1d, got \"%s\"",
                   shown(b, sizeof(b), s, strlen(s)));
}

static int parse_macro(struct cron *c, const char *s, struct err *err)
{
    char b[200];
    size_t n = 0;
    while (s[n] && !is_blank(s[n]))
        n++;
    if (str_ieq(s, n, "@every"))
        return parse_every(c, s + n, err);
    for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
        if (!str_ieq(s, n, macros[i].name))
            continue;
        for (const char *p = s + n; *p; p++)
            if (!is_blank(*p))
                return err_set(err, E_INVALID, "cron: %s takes nothing after it", macros[i].name);
        int rc = parse_fields(c, macros[i].fields, err);
        if (rc < 0) /* cannot happen: the table is ours */
            return err_set(err, E_INTERNAL, "cron: bad macro table entry %s", macros[i].name);
        return 0;
    }
    if (str_ieq(s, n, "@reboot"))
        return err_set(err, E_INVALID,
                       "cron: @reboot is not supported (schedules follow the calendar)");
    return err_set(err, E_INVALID, "cron: unknown macro %s", shown(b, sizeof(b), s, n));
}

/* ---- matching ---- */

/* The day of month of the weekday nearest day n (n's own day if a weekday; never leaves the
 * month), given the weekday of day n. */
static int nearest_weekday(int n, int wd, int dim)
{
    if (wd == 6)
        return n > 1 ? n - 1 : n + 2;
    if (wd == 0)
        return n < dim ? n + 1 : n - 2;
    return n;
}

static bool dom_matches(const struct cron *c, int d, int wd, int dim)
{
    if (bit_test(c->set[F_DOM], d - 1))
        return true;
    if (dim - d <= 30 && ((c->dom_last >> (dim - d)) & 1))
        return true;
    if (c->dom_last_weekday) {
        int wd_last = (wd + dim - d) % 7;
        if (d == (wd_last == 6 ? dim - 1 : wd_last == 0 ? dim - 2 : dim))
            return true;
    }
    for (int n = d - 2; c->dom_near && n <= d + 2; n++) {
        if (n < 1 || n > dim || !((c->dom_near >> n) & 1))
            continue;
        int wdn = ((wd + n - d) % 7 + 7) % 7;
        if (nearest_weekday(n, wdn, dim) == d)
            return true;
    }
    return false;
}

static bool dow_matches(const struct cron *c, int d, int wd, int dim)
{
    if (bit_test(c->set[F_DOW], wd))
        return true;
    if (((c->dow_last >> wd) & 1) && d + 7 > dim)
        return true;
    return (c->dow_nth[wd] >> ((d - 1) / 7 + 1)) & 1;
}

static bool day_matches(const struct cron *c, int64_t y, int m, int d)
{
    int dim = time_days_in_month(y, m);
    int wd = time_weekday(time_days_from_civil(y, m, d));
    bool dom = dom_matches(c, d, wd, dim), dow = dow_matches(c, d, wd, dim);
    return (c->dom_star || c->dow_star) ? dom && dow : dom || dow;
}

static bool year_matches(const struct cron *c, int64_t y)
{
    if (y < CRON_YEAR_MIN)
        return c->year_any;
    return y <= CRON_YEAR_MAX && bit_test(c->set[F_YEAR], (int)(y - CRON_YEAR_MIN));
}

enum search_result { SEARCH_END = -1, SEARCH_NONE = 0, SEARCH_FOUND = 1 };

/* A local civil time being searched, and carries between its units. */
struct civil {
    int64_t y;
    int mo, d, h, mi, s;
};

static void next_day(struct civil *t)
{
    t->h = t->mi = t->s = 0;
    if (++t->d > time_days_in_month(t->y, t->mo)) {
        t->d = 1;
        if (++t->mo > 12) {
            t->mo = 1;
            t->y++;
        }
    }
}

static void next_hour(struct civil *t)
{
    t->mi = t->s = 0;
    if (++t->h > 23)
        next_day(t);
}

static void next_minute(struct civil *t)
{
    t->s = 0;
    if (++t->mi > 59) {
        t->mi = 0;
        next_hour(t);
    }
}

static int64_t civil_seconds(const struct civil *t)
{
    return time_days_from_civil(t->y, t->mo, t->d) * 86400 + t->h * 3600 + t->mi * 60 + t->s;
}

/* The first local time in [lo, hi) (local "seconds since epoch") the fields match: FOUND,
 * NONE (none before hi), or END (none up to the end of CRON_YEAR_MAX). */
static enum search_result civil_search(const struct cron *c, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t days = time_floor_div(lo, 86400), sod = lo - days * 86400;
    struct civil t;
    time_civil_from_days(days, &t.y, &t.mo, &t.d);
    t.h = (int)(sod / 3600);
    t.mi = (int)(sod / 60 % 60);
    t.s = (int)(sod % 60);
    for (;;) {
        if (t.y > CRON_YEAR_MAX)
            return SEARCH_END;
        if (civil_seconds(&t) >= hi)
            return SEARCH_NONE;
        if (!year_matches(c, t.y)) {
            int from = t.y < CRON_YEAR_MIN ? 0 : (int)(t.y - CRON_YEAR_MIN);
            int ny = bit_next(c->set[F_YEAR], from, CRON_YEAR_MAX - CRON_YEAR_MIN);
            if (ny < 0)
                return SEARCH_END;
            t = (struct civil){CRON_YEAR_MIN + ny, 1, 1, 0, 0, 0};
            continue;
        }
        int mo = bit_next(c->set[F_MON], t.mo - 1, 11);
        if (mo < 0) {
            t = (struct civil){t.y + 1, 1, 1, 0, 0, 0};
            continue;
        }
        if (mo + 1 != t.mo) {
            t = (struct civil){t.y, mo + 1, 1, 0, 0, 0};
            continue;
        }
        if (!day_matches(c, t.y, t.mo, t.d)) {
            next_day(&t);
            continue;
        }
        int h = bit_next(c->set[F_HOUR], t.h, 23);
        if (h < 0) {
            next_day(&t);
            continue;
        }
        if (h != t.h) {
            t.h = h;
            t.mi = t.s = 0;
        }
        int mi = bit_next(c->set[F_MIN], t.mi, 59);
        if (mi < 0) {
            next_hour(&t);
            continue;
        }
        if (mi != t.mi) {
            t.mi = mi;
            t.s = 0;
        }
        int s = bit_next(c->set[F_SEC], t.s, 59);
        if (s < 0) {
            next_minute(&t);
            continue;
        }
        t.s = s;
        int64_t at = civil_seconds(&t);
        if (at >= hi)
            return SEARCH_NONE;
        *out = at;
        return SEARCH_FOUND;
    }
}

/* The first fire instant > after_s (UTC seconds) by the calendar fields, walking the zone's
 * offset spans (see the DST rules in cron.h). */
static bool next_calendar(const struct cron *c, int64_t after_s, int64_t *out)
{
    int64_t t = after_s + 1;
    for (;;) {
        struct tz_span sp;
        tz_span_at(c->tz, t, &sp);
        int32_t off = sp.utoff;
        int64_t local;
        /* Spring forward at t: local [t + prev, t + off) never happens. A fixed-time
         * expression matching in it fires once, at t. */
        if (sp.start == t && !c->periodic && sp.prev_utoff < off &&
            civil_search(c, t + sp.prev_utoff, t + off, &local) == SEARCH_FOUND) {
            *out = t;
            return true;
        }
        int64_t lo = t + off;
        /* Fall back at the span's start: local times up to start + prev happened already
         * (in the previous span); a fixed-time expression fired there. */
        if (!c->periodic && sp.prev_utoff > off && sp.start != INT64_MIN &&
            lo < sp.start + sp.prev_utoff)
            lo = sp.start + sp.prev_utoff;
        int64_t hi = sp.end == INT64_MAX ? INT64_MAX : sp.end + off;
        enum search_result r = lo < hi ? civil_search(c, lo, hi, &local) : SEARCH_NONE;
        if (r == SEARCH_FOUND) {
            *out = local - off;
            return true;
        }
        if (r == SEARCH_END || sp.end == INT64_MAX)
            return false;
        t = sp.end;
    }
}

/* ---- public ---- */

int cron_parse(const char *expr, const char *tz_name, struct tz_db *zones, struct cron **out,
               struct err *err)
{
    char b[200];
    if (!expr)
        return err_set(err, E_INVALID, "cron: missing expression");
    size_t len = strnlen(expr, CRON_EXPR_MAX + 1);
    if (len > CRON_EXPR_MAX)
        return err_set(err, E_INVALID, "cron: expression longer than %d bytes", CRON_EXPR_MAX);
    while (len > 0 && is_blank(expr[len - 1]))
        len--;
    while (len > 0 && is_blank(*expr)) {
        expr++;
        len--;
    }
    if (len == 0)
        return err_set(err, E_INVALID, "cron: empty expression");
    if (memchr(expr, '\0', len))
        return err_set(err, E_INVALID, "cron: expression contains a NUL byte");

    struct cron *c = xcalloc(1, sizeof(*c));
    c->expr = xstrndup(expr, len);
    int rc = c->expr[0] == '@' ? parse_macro(c, c->expr, err) : parse_fields(c, c->expr, err);
    if (rc == 0) {
        rc = tz_get(zones, tz_name, &c->tz, err);
        if (rc < 0)
            err_prefix(err, "cron");
    }
    int64_t first;
    if (rc == 0 && c->every_s == 0 && civil_search(c, 0, INT64_MAX, &first) != SEARCH_FOUND)
        rc = err_set(err, E_INVALID, "cron: \"%s\" never fires (no matching time from %d to %d)",
                     shown(b, sizeof(b), c->expr, len), CRON_YEAR_MIN, CRON_YEAR_MAX);
    if (rc < 0) {
        cron_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void cron_free(struct cron *c)
{
    if (!c)
        return;
    tz_free(c->tz);
    free(c->expr);
    free(c);
}

/* Searches start no earlier than 1900 and end with CRON_YEAR_MAX. */
static int64_t floor_s(void)
{
    return time_days_from_civil(1900, 1, 1) * 86400;
}

static int64_t horizon_s(void)
{
    return time_days_from_civil(CRON_YEAR_MAX + 1, 1, 1) * 86400;
}

int cron_next(const struct cron *c, int64_t after_ms, int64_t *next_ms, struct err *err)
{
    int64_t after_s = time_floor_div(after_ms, 1000), at = 0;
    if (after_s < floor_s())
        after_s = floor_s();
    bool found = false;
    /* Local times of the last year may lie up to a day past its end in UTC. */
    if (after_s < horizon_s() + 86400) {
        if (c->every_s > 0) {
            at = (time_floor_div(after_s, c->every_s) + 1) * c->every_s;
            found = at < horizon_s();
        } else {
            found = next_calendar(c, after_s, &at);
        }
    }
    if (!found) {
        char when[40];
        time_format_rfc3339_ms(after_ms, when, sizeof(when));
        return err_set(err, E_NOT_FOUND, "cron: \"%s\" has no fire time after %s up to %d", c->expr,
                       when, CRON_YEAR_MAX);
    }
    *next_ms = at * 1000;
    return 0;
}

size_t cron_next_n(const struct cron *c, int64_t after_ms, size_t n, int64_t *out)
{
    if (n > CRON_NEXT_N_MAX)
        n = CRON_NEXT_N_MAX;
    for (size_t i = 0; i < n; i++) {
        if (cron_next(c, after_ms, &out[i], NULL) < 0)
            return i;
        after_ms = out[i];
    }
    return n;
}

const char *cron_expr(const struct cron *c)
{
    return c->expr;
}

const char *cron_tz_name(const struct cron *c)
{
    return tz_name(c->tz);
}
