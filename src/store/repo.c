/*
 * The generic repository: create, get, update, upsert, delete and list for every entity,
 * built from the column tables of schema.c. Values from callers are converted by the
 * column's type into bound parameters (never spliced into SQL); field names only ever come
 * from the tables, so a filter or sort on anything else is refused with a message naming it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/internal.h"
#include "util/err.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/uuid.h"
#include "util/xalloc.h"

#define IN_MAX 1000 /* values in one IN filter */

/* ---- values ---- */

enum qv_type { QV_NULL, QV_INT, QV_REAL, QV_TEXT };

struct qval {
    enum qv_type t;
    int64_t i;
    double d;
    const char *s; /* NUL-terminated at len */
    size_t len;
    char *owned; /* what s points into, when we made it */
};

struct sqlbuild {
    struct strbuf sql;
    VEC(struct qval) params;
};

static void qb_init(struct sqlbuild *b)
{
    strbuf_init(&b->sql, 0);
    memset(&b->params, 0, sizeof(b->params));
}

static void qb_release(struct sqlbuild *b)
{
    for (size_t i = 0; i < b->params.n; i++)
        free(b->params.v[i].owned);
    vec_free(&b->params);
    strbuf_release(&b->sql);
}

/* Appends "?" to the SQL and v to the parameters (taking v's ownership). */
static void qb_param(struct sqlbuild *b, struct qval v)
{
    strbuf_addch(&b->sql, '?');
    vec_push(&b->params, v);
}

static void qb_bind(struct dbstmt *s, const struct sqlbuild *b)
{
    for (size_t i = 0; i < b->params.n; i++) {
        const struct qval *v = &b->params.v[i];
        switch (v->t) {
        case QV_NULL:
            db_bind_null(s);
            break;
        case QV_INT:
            db_bind_int(s, v->i);
            break;
        case QV_REAL:
            db_bind_real(s, v->d);
            break;
        case QV_TEXT:
            db_bind_text(s, v->s, v->len);
            break;
        }
    }
}

static struct qval qv_int(int64_t i)
{
    return (struct qval){.t = QV_INT, .i = i};
}

static struct qval qv_owned(char *s)
{
    return (struct qval){.t = QV_TEXT, .s = s, .len = strlen(s), .owned = s};
}

static struct qval qv_text(const char *s, size_t len)
{
    return (struct qval){.t = QV_TEXT, .s = s, .len = len};
}

static bool parse_i64(const char *s, int64_t *out)
{
    char *end = NULL;
    if (!*s)
        return false;
    long long v = strtoll(s, &end, 10);
    if (*end)
        return false;
    *out = v;
    return true;
}

static const char *match_value(const char *const *values, const char *s)
{
    for (size_t i = 0; values[i]; i++)
        if (strcasecmp(values[i], s) == 0)
            return values[i];
    return NULL;
}

static void list_values(struct strbuf *sb, const char *const *values, bool upper)
{
    for (size_t i = 0; values[i]; i++) {
        strbuf_adds(sb, i ? ", " : "");
        for (const char *p = values[i]; *p; p++)
            strbuf_addch(sb, upper ? toupper((unsigned char)*p) : *p);
    }
}

/*
 * Converts v to column c's stored form. lenient (filters) also takes numbers, booleans and
 * times written as strings, as query strings carry them. what names the value in messages.
 */
static int to_qval(const struct column *c, const json_t *v, bool lenient, const char *what,
                   struct qval *out, struct err *err)
{
    const char *name = c->f.name;
    *out = (struct qval){.t = QV_NULL};
    if (json_is_null(v)) {
        if (c->f.type == STORE_JSON && !lenient)
            *out = qv_text("null", 4);
        return 0;
    }
    const char *str = json_string_value(v);
    switch (c->f.type) {
    case STORE_INT:
    case STORE_TIME: {
        int64_t i = 0;
        if (json_is_integer(v)) {
            *out = qv_int(json_integer_value(v));
            return 0;
        }
        if (str && c->f.type == STORE_TIME && time_parse_rfc3339(str, &i) == 0) {
            *out = qv_int(i);
            return 0;
        }
        if (str && lenient && parse_i64(str, &i)) {
            *out = qv_int(i);
            return 0;
        }
        return err_set(err, E_INVALID, "%s \"%s\" must be %s", what, name,
                       c->f.type == STORE_TIME ? "an RFC 3339 time or milliseconds" : "an integer");
    }
    case STORE_REAL: {
        double d = 0;
        if (jsonx_number(v, &d) || (str && lenient && sscanf(str, "%lf", &d) == 1)) {
            *out = (struct qval){.t = QV_REAL, .d = d};
            return 0;
        }
        return err_set(err, E_INVALID, "%s \"%s\" must be a number", what, name);
    }
    case STORE_BOOL:
        if (json_is_boolean(v)) {
            *out = qv_int(json_is_true(v));
            return 0;
        }
        if (str && lenient && (!strcasecmp(str, "true") || !strcmp(str, "1"))) {
            *out = qv_int(1);
            return 0;
        }
        if (str && lenient && (!strcasecmp(str, "false") || !strcmp(str, "0"))) {
            *out = qv_int(0);
            return 0;
        }
        return err_set(err, E_INVALID, "%s \"%s\" must be true or false", what, name);
    case STORE_PRIORITY: {
        int p = 0;
        if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 4) {
            *out = qv_int(json_integer_value(v));
            return 0;
        }
        if (str && store_priority_parse(str, &p) == 0) {
            *out = qv_int(p);
            return 0;
        }
        return err_set(err, E_INVALID, "%s \"%s\" must be LOW, NORMAL, HIGH or CRITICAL", what,
                       name);
    }
    case STORE_JSON:
        if (lenient && str) {
            *out = qv_text(str, json_string_length(v));
            return 0;
        }
        *out = qv_owned(jsonx_dumps(v));
        return 0;
    case STORE_ENUM:
    case STORE_TEXT:
        break;
    }
    if (!str && lenient && (json_is_number(v) || json_is_boolean(v))) {
        char *t = jsonx_dumps(v);
        *out = qv_owned(t);
        str = t;
    } else if (!str) {
        return err_set(err, E_INVALID, "%s \"%s\" must be a string, not %s", what, name,
                       jsonx_type_name(v));
    } else {
        if (strlen(str) != json_string_length(v))
            return err_set(err, E_INVALID, "%s \"%s\" must not contain NUL characters", what, name);
        *out = qv_text(str, json_string_length(v));
    }
    if (c->f.values) {
        const char *known = match_value(c->f.values, str);
        int rc = 0;
        if (!known) {
            struct strbuf sb = STRBUF_INIT;
            list_values(&sb, c->f.values, c->f.type == STORE_ENUM);
            rc = err_set(err, E_INVALID, "%s \"%s\" must be one of %s, not \"%.100s\"", what, name,
                         sb.buf, str);
            strbuf_release(&sb);
        }
        free(out->owned);
        *out = known ? qv_text(known, strlen(known)) : (struct qval){.t = QV_NULL};
        if (rc < 0)
            return rc;
    } else if (c->f.flags & C_UUID) {
        char *low = xstrdup(str);
        for (char *p = low; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        free(out->owned);
        *out = qv_owned(low);
    }
    return 0;
}

/* Builds "%value%" for LIKE, lower-cased, with % _ \ escaped. */
static struct qval like_pattern(const char *s)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_addch(&sb, '%');
    for (const char *p = s; *p; p++) {
        if (*p == '%' || *p == '_' || *p == '\\')
            strbuf_addch(&sb, '\\');
        strbuf_addch(&sb, tolower((unsigned char)*p));
    }
    strbuf_addch(&sb, '%');
    return qv_owned(strbuf_detach(&sb, NULL));
}

/* ---- WHERE, ORDER BY, LIMIT ---- */

static void column_expr(const struct entity *en, const struct column *c, struct strbuf *sb)
{
    if (c->f.flags & C_EXPR)
        strbuf_addf(sb, "(%s)", c->sql);
    else
        strbuf_addf(sb, "%s.%s", en->table, c->sql);
}

static int unknown_field(const struct entity *en, const char *field, unsigned flag, const char *use,
                         struct err *err)
{
    struct strbuf sb = STRBUF_INIT;
    for (size_t i = 0; i < en->ncols; i++) {
        if (!(en->cols[i].f.flags & flag))
            continue;
        strbuf_adds(&sb, sb.len ? ", " : "");
        strbuf_adds(&sb, en->cols[i].f.name);
    }
    int rc = err_set(err, E_INVALID, "cannot %s %ss by \"%.100s\"; use one of: %s", use, en->name,
                     field ? field : "(null)", sb.buf);
    strbuf_release(&sb);
    return rc;
}

static const char *const op_sql[] = {
    [STORE_EQ] = " = ",   [STORE_NE] = " <> ", [STORE_GT] = " > ",
    [STORE_GTE] = " >= ", [STORE_LT] = " < ",  [STORE_LTE] = " <= ",
};

static int add_filter(const struct entity *en, const struct store_filter *f, struct sqlbuild *b,
                      struct err *err)
{
    const struct column *c = entity_column(en, f->field);
    if (!c || !(c->f.flags & STORE_F_FILTER))
        return unknown_field(en, f->field, STORE_F_FILTER, "filter", err);
    struct strbuf *sql = &b->sql;
    struct qval v;
    int rc = 0;
    switch (f->op) {
    case STORE_EQ:
    case STORE_NE:
        column_expr(en, c, sql);
        if (!f->value || json_is_null(f->value)) {
            strbuf_adds(sql, f->op == STORE_EQ ? " IS NULL" : " IS NOT NULL");
            return 0;
        }
        rc = to_qval(c, f->value, true, "filter", &v, err);
        if (rc < 0)
            return rc;
        if (f->op == STORE_NE) {
            /* "not equal" includes rows without a value */
            strbuf_adds(sql, " IS NULL OR ");
            column_expr(en, c, sql);
        }
        strbuf_adds(sql, op_sql[f->op]);
        qb_param(b, v);
        return 0;
    case STORE_GT:
    case STORE_GTE:
    case STORE_LT:
    case STORE_LTE:
        if (c->f.type == STORE_JSON || c->f.type == STORE_BOOL)
            return err_set(err, E_INVALID, "filter \"%s\" cannot be compared by order", c->f.name);
        if (!f->value || json_is_null(f->value))
            return err_set(err, E_INVALID, "filter \"%s\" needs a value to compare with",
                           c->f.name);
        rc = to_qval(c, f->value, true, "filter", &v, err);
        if (rc < 0)
            return rc;
        column_expr(en, c, sql);
        strbuf_adds(sql, op_sql[f->op]);
        qb_param(b, v);
        return 0;
    case STORE_LIKE: {
        const char *s = json_string_value(f->value);
        if (c->f.type != STORE_TEXT && c->f.type != STORE_ENUM && c->f.type != STORE_JSON)
            return err_set(err, E_INVALID, "filter \"%s\" does not support _like (not text)",
                           c->f.name);
        if (!s)
            return err_set(err, E_INVALID, "filter \"%s_like\" needs a string", c->f.name);
        strbuf_adds(sql, "lower(");
        column_expr(en, c, sql);
        strbuf_adds(sql, ") LIKE ");
        qb_param(b, like_pattern(s));
        strbuf_adds(sql, " ESCAPE '\\'");
        return 0;
    }
    case STORE_IN: {
        size_t n = json_is_array(f->value) ? json_array_size(f->value) : 1;
        if (!f->value || json_is_null(f->value) || json_is_object(f->value))
            return err_set(err, E_INVALID, "filter \"%s_in\" needs a list of values", c->f.name);
        if (n > IN_MAX)
            return err_set(err, E_INVALID, "filter \"%s_in\" has %zu values; the limit is %d",
                           c->f.name, n, IN_MAX);
        if (n == 0) {
            strbuf_adds(sql, "1 = 0");
            return 0;
        }
        column_expr(en, c, sql);
        strbuf_adds(sql, " IN (");
        for (size_t i = 0; i < n; i++) {
            const json_t *item = json_is_array(f->value) ? json_array_get(f->value, i) : f->value;
            if (json_is_null(item))
                return err_set(err, E_INVALID, "filter \"%s_in\" cannot contain null", c->f.name);
            rc = to_qval(c, item, true, "filter", &v, err);
            if (rc < 0)
                return rc;
            strbuf_adds(sql, i ? ", " : "");
            qb_param(b, v);
        }
        strbuf_addch(sql, ')');
        return 0;
    }
    }
    return err_set(err, E_INVALID, "unknown filter operator %d", (int)f->op);
}

static int add_where(const struct entity *en, const struct store_query *q, struct sqlbuild *b,
                     struct err *err)
{
    if (!q)
        return 0;
    bool first = true;
    for (size_t i = 0; i < q->nfilters; i++) {
        strbuf_adds(&b->sql, first ? " WHERE (" : " AND (");
        first = false;
        int rc = add_filter(en, &q->filters[i], b, err);
        if (rc < 0)
            return rc;
        strbuf_addch(&b->sql, ')');
    }
    if (q->q && *q->q) {
        if (strlen(q->q) > 1000)
            return err_set(err, E_INVALID, "the search text q is longer than 1000 bytes");
        bool any = false;
        for (size_t i = 0; i < en->ncols; i++) {
            const struct column *c = &en->cols[i];
            if (!(c->f.flags & STORE_F_SEARCH))
                continue;
            strbuf_adds(&b->sql, any ? " OR " : (first ? " WHERE (" : " AND ("));
            any = true;
            strbuf_adds(&b->sql, "lower(");
            column_expr(en, c, &b->sql);
            strbuf_adds(&b->sql, ") LIKE ");
            qb_param(b, like_pattern(q->q));
            strbuf_adds(&b->sql, " ESCAPE '\\'");
        }
        if (!any)
            return err_set(err, E_INVALID, "%ss cannot be searched with q", en->name);
        strbuf_addch(&b->sql, ')');
    }
    return 0;
}

static int add_order_limit(const struct entity *en, const struct store_query *q,
                           const struct store_backend *be, struct sqlbuild *b, struct err *err)
{
    strbuf_adds(&b->sql, " ORDER BY ");
    bool by_tiebreak = false;
    for (size_t i = 0; q && i < q->nsorts; i++) {
        const struct column *c = entity_column(en, q->sorts[i].field);
        if (!c || !(c->f.flags & STORE_F_SORT))
            return unknown_field(en, q->sorts[i].field, STORE_F_SORT, "sort", err);
        column_expr(en, c, &b->sql);
        /* NULLs sort as if larger than every value, on both backends */
        strbuf_adds(&b->sql, q->sorts[i].desc ? " DESC NULLS FIRST, " : " ASC NULLS LAST, ");
        by_tiebreak = by_tiebreak || strcmp(c->sql, en->order) == 0;
    }
    if (by_tiebreak)
        strbuf_setlen(&b->sql, b->sql.len - 2);
    else
        strbuf_adds(&b->sql, en->order);
    int64_t offset = q ? q->offset : 0, limit = q ? q->limit : 0;
    if (offset < 0 || limit < 0)
        return err_set(err, E_INVALID, "offset and limit must not be negative");
    if (limit > 0) {
        strbuf_adds(&b->sql, " LIMIT ");
        qb_param(b, qv_int(limit));
    } else if (offset > 0) {
        strbuf_addf(&b->sql, " LIMIT %s", be->limit_all);
    }
    if (offset > 0) {
        strbuf_adds(&b->sql, " OFFSET ");
        qb_param(b, qv_int(offset));
    }
    return 0;
}

/* Runs b; for each row calls row_cb (which may be NULL). */
static int run_build(struct db *db, struct sqlbuild *b, int (*row_cb)(struct dbstmt *s, void *arg),
                     void *arg, struct err *err)
{
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, b->sql.buf, &s, err);
    if (rc < 0)
        return rc;
    qb_bind(s, b);
    while ((rc = db_step(s, err)) == DB_ROW) {
        if (row_cb && (rc = row_cb(s, arg)) < 0)
            break;
    }
    db_done(s);
    return rc < 0 ? rc : 0;
}

/* ---- list, count_by, average ---- */

struct list_arg {
    const struct entity *en;
    const struct store_query *q;
    json_t *rows; /* NULL: count only */
    int64_t total;
    bool want_rows;
};

static int add_row_cb(struct dbstmt *s, void *arg)
{
    struct list_arg *a = arg;
    json_array_append_new(a->rows, entity_row(a->en, s, 0));
    return 0;
}

static int count_cb(struct dbstmt *s, void *arg)
{
    *(int64_t *)arg = db_col_int(s, 0);
    return 0;
}

static int list_fn(struct db *db, void *arg, struct err *err)
{
    struct list_arg *a = arg;
    const struct entity *en = a->en;
    json_decref(a->rows);
    a->rows = NULL;
    a->total = 0;
    struct sqlbuild b;
    qb_init(&b);
    strbuf_addf(&b.sql, "SELECT COUNT(*) FROM %s", en->table);
    int rc = add_where(en, a->q, &b, err);
    if (rc == 0)
        rc = run_build(db, &b, count_cb, &a->total, err);
    qb_release(&b);
    if (rc < 0)
        return rc;
    qb_init(&b);
    strbuf_adds(&b.sql, "SELECT ");
    entity_select_list(en, &b.sql);
    strbuf_addf(&b.sql, " FROM %s", en->table);
    rc = add_where(en, a->q, &b, err);
    if (rc == 0)
        rc = add_order_limit(en, a->q, db->st->be, &b, err);
    a->rows = json_array();
    if (rc == 0 && a->want_rows) /* counting only still checks the sort fields */
        rc = run_build(db, &b, add_row_cb, a, err);
    qb_release(&b);
    return rc;
}

static int check_entity(enum store_entity e, struct err *err)
{
    if ((unsigned)e >= STORE_ENTITY__COUNT)
        return err_set(err, E_INTERNAL, "no entity %d", (int)e);
    return 0;
}

int store_list(struct store *st, enum store_entity e, const struct store_query *q, json_t **rows,
               int64_t *total, struct err *err)
{
    if (rows)
        *rows = NULL;
    int rc = check_entity(e, err);
    if (rc < 0)
        return rc;
    struct list_arg a = {.en = store_entity(e), .q = q, .want_rows = rows != NULL};
    rc = store_tx(st, TX_READ, list_fn, &a, err);
    if (rc < 0) {
        json_decref(a.rows);
        return rc;
    }
    if (rows)
        *rows = a.rows;
    else
        json_decref(a.rows);
    if (total)
        *total = a.total;
    return 0;
}

struct group_arg {
    const struct entity *en;
    const struct column *c;
    const struct store_query *q;
    json_t *out;
    double avg;
    bool has;
};

static int group_cb(struct dbstmt *s, void *arg)
{
    struct group_arg *a = arg;
    json_t *v = column_json(a->c, s, 0);
    char *key = json_is_string(v) ? xstrdup(json_string_value(v)) : jsonx_dumps(v);
    json_object_set_new(a->out, key, json_integer(db_col_int(s, 1)));
    free(key);
    json_decref(v);
    return 0;
}

static int group_fn(struct db *db, void *arg, struct err *err)
{
    struct group_arg *a = arg;
    json_decref(a->out);
    a->out = json_object();
    struct sqlbuild b;
    qb_init(&b);
    strbuf_adds(&b.sql, "SELECT ");
    column_expr(a->en, a->c, &b.sql);
    strbuf_addf(&b.sql, ", COUNT(*) FROM %s", a->en->table);
    int rc = add_where(a->en, a->q, &b, err);
    strbuf_adds(&b.sql, " GROUP BY ");
    column_expr(a->en, a->c, &b.sql);
    if (rc == 0)
        rc = run_build(db, &b, group_cb, a, err);
    qb_release(&b);
    return rc;
}

int store_count_by(struct store *st, enum store_entity e, const char *field,
                   const struct store_query *q, json_t **out, struct err *err)
{
    *out = NULL;
    int rc = check_entity(e, err);
    if (rc < 0)
        return rc;
    struct group_arg a = {.en = store_entity(e), .q = q};
    a.c = entity_column(a.en, field);
    if (!a.c || !(a.c->f.flags & STORE_F_FILTER))
        return unknown_field(a.en, field, STORE_F_FILTER, "count", err);
    rc = store_tx(st, TX_READ, group_fn, &a, err);
    if (rc < 0) {
        json_decref(a.out);
        return rc;
    }
    *out = a.out;
    return 0;
}

static int avg_cb(struct dbstmt *s, void *arg)
{
    struct group_arg *a = arg;
    a->has = !db_col_null(s, 0);
    a->avg = a->has ? db_col_real(s, 0) : 0;
    return 0;
}

static int avg_fn(struct db *db, void *arg, struct err *err)
{
    struct group_arg *a = arg;
    struct sqlbuild b;
    qb_init(&b);
    strbuf_adds(&b.sql, "SELECT AVG(");
    column_expr(a->en, a->c, &b.sql);
    strbuf_addf(&b.sql, ") FROM %s", a->en->table);
    int rc = add_where(a->en, a->q, &b, err);
    if (rc == 0)
        rc = run_build(db, &b, avg_cb, a, err);
    qb_release(&b);
    return rc;
}

int store_average(struct store *st, enum store_entity e, const char *field,
                  const struct store_query *q, double *avg, bool *has, struct err *err)
{
    int rc = check_entity(e, err);
    if (rc < 0)
        return rc;
    struct group_arg a = {.en = store_entity(e), .q = q};
    a.c = entity_column(a.en, field);
    if (!a.c || !(a.c->f.flags & (STORE_F_FILTER | STORE_F_SORT)) ||
        (a.c->f.type != STORE_INT && a.c->f.type != STORE_REAL && a.c->f.type != STORE_TIME))
        return unknown_field(a.en, field, STORE_F_SORT, "average", err);
    rc = store_tx(st, TX_READ, avg_fn, &a, err);
    *avg = a.avg;
    *has = a.has;
    return rc;
}

/* ---- one row ---- */

static int not_found(const struct entity *en, int64_t id, struct err *err)
{
    return err_set(err, E_NOT_FOUND, "no %s with id %lld", en->name, (long long)id);
}

/* Reads row id of en into *row (NULL and -E_NOT_FOUND if absent). */
static int get_in_tx(struct db *db, const struct entity *en, int64_t id, json_t **row,
                     struct err *err)
{
    struct sqlbuild b;
    qb_init(&b);
    strbuf_adds(&b.sql, "SELECT ");
    entity_select_list(en, &b.sql);
    strbuf_addf(&b.sql, " FROM %s WHERE %s.id = ", en->table, en->table);
    qb_param(&b, qv_int(id));
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, b.sql.buf, &s, err);
    if (rc == 0) {
        qb_bind(s, &b);
        rc = db_step(s, err);
        if (rc == DB_ROW) {
            *row = entity_row(en, s, 0);
            rc = 0;
        } else if (rc == DB_DONE) {
            rc = not_found(en, id, err);
        }
    }
    db_done(s);
    qb_release(&b);
    return rc;
}

struct row_arg {
    const struct entity *en;
    int64_t id;
    const struct column *key;
    struct qval keyval;
    const json_t *fields;
    json_t *row;
    bool created;
    bool changed;
    char *hash;
    const char *keyname;
};

static int get_fn(struct db *db, void *arg, struct err *err)
{
    struct row_arg *a = arg;
    json_decref(a->row);
    a->row = NULL;
    return get_in_tx(db, a->en, a->id, &a->row, err);
}

static int no_id(const struct entity *en, struct err *err)
{
    return err_set(err, E_INVALID, "%ss have no id; list them by executionId", en->name);
}

int store_get(struct store *st, enum store_entity e, int64_t id, json_t **row, struct err *err)
{
    *row = NULL;
    int rc = check_entity(e, err);
    if (rc < 0)
        return rc;
    struct row_arg a = {.en = store_entity(e), .id = id};
    if (!a.en->has_id)
        return no_id(a.en, err);
    rc = store_tx(st, TX_NONE, get_fn, &a, err);
    if (rc == 0)
        *row = a.row;
    else
        json_decref(a.row);
    return rc;
}

/* Finds the id of the row whose key column has a->keyval; 0 if none. */
static int find_by_key(struct db *db, struct row_arg *a, int64_t *id, struct err *err)
{
    struct sqlbuild b;
    qb_init(&b);
    strbuf_addf(&b.sql, "SELECT id FROM %s WHERE %s = ", a->en->table, a->key->sql);
    qb_param(&b, a->keyval);
    *id = 0;
    int rc = run_build(db, &b, count_cb, id, err);
    b.params.n = 0; /* keyval belongs to a */
    qb_release(&b);
    return rc;
}

static int get_by_fn(struct db *db, void *arg, struct err *err)
{
    struct row_arg *a = arg;
    json_decref(a->row);
    a->row = NULL;
    int rc = find_by_key(db, a, &a->id, err);
    if (rc < 0)
        return rc;
    if (!a->id)
        return err_set(err, E_NOT_FOUND, "no %s with %s \"%.200s\"", a->en->name, a->key->f.name,
                       a->keyval.t == QV_TEXT ? a->keyval.s : "?");
    return get_in_tx(db, a->en, a->id, &a->row, err);
}

static int key_column(const struct entity *en, const char *field, const struct column **out,
                      struct err *err)
{
    const struct column *c = entity_column(en, field);
    if (!c || !(c->f.flags & STORE_F_KEY))
        return unknown_field(en, field, STORE_F_KEY, "look up", err);
    *out = c;
    return 0;
}

int store_get_by(struct store *st, enum store_entity e, const char *field, const char *value,
                 json_t **row, struct err *err)
{
    *row = NULL;
    int rc = check_entity(e, err);
    if (rc < 0)
        return rc;
    struct row_arg a = {.en = store_entity(e)};
    rc = key_column(a.en, field, &a.key, err);
    if (rc < 0)
        return rc;
    json_t *jv = json_string(value ? value : "");
    if (!jv)
        return err_set(err, E_INVALID, "%s is not valid UTF-8", field);
    rc = to_qval(a.key, jv, true, "field", &a.keyval, err);
    if (rc == 0)
        rc = store_tx(st, TX_READ, get_by_fn, &a, err);
    free(a.keyval.owned);
    json_decref(jv);
    if (rc == 0)
        *row = a.row;
    else
        json_decref(a.row);
    return rc;
}

/* ---- writes ---- */

/* Checks that every row fields refer to exists, so a missing one gets a precise message. */
static int check_refs(struct db *db, const struct entity *en, const json_t *fields, struct err *err)
{
    for (size_t i = 0; i < en->ncols; i++) {
        const struct column *c = &en->cols[i];
        const json_t *v = json_object_get(fields, c->f.name);
        if (!c->is_ref || !json_is_integer(v))
            continue;
        const struct entity *ref = store_entity(c->ref);
        bool found = false;
        int rc = db_exists(db, ref->table, json_integer_value(v), &found, err);
        if (rc < 0)
            return rc;
        if (!found)
            return err_set(err, E_NOT_FOUND, "no %s with id %lld (%s)", ref->name,
                           (long long)json_integer_value(v), c->f.name);
    }
    return 0;
}

enum write_kind { W_CREATE, W_UPDATE, W_UPSERT_UPDATE };

/* Adds "col = ?" (update) or the column and value lists (create) for each given field;
 * upsert updates skip fields that are create-only. */
static int collect_fields(const struct entity *en, const json_t *fields, enum write_kind kind,
                          struct sqlbuild *cols, struct sqlbuild *vals, struct err *err)
{
    unsigned need = kind == W_CREATE ? STORE_F_CREATE : STORE_F_UPDATE;
    const char *key;
    json_t *v;
    if (!json_is_object(fields))
        return err_set(err, E_INVALID, "the fields of a %s must be a JSON object", en->name);
    json_object_foreach((json_t *)fields, key, v)
    {
        const struct column *c = entity_column(en, key);
        if (!c || (c->f.flags & (C_EXPR | C_ALIAS)))
            return err_set(err, E_INVALID, "a %s has no field \"%.100s\"", en->name, key);
        if (!(c->f.flags & need)) {
            if (kind == W_UPSERT_UPDATE && (c->f.flags & STORE_F_CREATE))
                continue;
            return err_set(err, E_INVALID, "field \"%s\" of a %s cannot be %s", key, en->name,
                           kind == W_CREATE ? "set" : "changed");
        }
        if (json_is_null(v) && (c->f.flags & C_NOTNULL))
            return err_set(err, E_INVALID, "field \"%s\" of a %s must not be null", key, en->name);
        struct qval q;
        int rc = to_qval(c, v, false, "field", &q, err);
        if (rc < 0)
            return rc;
        if (kind == W_CREATE) {
            strbuf_adds(&cols->sql, cols->sql.len ? ", " : "");
            strbuf_adds(&cols->sql, c->sql);
            strbuf_adds(&vals->sql, vals->params.n ? ", " : "");
            qb_param(vals, q);
        } else {
            strbuf_adds(&vals->sql, vals->params.n ? ", " : "");
            strbuf_addf(&vals->sql, "%s = ", c->sql);
            qb_param(vals, q);
        }
    }
    return 0;
}

/* Defaults on create (uuid, times) and the required-field check. */
static int create_defaults(const struct entity *en, const json_t *fields, struct sqlbuild *cols,
                           struct sqlbuild *vals, struct err *err)
{
    int64_t now = time_now_ms();
    for (size_t i = 0; i < en->ncols; i++) {
        const struct column *c = &en->cols[i];
        if (json_object_get(fields, c->f.name))
            continue;
        if (c->f.flags & STORE_F_REQUIRED)
            return err_set(err, E_INVALID, "a %s needs the field \"%s\"", en->name, c->f.name);
        struct qval q;
        if (c->f.flags & C_UUID) {
            char u[UUID_STR_LEN];
            uuid_v7(u);
            q = qv_owned(xstrdup(u));
        } else if (c->f.flags & C_NOW_CREATE) {
            q = qv_int(now);
        } else {
            continue;
        }
        strbuf_adds(&cols->sql, cols->sql.len ? ", " : "");
        strbuf_adds(&cols->sql, c->sql);
        strbuf_adds(&vals->sql, vals->params.n ? ", " : "");
        qb_param(vals, q);
    }
    return 0;
}

static int create_in_tx(struct db *db, const struct entity *en, const json_t *fields, int64_t *id,
                        struct err *err)
{
    if (!en->has_id)
        return err_set(err, E_INVALID, "%ss are written by store_job_finish", en->name);
    struct sqlbuild cols, vals;
    qb_init(&cols);
    qb_init(&vals);
    int rc = collect_fields(en, fields, W_CREATE, &cols, &vals, err);
    if (rc == 0)
        rc = create_defaults(en, fields, &cols, &vals, err);
    if (rc == 0)
        rc = check_refs(db, en, fields, err);
    if (rc == 0) {
        struct sqlbuild b;
        qb_init(&b);
        strbuf_addf(&b.sql, "INSERT INTO %s (%s) VALUES (%s) RETURNING id", en->table, cols.sql.buf,
                    vals.sql.buf);
        b.params = vals.params; /* moved */
        memset(&vals.params, 0, sizeof(vals.params));
        *id = 0;
        rc = run_build(db, &b, count_cb, id, err);
        qb_release(&b);
    }
    qb_release(&cols);
    qb_release(&vals);
    return rc;
}

static int update_in_tx(struct db *db, const struct entity *en, int64_t id, const json_t *fields,
                        enum write_kind kind, struct err *err)
{
    if (!en->has_id)
        return no_id(en, err);
    struct sqlbuild vals;
    qb_init(&vals);
    int rc = collect_fields(en, fields, kind, NULL, &vals, err);
    for (size_t i = 0; rc == 0 && i < en->ncols; i++) {
        const struct column *c = &en->cols[i];
        if ((c->f.flags & C_NOW_UPDATE) && !json_object_get(fields, c->f.name)) {
            strbuf_adds(&vals.sql, vals.params.n ? ", " : "");
            strbuf_addf(&vals.sql, "%s = ", c->sql);
            qb_param(&vals, qv_int(time_now_ms()));
        }
    }
    if (rc == 0)
        rc = check_refs(db, en, fields, err);
    if (rc == 0 && vals.params.n == 0) {
        /* nothing to write: only check that the row exists */
        json_t *row = NULL;
        rc = get_in_tx(db, en, id, &row, err);
        json_decref(row);
    } else if (rc == 0) {
        struct sqlbuild b;
        qb_init(&b);
        strbuf_addf(&b.sql, "UPDATE %s SET %s WHERE id = ", en->table, vals.sql.buf);
        b.params = vals.params;
        memset(&vals.params, 0, sizeof(vals.params));
        qb_param(&b, qv_int(id));
        struct dbstmt *s = NULL;
        rc = db_stmt(db, b.sql.buf, &s, err);
        int64_t changes = 0;
        if (rc == 0) {
            qb_bind(s, &b);
            rc = db_run(s, &changes, err);
        }
        db_done(s);
        qb_release(&b);
        if (rc == 0 && changes == 0)
            rc = not_found(en, id, err);
    }
    qb_release(&vals);
    return rc;
}

/* After a unique violation (the transaction is gone): finds which value is taken, for a
 * message in the user's terms. */
static int explain_conflict(struct store *st, const struct entity *en, const json_t *fields,
                            struct err *err);

static int create_fn(struct db *db, void *arg, struct err *err)
{
    struct row_arg *a = arg;
    json_decref(a->row);
    a->row = NULL;
    int rc = create_in_tx(db, a->en, a->fields, &a->id, err);
    if (rc == 0)
        rc = get_in_tx(db, a->en, a->id, &a->row, err);
    return rc;
}

static int finish_write(struct store *st, struct row_arg *a, int rc, json_t **row,
                        const json_t *fields, struct err *err)
{
    if (rc == -E_CONFLICT && fields)
        rc = explain_conflict(st, a->en, fields, err);
    if (rc < 0) {
        json_decref(a->row);
        return rc;
    }
    if (row)
        *row = a->row;
    else
        json_decref(a->row);
    return 0;
}

int store_create(struct store *st, enum store_entity e, const json_t *fields, json_t **row,
                 struct err *err)
{
    if (row)
        *row = NULL;
    int rc = check_entity(e, err);
    if (rc < 0)
        return rc;
    struct row_arg a = {.en = store_entity(e), .fields = fields};
    rc = store_tx(st, TX_WRITE, create_fn, &a, err);
    return finish_write(st, &a, rc, row, fields, err);
}

static int update_fn(struct db *db, void *arg, struct err *err)
{
    struct row_arg *a = arg;
    json_decref(a->row);
    a->row = NULL;
    int rc = update_in_tx(db, a->en, a->id, a->fields, W_UPDATE, err);
    if (rc == 0)
        rc = get_in_tx(db, a->en, a->id, &a->row, err);
    return rc;
}

int store_update(struct store *st, enum store_entity e, int64_t id, const json_t *fields,
                 json_t **row, struct err *err)
{
    if (row)
        *row = NULL;
    int rc = check_entity(e, err);
    if (rc < 0)
        return rc;
    struct row_arg a = {.en = store_entity(e), .id = id, .fields = fields};
    rc = store_tx(st, TX_WRITE, update_fn, &a, err);
    return finish_write(st, &a, rc, row, fields, err);
}

static int upsert_fn(struct db *db, void *arg, struct err *err)
{
    struct row_arg *a = arg;
    json_decref(a->row);
    a->row = NULL;
    int64_t id = 0;
    int rc = find_by_key(db, a, &id, err);
    if (rc < 0)
        return rc;
    a->created = id == 0;
    if (id) {
        json_t *rest = json_deep_copy(a->fields);
        json_object_del(rest, a->key->f.name);
        rc = update_in_tx(db, a->en, id, rest, W_UPSERT_UPDATE, err);
        json_decref(rest);
    } else {
        rc = create_in_tx(db, a->en, a->fields, &id, err);
    }
    if (rc == 0)
        rc = get_in_tx(db, a->en, id, &a->row, err);
    return rc;
}

int store_upsert(struct store *st, enum store_entity e, const char *key, const json_t *fields,
                 json_t **row, bool *created, struct err *err)
{
    if (row)
        *row = NULL;
    int rc = check_entity(e, err);
    if (rc < 0)
        return rc;
    struct row_arg a = {.en = store_entity(e), .fields = fields};
    rc = key_column(a.en, key, &a.key, err);
    if (rc < 0)
        return rc;
    const json_t *kv = json_object_get(fields, key);
    if (!kv)
        return err_set(err, E_INVALID, "an upsert of a %s needs the field \"%s\"", a.en->name, key);
    rc = to_qval(a.key, kv, false, "field", &a.keyval, err);
    if (rc == 0)
        rc = store_tx(st, TX_WRITE, upsert_fn, &a, err);
    free(a.keyval.owned);
    if (rc == 0 && created)
        *created = a.created;
    return finish_write(st, &a, rc, row, fields, err);
}

static int delete_fn(struct db *db, void *arg, struct err *err)
{
    struct row_arg *a = arg;
    struct sqlbuild b;
    qb_init(&b);
    strbuf_addf(&b.sql, "DELETE FROM %s WHERE id = ", a->en->table);
    qb_param(&b, qv_int(a->id));
    struct dbstmt *s = NULL;
    int64_t changes = 0;
    int rc = db_stmt(db, b.sql.buf, &s, err);
    if (rc == 0) {
        qb_bind(s, &b);
        rc = db_run(s, &changes, err);
    }
    db_done(s);
    qb_release(&b);
    if (rc == 0 && changes == 0)
        rc = not_found(a->en, a->id, err);
    return rc;
}

int store_delete(struct store *st, enum store_entity e, int64_t id, struct err *err)
{
    int rc = check_entity(e, err);
    if (rc < 0)
        return rc;
    struct row_arg a = {.en = store_entity(e), .id = id};
    if (!a.en->has_id)
        return no_id(a.en, err);
    return store_tx(st, TX_WRITE, delete_fn, &a, err);
}

/* ---- conflicts ---- */

struct conflict_arg {
    const struct entity *en;
    const json_t *fields;
    char msg[ERR_MSG_MAX];
};

static void value_text(const json_t *v, char *buf, size_t size)
{
    if (json_is_string(v)) {
        snprintf(buf, size, "%.200s", json_string_value(v));
    } else {
        char *t = jsonx_dumps(v);
        snprintf(buf, size, "%.200s", t);
        free(t);
    }
}

static int conflict_fn(struct db *db, void *arg, struct err *err)
{
    struct conflict_arg *a = arg;
    a->msg[0] = '\0';
    for (const struct unique_msg *u = a->en->uniques; u->fmt; u++) {
        struct sqlbuild b;
        qb_init(&b);
        strbuf_addf(&b.sql, "SELECT COUNT(*) FROM %s WHERE 1 = 1", a->en->table);
        char vals[2][220] = {"", ""};
        bool usable = true;
        int rc = 0;
        for (size_t k = 0; k < 2 && u->fields[k] && usable && rc == 0; k++) {
            const struct column *c = entity_column(a->en, u->fields[k]);
            const json_t *v = json_object_get(a->fields, u->fields[k]);
            usable = c && v && !json_is_null(v);
            if (!usable)
                break;
            struct qval q;
            rc = to_qval(c, v, false, "field", &q, NULL);
            if (rc < 0)
                break;
            strbuf_addf(&b.sql, " AND %s = ", c->sql);
            qb_param(&b, q);
            value_text(v, vals[k], sizeof(vals[k]));
        }
        int64_t n = 0;
        if (usable && rc == 0)
            rc = run_build(db, &b, count_cb, &n, err);
        qb_release(&b);
        if (rc < 0)
            return rc;
        if (usable && n > 0) {
            /* u->fmt has one "%s" per field */
            struct strbuf sb = STRBUF_INIT;
            size_t k = 0;
            for (const char *p = u->fmt; *p; p++) {
                if (p[0] == '%' && p[1] == 's' && k < 2) {
                    strbuf_adds(&sb, vals[k++]);
                    p++;
                } else {
                    strbuf_addch(&sb, *p);
                }
            }
            snprintf(a->msg, sizeof(a->msg), "%s", sb.buf);
            strbuf_release(&sb);
            return 0;
        }
    }
    return 0;
}

static int explain_conflict(struct store *st, const struct entity *en, const json_t *fields,
                            struct err *err)
{
    struct conflict_arg a = {.en = en, .fields = fields};
    if (store_tx(st, TX_READ, conflict_fn, &a, NULL) == 0 && a.msg[0])
        return err_set(err, E_CONFLICT, "%s", a.msg);
    return err_set(err, E_CONFLICT, "a %s with one of these unique values already exists",
                   en->name);
}

/* ---- tasks from the registry ---- */

static const char *const version_copy_sql =
    "INSERT INTO task_versions (task_id, version, source_code, input_schema, output_schema,"
    " metadata, checksum, created_at)"
    " SELECT id, version, source_code, input_schema, output_schema, metadata, checksum, ?"
    " FROM tasks WHERE id = ?"
    " ON CONFLICT (task_id, version) DO UPDATE SET source_code = excluded.source_code,"
    " input_schema = excluded.input_schema, output_schema = excluded.output_schema,"
    " metadata = excluded.metadata, checksum = excluded.checksum";

static int task_save_fn(struct db *db, void *arg, struct err *err)
{
    struct row_arg *a = arg;
    json_decref(a->row);
    a->row = NULL;
    a->changed = false;
    int64_t id = 0;
    int rc = find_by_key(db, a, &id, err);
    if (rc < 0)
        return rc;
    if (id) {
        json_t *cur = NULL;
        rc = get_in_tx(db, a->en, id, &cur, err);
        if (rc < 0)
            return rc;
        const char *sum = jsonx_str(a->fields, "checksum");
        const char *ver = jsonx_str(a->fields, "version");
        bool same = sum && ver && jsonx_str(cur, "checksum") &&
                    strcmp(sum, jsonx_str(cur, "checksum")) == 0 &&
                    strcmp(ver, jsonx_str(cur, "version")) == 0;
        if (same) {
            a->row = cur;
            return 0;
        }
        json_decref(cur);
        json_t *rest = json_deep_copy(a->fields);
        json_object_del(rest, "name");
        rc = update_in_tx(db, a->en, id, rest, W_UPSERT_UPDATE, err);
        json_decref(rest);
    } else {
        rc = create_in_tx(db, a->en, a->fields, &id, err);
    }
    a->changed = true;
    struct dbstmt *s = NULL;
    if (rc == 0)
        rc = db_stmt(db, version_copy_sql, &s, err);
    if (rc == 0) {
        db_bind_int(s, time_now_ms());
        db_bind_int(s, id);
        rc = db_run(s, NULL, err);
    }
    db_done(s);
    if (rc == 0)
        rc = get_in_tx(db, a->en, id, &a->row, err);
    return rc;
}

int store_task_save(struct store *st, const json_t *fields, json_t **row, bool *changed,
                    struct err *err)
{
    if (row)
        *row = NULL;
    struct row_arg a = {.en = store_entity(STORE_TASKS), .fields = fields};
    a.key = entity_column(a.en, "name");
    const json_t *name = json_object_get(fields, "name");
    if (!json_is_string(name))
        return err_set(err, E_INVALID, "a task needs the field \"name\" (a string)");
    int rc = to_qval(a.key, name, false, "field", &a.keyval, err);
    if (rc == 0)
        rc = store_tx(st, TX_WRITE, task_save_fn, &a, err);
    if (rc == 0 && changed)
        *changed = a.changed;
    return finish_write(st, &a, rc, row, fields, err);
}

/* ---- api keys ---- */

static int api_key_fn(struct db *db, void *arg, struct err *err)
{
    struct row_arg *a = arg;
    json_decref(a->row);
    a->row = NULL;
    free(a->hash);
    a->hash = NULL;
    struct sqlbuild b;
    qb_init(&b);
    strbuf_adds(&b.sql, "SELECT api_keys.key_hash, ");
    entity_select_list(a->en, &b.sql);
    strbuf_adds(&b.sql, " FROM api_keys WHERE prefix = ");
    qb_param(&b, qv_text(a->keyname, strlen(a->keyname)));
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, b.sql.buf, &s, err);
    if (rc == 0) {
        qb_bind(s, &b);
        rc = db_step(s, err);
        if (rc == DB_ROW) {
            a->hash = db_col_strdup(s, 0);
            a->row = entity_row(a->en, s, 1);
            rc = 0;
        } else if (rc == DB_DONE) {
            rc = err_set(err, E_NOT_FOUND, "no api key with this prefix");
        }
    }
    db_done(s);
    qb_release(&b);
    return rc;
}

int store_api_key_lookup(struct store *st, const char *prefix, char **key_hash, json_t **row,
                         struct err *err)
{
    *key_hash = NULL;
    if (row)
        *row = NULL;
    struct row_arg a = {.en = store_entity(STORE_API_KEYS), .keyname = prefix ? prefix : ""};
    int rc = store_tx(st, TX_NONE, api_key_fn, &a, err);
    if (rc < 0) {
        json_decref(a.row);
        free(a.hash);
        return rc;
    }
    *key_hash = a.hash;
    if (row)
        *row = a.row;
    else
        json_decref(a.row);
    return 0;
}
