/*
 * Time zones (tz.h): a TZif reader (RFC 8536), a POSIX TZ rule evaluator for instants past
 * a zone's last transition, span lookup, and a name-keyed cache.
 *
 * Leap-second data is refused ("right/" zones count TAI-like seconds; we count POSIX
 * seconds). Designations and the std/wall and UT/local indicators are skipped: cron needs
 * only offsets.
 */
#include "queue/tz.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/vec.h"
#include "util/xalloc.h"

#define TZ_MAX_TRANSITIONS 100000
#define TZ_MAX_TYPES       256
#define TZ_MAX_OFFSET      (26 * 3600) /* RFC 8536 allows -89999..93599 */
#define TZ_FOOTER_MAX      256

/* A POSIX TZ rule date: Jn (1-365, no leap day), n (0-365) or Mm.w.d; then a local time. */
struct tz_rule_date {
    char kind; /* 'J', 'N' or 'M' */
    int n;     /* J and N */
    int month, week, wday;
    int32_t secs; /* local time of day of the change, -167h..167h */
};

struct tz_rule {
    bool present;
    bool has_dst;
    int32_t std_off, dst_off; /* seconds east of UTC */
    struct tz_rule_date start, end;
};

struct tz_ttype {
    int32_t utoff;
    bool is_dst;
};

struct tz {
    atomic_int refs;
    char *name;
    size_t ntrans;
    int64_t *trans;  /* ascending transition instants */
    uint8_t *tindex; /* the type each transition switches to */
    size_t ntypes;
    struct tz_ttype *types; /* types[0] also holds before the first transition */
    struct tz_rule rule;    /* the footer, for instants after the last transition */
};

struct tz_db {
    pthread_mutex_t mu;
    char *dir;
    VEC(struct tz *) zones;
};

/* ---- names ---- */

static bool name_char_ok(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '+' || c == '/';
}

int tz_check_name(const char *name, struct err *err)
{
    size_t len = strlen(name);
    if (len == 0 || len > TZ_NAME_MAX)
        return err_set(err, E_INVALID, "time zone name must be 1-%d characters", TZ_NAME_MAX);
    bool chars_ok = true;
    for (size_t i = 0; i < len; i++)
        chars_ok = chars_ok && name_char_ok(name[i]);
    /* The character set excludes '.', so ".", ".." and hidden files cannot occur; what is
     * left is an absolute path or an empty segment. */
    if (!chars_ok || name[0] == '/' || name[len - 1] == '/' || strstr(name, "//")) {
        struct strbuf sb = STRBUF_INIT;
        strbuf_add_json_string(&sb, name, len > 64 ? 64 : len);
        err_set(err, E_INVALID,
                "invalid time zone name %s: use an IANA name like \"Europe/Berlin\" (letters, "
                "digits, '_', '-', '+', '/' separated segments)",
                sb.buf);
        strbuf_release(&sb);
        return -E_INVALID;
    }
    return 0;
}

/* ---- TZif ---- */

struct reader {
    const uint8_t *p;
    size_t len, pos;
};

static bool rd_has(const struct reader *r, size_t n)
{
    return r->len - r->pos >= n;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_header {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static int read_header(struct reader *r, const char *name, struct tzif_header *h, struct err *err)
{
    if (!rd_has(r, 44) || memcmp(r->p + r->pos, "TZif", 4) != 0)
        return err_set(err, E_INVALID, "\"%s\" is not a time zone (not a TZif file)", name);
    const uint8_t *p = r->p + r->pos;
    h->version = (char)p[4];
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    r->pos += 44;
    if (h->timecnt > TZ_MAX_TRANSITIONS || h->typecnt == 0 || h->typecnt > TZ_MAX_TYPES ||
        h->charcnt > 65536 || h->isutcnt > h->typecnt || h->isstdcnt > h->typecnt)
        return err_set(err, E_INVALID, "time zone \"%s\": TZif header counts out of range", name);
    if (h->leapcnt > 0)
        return err_set(err, E_INVALID,
                       "time zone \"%s\" counts leap seconds; use the zone without \"right/\"",
                       name);
    return 0;
}

/* Size of a data block with time values of tsize bytes (4 in v1, 8 in v2+). */
static size_t block_size(const struct tzif_header *h, size_t tsize)
{
    return (size_t)h->timecnt * (tsize + 1) + (size_t)h->typecnt * 6 + h->charcnt +
           (size_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

static int read_block(struct reader *r, const char *name, const struct tzif_header *h, size_t tsize,
                      struct tz *z, struct err *err)
{
    if (!rd_has(r, block_size(h, tsize)))
        return err_set(err, E_INVALID, "time zone \"%s\": TZif data is truncated", name);
    const uint8_t *p = r->p + r->pos;
    z->ntrans = h->timecnt;
    z->trans = xcalloc(z->ntrans, sizeof(*z->trans));
    z->tindex = xcalloc(z->ntrans, 1);
    for (size_t i = 0; i < z->ntrans; i++) {
        z->trans[i] = tsize == 8 ? be64(p + i * 8) : (int64_t)(int32_t)be32(p + i * 4);
        if (i > 0 && z->trans[i] <= z->trans[i - 1])
            return err_set(err, E_INVALID, "time zone \"%s\": transitions out of order", name);
    }
    p += z->ntrans * tsize;
    for (size_t i = 0; i < z->ntrans; i++) {
        z->tindex[i] = p[i];
        if (p[i] >= h->typecnt)
            return err_set(err, E_INVALID, "time zone \"%s\": bad local time type index", name);
    }
    p += z->ntrans;
    z->ntypes = h->typecnt;
    z->types = xcalloc(z->ntypes, sizeof(*z->types));
    for (size_t i = 0; i < z->ntypes; i++, p += 6) {
        int32_t off = (int32_t)be32(p);
        if (off < -TZ_MAX_OFFSET || off > TZ_MAX_OFFSET || p[4] > 1)
            return err_set(err, E_INVALID, "time zone \"%s\": bad local time type", name);
        z->types[i] = (struct tz_ttype){off, p[4] == 1};
    }
    r->pos += block_size(h, tsize);
    return 0;
}

/* ---- POSIX TZ strings (RFC 8536 section 3.3) ---- */

static bool parse_abbr(const char **s)
{
    const char *p = *s;
    size_t n = 0;
    if (*p == '<') {
        p++;
        while (isalnum((unsigned char)p[n]) || p[n] == '+' || p[n] == '-')
            n++;
        if (p[n] != '>' || n < 3)
            return false;
        *s = p + n + 1;
        return true;
    }
    while (isalpha((unsigned char)p[n]))
        n++;
    if (n < 3)
        return false;
    *s = p + n;
    return true;
}

static bool parse_uint(const char **s, int max_digits, int *out)
{
    int v = 0, n = 0;
    while (isdigit((unsigned char)**s) && n < max_digits) {
        v = v * 10 + (**s - '0');
        (*s)++;
        n++;
    }
    *out = v;
    return n > 0 && !isdigit((unsigned char)**s);
}

/* [+-]hh[:mm[:ss]] with hh <= max_hours; returns seconds (signed). */
static bool parse_hms(const char **s, int max_hours, int32_t *out)
{
    int sign = 1, h, m = 0, sec = 0;
    if (**s == '+' || **s == '-') {
        sign = **s == '-' ? -1 : 1;
        (*s)++;
    }
    if (!parse_uint(s, 3, &h) || h > max_hours)
        return false;
    if (**s == ':') {
        (*s)++;
        if (!parse_uint(s, 2, &m) || m > 59)
            return false;
        if (**s == ':') {
            (*s)++;
            if (!parse_uint(s, 2, &sec) || sec > 59)
                return false;
        }
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return true;
}

static bool parse_rule_date(const char **s, struct tz_rule_date *d)
{
    d->secs = 2 * 3600;
    if (**s == 'J') {
        (*s)++;
        d->kind = 'J';
        if (!parse_uint(s, 3, &d->n) || d->n < 1 || d->n > 365)
            return false;
    } else if (**s == 'M') {
        (*s)++;
        d->kind = 'M';
        if (!parse_uint(s, 2, &d->month) || d->month < 1 || d->month > 12 || *(*s)++ != '.' ||
            !parse_uint(s, 1, &d->week) || d->week < 1 || d->week > 5 || *(*s)++ != '.' ||
            !parse_uint(s, 1, &d->wday) || d->wday > 6)
            return false;
    } else {
        d->kind = 'N';
        if (!parse_uint(s, 3, &d->n) || d->n > 365)
            return false;
    }
    if (**s == '/') {
        (*s)++;
        if (!parse_hms(s, 167, &d->secs))
            return false;
    }
    return true;
}

static bool parse_posix_tz(const char *s, struct tz_rule *r)
{
    int32_t off;
    memset(r, 0, sizeof(*r));
    if (!parse_abbr(&s) || !parse_hms(&s, 24, &off))
        return false;
    r->std_off = -off; /* POSIX offsets count hours west of Greenwich */
    r->dst_off = r->std_off;
    r->present = true;
    if (*s == '\0')
        return true;
    if (!parse_abbr(&s))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s && *s != ',') {
        if (!parse_hms(&s, 24, &off))
            return false;
        r->dst_off = -off;
    }
    if (*s == '\0') {
        /* No rule: what glibc assumes, the US rules since 2007. zic always writes one. */
        r->start = (struct tz_rule_date){'M', 0, 3, 2, 0, 7200};
        r->end = (struct tz_rule_date){'M', 0, 11, 1, 0, 7200};
        return true;
    }
    if (*s++ != ',' || !parse_rule_date(&s, &r->start) || *s++ != ',' ||
        !parse_rule_date(&s, &r->end))
        return false;
    return *s == '\0';
}

static int read_footer(struct reader *r, const char *name, struct tz *z, struct err *err)
{
    if (!rd_has(r, 1) || r->p[r->pos] != '\n')
        return err_set(err, E_INVALID, "time zone \"%s\": missing TZ string footer", name);
    const char *start = (const char *)r->p + r->pos + 1;
    size_t avail = r->len - r->pos - 1;
    const char *nl = memchr(start, '\n', avail < TZ_FOOTER_MAX ? avail : TZ_FOOTER_MAX);
    if (!nl)
        return err_set(err, E_INVALID, "time zone \"%s\": unterminated TZ string footer", name);
    char buf[TZ_FOOTER_MAX];
    size_t n = (size_t)(nl - start);
    memcpy(buf, start, n);
    buf[n] = '\0';
    if (n > 0 && (memchr(buf, '\0', n) || !parse_posix_tz(buf, &z->rule)))
        return err_set(err, E_INVALID, "time zone \"%s\": bad TZ string footer \"%s\"", name,
                       memchr(buf, '\0', n) ? "" : buf);
    if (z->rule.present && (z->rule.std_off < -TZ_MAX_OFFSET || z->rule.std_off > TZ_MAX_OFFSET ||
                            z->rule.dst_off < -TZ_MAX_OFFSET || z->rule.dst_off > TZ_MAX_OFFSET))
        return err_set(err, E_INVALID, "time zone \"%s\": TZ string offset out of range", name);
    return 0;
}

static struct tz *tz_alloc(const char *name)
{
    struct tz *z = xcalloc(1, sizeof(*z));
    atomic_init(&z->refs, 1);
    z->name = xstrdup(name);
    return z;
}

int tz_parse(const char *name, const void *data, size_t len, struct tz **out, struct err *err)
{
    struct reader r = {data, len, 0};
    struct tzif_header h;
    struct tz *z = tz_alloc(name);
    int rc = read_header(&r, name, &h, err);
    if (rc < 0)
        goto out;
    if (h.version == '\0') {
        rc = read_block(&r, name, &h, 4, z, err);
        goto out;
    }
    /* v2+: skip the 32-bit block, read the 64-bit one and the footer. */
    if (!rd_has(&r, block_size(&h, 4))) {
        rc = err_set(err, E_INVALID, "time zone \"%s\": TZif data is truncated", name);
        goto out;
    }
    r.pos += block_size(&h, 4);
    rc = read_header(&r, name, &h, err);
    if (rc == 0)
        rc = read_block(&r, name, &h, 8, z, err);
    if (rc == 0)
        rc = read_footer(&r, name, z, err);
out:
    if (rc < 0) {
        tz_free(z);
        return rc;
    }
    *out = z;
    return 0;
}

static struct tz *tz_utc(void)
{
    struct tz *z = tz_alloc("UTC");
    z->ntypes = 1;
    z->types = xcalloc(1, sizeof(*z->types));
    return z;
}

struct tz *tz_dup(struct tz *z)
{
    if (z)
        atomic_fetch_add_explicit(&z->refs, 1, memory_order_relaxed);
    return z;
}

void tz_free(struct tz *z)
{
    if (!z || atomic_fetch_sub_explicit(&z->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(z->name);
    free(z->trans);
    free(z->tindex);
    free(z->types);
    free(z);
}

const char *tz_name(const struct tz *z)
{
    return z->name;
}

/* ---- spans ---- */

#define T_MIN INT64_MIN
#define T_MAX INT64_MAX

/* The instant (UTC) a rule date happens in year y, given the offset in force before it. */
static int64_t rule_instant(const struct tz_rule_date *d, int64_t y, int32_t before_off)
{
    int64_t days;
    if (d->kind == 'J') {
        days = time_days_from_civil(y, 1, 1) + d->n - 1 + (time_is_leap_year(y) && d->n >= 60);
    } else if (d->kind == 'N') {
        days = time_days_from_civil(y, 1, 1) + d->n;
    } else if (d->week == 5) {
        int64_t last = time_days_from_civil(y, d->month, time_days_in_month(y, d->month));
        days = last - (time_weekday(last) - d->wday + 7) % 7;
    } else {
        int64_t first = time_days_from_civil(y, d->month, 1);
        days = first + (d->wday - time_weekday(first) + 7) % 7 + (int64_t)(d->week - 1) * 7;
    }
    return days * 86400 + d->secs - before_off;
}

struct rule_change {
    int64_t at;
    int32_t off;
    bool dst;
};

static void rule_span(const struct tz_rule *r, int64_t t, struct tz_span *s)
{
    if (!r->has_dst) {
        *s = (struct tz_span){T_MIN, T_MAX, r->std_off, r->std_off, false};
        return;
    }
    /* The changes of the years around t, sorted (stable: equal instants keep year order, so
     * the later change wins), then the one at or before t. */
    /* Far outside any calendar of interest (beyond a million years): standard time. */
    const int64_t lim = (int64_t)1 << 45;
    if (t < -lim || t > lim) {
        *s = (struct tz_span){T_MIN, T_MAX, r->std_off, r->std_off, false};
        return;
    }
    int64_t tc = t, y;
    int mo, dd;
    time_civil_from_days(time_floor_div(tc, 86400), &y, &mo, &dd);
    struct rule_change ch[10];
    size_t n = 0;
    for (int64_t yy = y - 2; yy <= y + 2; yy++) {
        struct rule_change add[2] = {
            {rule_instant(&r->start, yy, r->std_off), r->dst_off, true},
            {rule_instant(&r->end, yy, r->dst_off), r->std_off, false},
        };
        for (int k = 0; k < 2; k++) {
            size_t j = n++;
            while (j > 0 && ch[j - 1].at > add[k].at) {
                ch[j] = ch[j - 1];
                j--;
            }
            ch[j] = add[k];
        }
    }
    /* Drop changes superseded by a later one at the same instant. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && ch[m - 1].at == ch[i].at)
            m--;
        ch[m++] = ch[i];
    }
    size_t i = 0;
    while (i < m && ch[i].at <= tc)
        i++;
    if (i == 0) {
        int32_t before = ch[0].dst ? r->std_off : r->dst_off;
        *s = (struct tz_span){T_MIN, ch[0].at, before, before, !ch[0].dst};
        return;
    }
    const struct rule_change *c = &ch[i - 1];
    int32_t prev = i >= 2 ? ch[i - 2].off : (c->dst ? r->std_off : r->dst_off);
    *s = (struct tz_span){c->at, i < m ? ch[i].at : T_MAX, c->off, prev, c->dst};
}

void tz_span_at(const struct tz *z, int64_t t, struct tz_span *s)
{
    if (z->ntrans == 0) {
        if (z->rule.present) {
            rule_span(&z->rule, t, s);
            return;
        }
        *s = (struct tz_span){T_MIN, T_MAX, z->types[0].utoff, z->types[0].utoff,
                              z->types[0].is_dst};
        return;
    }
    if (t < z->trans[0]) {
        *s = (struct tz_span){T_MIN, z->trans[0], z->types[0].utoff, z->types[0].utoff,
                              z->types[0].is_dst};
        return;
    }
    size_t lo = 0, hi = z->ntrans; /* find the last transition <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    const struct tz_ttype *cur = &z->types[z->tindex[lo]];
    int32_t prev = lo > 0 ? z->types[z->tindex[lo - 1]].utoff : z->types[0].utoff;
    if (lo + 1 < z->ntrans || !z->rule.present) {
        *s = (struct tz_span){z->trans[lo], lo + 1 < z->ntrans ? z->trans[lo + 1] : T_MAX,
                              cur->utoff, prev, cur->is_dst};
        return;
    }
    rule_span(&z->rule, t, s);
    if (s->start <= z->trans[lo]) {
        s->start = z->trans[lo];
        s->prev_utoff = prev;
    }
}

int32_t tz_offset_at(const struct tz *z, int64_t t)
{
    struct tz_span s;
    tz_span_at(z, t, &s);
    return s.utoff;
}

/* ---- loading and the cache ---- */

static bool is_utc_name(const char *name)
{
    return !name || !*name || strcmp(name, "UTC") == 0;
}

static int load_zone(const char *dir, const char *name, struct tz **out, struct err *err)
{
    char *path = fs_path_join(dir, name), *data = NULL;
    size_t len = 0;
    int rc = fs_is_file(path) ? fs_read_file(path, TZ_FILE_MAX, &data, &len, NULL) : -E_NOT_FOUND;
    if (rc < 0)
        rc = err_set(err, E_INVALID, "unknown time zone \"%s\"", name);
    else
        rc = tz_parse(name, data, len, out, err);
    free(path);
    free(data);
    return rc;
}

int tz_get(struct tz_db *db, const char *name, struct tz **out, struct err *err)
{
    if (is_utc_name(name)) {
        *out = tz_utc();
        return 0;
    }
    int rc = tz_check_name(name, err);
    if (rc < 0)
        return rc;
    if (!db)
        return load_zone(TZ_DEFAULT_DIR, name, out, err);
    pthread_mutex_lock(&db->mu);
    for (size_t i = 0; i < db->zones.n; i++)
        if (strcmp(db->zones.v[i]->name, name) == 0) {
            *out = tz_dup(db->zones.v[i]);
            goto out;
        }
    rc = load_zone(db->dir, name, out, err);
    if (rc == 0)
        vec_push(&db->zones, tz_dup(*out));
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

struct tz_db *tz_db_new(const char *dir)
{
    struct tz_db *db = xcalloc(1, sizeof(*db));
    pthread_mutex_init(&db->mu, NULL);
    db->dir = xstrdup(dir ? dir : TZ_DEFAULT_DIR);
    return db;
}

void tz_db_free(struct tz_db *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->zones.n; i++)
        tz_free(db->zones.v[i]);
    vec_free(&db->zones);
    pthread_mutex_destroy(&db->mu);
    free(db->dir);
    free(db);
}
