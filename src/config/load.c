/*
 * Loading configuration: YAML files (libyaml's document API, so every node has a line),
 * RATCHET_* environment variables and flag overrides, each checked against the key table.
 * Problems are collected (all of them, one per line) rather than stopping at the first.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define MAX_DEPTH  32
#define MAX_VISITS 100000 /* nodes walked per document: aliases cannot blow it up */

void cfg_error(struct cfg_loader *ld, const char *fmt, ...)
{
    va_list ap;
    if (ld->errors->len)
        strbuf_addch(ld->errors, '\n');
    va_start(ap, fmt);
    strbuf_vaddf(ld->errors, fmt, ap);
    va_end(ap);
    ld->nerrors++;
}

void cfg_warn(struct config *cfg, const char *fmt, ...)
{
    va_list ap;
    struct strbuf sb = STRBUF_INIT;
    va_start(ap, fmt);
    strbuf_vaddf(&sb, fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < cfg->meta->warnings.n; i++)
        if (strcmp(cfg->meta->warnings.v[i], sb.buf) == 0) {
            strbuf_release(&sb);
            return;
        }
    vec_push(&cfg->meta->warnings, strbuf_detach(&sb, NULL));
}

/* "ratchet.yaml:12" for a node, or the loader's label. Writes into buf. */
static const char *where(const struct cfg_loader *ld, const yaml_node_t *n, char *buf, size_t size)
{
    if (ld->file && n)
        snprintf(buf, size, "%s:%lu", ld->file, (unsigned long)n->start_mark.line + 1);
    else
        snprintf(buf, size, "%s", ld->label ? ld->label : "?");
    return buf;
}

/* Quotes user text for a message: at most 60 bytes, control bytes escaped. */
static const char *shown(const char *s, size_t len, char *buf, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 60) {
            o += (size_t)snprintf(buf + o, size - o, "...");
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return buf;
}

static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)n->data.scalar.value;
    return n->data.scalar.length == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static const char *node_kind(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "a mapping"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a single value";
}

/* ---- YAML to JSON (for CFG_JSON) ---- */

static json_t *scalar_json(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    if (memchr(s, '\0', n->data.scalar.length) || !cfg_printable(s))
        return NULL;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return json_stringn(s, n->data.scalar.length);
    if (is_null(n))
        return json_null();
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        return json_true();
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return json_false();
    char *end;
    long long i = strtoll(s, &end, 10);
    if (*s && !*end && end != s && (isdigit((unsigned char)*s) || *s == '-'))
        return json_integer(i);
    double d = strtod(s, &end);
    if (*s && !*end && strspn(s, "0123456789.eE+-") == strlen(s))
        return json_real(d);
    return json_stringn(s, n->data.scalar.length);
}

static json_t *node_json(struct cfg_loader *ld, yaml_node_t *n, int depth)
{
    if (!n || depth > MAX_DEPTH || ++ld->visits > MAX_VISITS)
        return NULL;
    if (n->type == YAML_SCALAR_NODE)
        return scalar_json(n);
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            json_t *v = node_json(ld, yaml_document_get_node(ld->doc, *it), depth + 1);
            if (!v) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, v);
        }
        return a;
    }
    json_t *o = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
        json_t *v = node_json(ld, yaml_document_get_node(ld->doc, p->value), depth + 1);
        if (!k || k->type != YAML_SCALAR_NODE || !v ||
            memchr(k->data.scalar.value, '\0', k->data.scalar.length) ||
            !cfg_printable((const char *)k->data.scalar.value) ||
            json_object_setn_new(o, (const char *)k->data.scalar.value, k->data.scalar.length, v) <
                0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* ---- setting a key from a YAML node ---- */

static void walk_mapping(struct cfg_loader *ld, const struct cfg_key *table, size_t n, void *base,
                         const char *prefix, const char *shown_prefix, yaml_node_t *map, int depth,
                         bool *seen);

/* A list of objects: each item walked against the item table. */
static int set_objlist(struct cfg_loader *ld, const struct cfg_key *k, void *base, const char *path,
                       yaml_node_t *node, int depth)
{
    char w[512];
    if (node->type != YAML_SEQUENCE_NODE) {
        cfg_error(ld, "config: %s (%s): expected a list of objects, got %s", path,
                  where(ld, node, w, sizeof(w)), node_kind(node));
        return -1;
    }
    size_t count = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    struct cfg_list l = {xcalloc(count ? count : 1, k->item_size), count};
    int before = ld->nerrors;
    for (size_t i = 0; i < count; i++) {
        void *item = (char *)l.v + i * k->item_size;
        cfg_set_defaults(k->items, k->nitems, item);
        yaml_node_t *in = yaml_document_get_node(ld->doc, node->data.sequence.items.start[i]);
        char ipath[300];
        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        if (!in || in->type != YAML_MAPPING_NODE) {
            cfg_error(ld, "config: %s (%s): expected an object, got %s", ipath,
                      where(ld, in, w, sizeof(w)), in ? node_kind(in) : "nothing");
            continue;
        }
        bool seen[64] = {false};
        walk_mapping(ld, k->items, k->nitems, item, "", ipath, in, depth + 1, seen);
        for (size_t j = 0; j < k->nitems && j < 64; j++)
            if ((k->items[j].flags & CFG_REQUIRED) && !seen[j])
                cfg_error(ld, "config: %s (%s): missing required key \"%s\"", ipath,
                          where(ld, in, w, sizeof(w)), k->items[j].path);
    }
    if (ld->nerrors > before) {
        for (size_t i = 0; i < count; i++)
            cfg_release_all(k->items, k->nitems, (char *)l.v + i * k->item_size);
        free(l.v);
        return -1;
    }
    cfg_value_release(k, base);
    memcpy((char *)base + k->off, &l, sizeof(l));
    return 0;
}

/* Sets key k (reached as path, maybe through an alias with unit_ms) from node. */
static int set_from_node(struct cfg_loader *ld, const struct cfg_key *k, void *base,
                         const char *path, int64_t unit_ms, yaml_node_t *node, int depth)
{
    char w[512], v[256];
    if (is_null(node)) { /* "key:" or "key: ~": the default */
        if (k->type == CFG_OBJLIST || k->type == CFG_JSON) {
            cfg_value_release(k, base);
            return 0;
        }
        struct strbuf why = STRBUF_INIT;
        int rc = cfg_parse_text(k, base, k->def, k->unit_ms, &why);
        strbuf_release(&why);
        return rc;
    }
    if (k->type == CFG_OBJLIST)
        return set_objlist(ld, k, base, path, node, depth);
    if (k->type == CFG_JSON) {
        json_t *j = node->type == YAML_MAPPING_NODE ? node_json(ld, node, depth) : NULL;
        if (!j && node->type == YAML_MAPPING_NODE) {
            cfg_error(ld,
                      "config: %s (%s): an object too large or too deeply nested, or with "
                      "unprintable text",
                      path, where(ld, node, w, sizeof(w)));
            return -1;
        }
        if (!j) {
            cfg_error(ld, "config: %s (%s): expected an object, got %s", path,
                      where(ld, node, w, sizeof(w)), node_kind(node));
            return -1;
        }
        cfg_value_release(k, base);
        memcpy((char *)base + k->off, &j, sizeof(j));
        return 0;
    }
    if (k->type == CFG_STRLIST && node->type == YAML_SEQUENCE_NODE) {
        struct config_strlist l = {0};
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            yaml_node_t *in = yaml_document_get_node(ld->doc, *it);
            if (in && in->type == YAML_SCALAR_NODE &&
                (memchr(in->data.scalar.value, '\0', in->data.scalar.length) ||
                 !cfg_printable((const char *)in->data.scalar.value))) {
                cfg_error(ld, "config: %s (%s): expected printable UTF-8 text in the list", path,
                          where(ld, in, w, sizeof(w)));
                for (size_t i = 0; i < l.n; i++)
                    free(l.v[i]);
                free(l.v);
                return -1;
            }
            if (!in || in->type != YAML_SCALAR_NODE) {
                cfg_error(ld, "config: %s (%s): expected a list of strings, got %s in it", path,
                          where(ld, in ? in : node, w, sizeof(w)), in ? node_kind(in) : "?");
                for (size_t i = 0; i < l.n; i++)
                    free(l.v[i]);
                free(l.v);
                return -1;
            }
            l.v = xrealloc(l.v, (l.n + 1) * sizeof(*l.v));
            l.v[l.n++] = xstrndup((const char *)in->data.scalar.value, in->data.scalar.length);
        }
        cfg_value_release(k, base);
        memcpy((char *)base + k->off, &l, sizeof(l));
        return 0;
    }
    struct strbuf why = STRBUF_INIT;
    int rc = -1;
    if (node->type != YAML_SCALAR_NODE) {
        cfg_describe_type(k, &why);
        cfg_error(ld, "config: %s (%s): expected %s, got %s", path, where(ld, node, w, sizeof(w)),
                  why.buf, node_kind(node));
    } else if (memchr(node->data.scalar.value, '\0', node->data.scalar.length)) {
        cfg_error(ld, "config: %s (%s): contains a NUL character", path,
                  where(ld, node, w, sizeof(w)));
    } else {
        rc = cfg_parse_text(k, base, (const char *)node->data.scalar.value, unit_ms, &why);
        if (rc < 0)
            cfg_error(ld, "config: %s (%s): expected %s, got \"%s\"", path,
                      where(ld, node, w, sizeof(w)), why.buf,
                      shown((const char *)node->data.scalar.value, node->data.scalar.length, v,
                            sizeof(v)));
    }
    strbuf_release(&why);
    return rc;
}

/* Records where a root key's value came from. */
static void note_source(struct cfg_loader *ld, const struct cfg_key *k, const yaml_node_t *n)
{
    if (k < cfg_keys || k >= cfg_keys + cfg_nkeys)
        return;
    char w[512];
    size_t i = cfg_index(k);
    free(ld->cfg->meta->origin[i]);
    ld->cfg->meta->origin[i] = xstrdup(where(ld, n, w, sizeof(w)));
    ld->cfg->meta->src[i] = ld->src;
}

static void walk_mapping(struct cfg_loader *ld, const struct cfg_key *table, size_t n, void *base,
                         const char *prefix, const char *shown_prefix, yaml_node_t *map, int depth,
                         bool *seen)
{
    char w[512], w2[512], ks[256];
    if (depth > MAX_DEPTH || ++ld->visits > MAX_VISITS) {
        cfg_error(ld, "config: %s (%s): nested too deeply", *shown_prefix ? shown_prefix : "(top)",
                  where(ld, map, w, sizeof(w)));
        return;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(ld->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(ld->doc, p->value);
        if (!kn || !vn || ++ld->visits > MAX_VISITS)
            return;
        if (kn->type != YAML_SCALAR_NODE || kn->data.scalar.length == 0 ||
            kn->data.scalar.length > 100 ||
            memchr(kn->data.scalar.value, '\0', kn->data.scalar.length) ||
            memchr(kn->data.scalar.value, '.', kn->data.scalar.length)) {
            cfg_error(ld, "config: %s%s(%s): keys are single words (no dots, lists or maps)",
                      shown_prefix, *shown_prefix ? " " : "", where(ld, kn, w, sizeof(w)));
            continue;
        }
        const char *name = (const char *)kn->data.scalar.value;
        /* Duplicates within this mapping. */
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *qk = yaml_document_get_node(ld->doc, q->key);
            if (qk && qk->type == YAML_SCALAR_NODE &&
                qk->data.scalar.length == kn->data.scalar.length &&
                memcmp(qk->data.scalar.value, name, kn->data.scalar.length) == 0) {
                cfg_error(ld, "config: duplicate key \"%s%s%s\" (%s; first at %s)", shown_prefix,
                          *shown_prefix ? "." : "", shown(name, strlen(name), ks, sizeof(ks)),
                          where(ld, kn, w, sizeof(w)), where(ld, qk, w2, sizeof(w2)));
                goto next;
            }
        }
        char path[300], spath[400];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", name);
        snprintf(spath, sizeof(spath), "%s%s%s", shown_prefix, *shown_prefix ? "." : "",
                 shown(name, strlen(name), ks, sizeof(ks)));
        const struct cfg_key *alias, *k = cfg_find(table, n, path, &alias);
        if (k) {
            int64_t unit = alias && alias->unit_ms ? alias->unit_ms : k->unit_ms;
            if (set_from_node(ld, k, base, spath, unit, vn, depth) == 0) {
                note_source(ld, k, kn);
                if (seen && (size_t)(k - table) < 64)
                    seen[k - table] = true;
            }
            continue;
        }
        /* A section (keys or aliases below it): walk it. An ignored section with aliases
         * below it (server.job_queue) is walked too; what is not an alias there is ignored. */
        const struct cfg_key *ig = cfg_find_ignored(table, n, path);
        if (cfg_is_section(table, n, path) && !(ig && vn->type != YAML_MAPPING_NODE)) {
            if (is_null(vn))
                continue;
            if (vn->type != YAML_MAPPING_NODE) {
                cfg_error(ld, "config: %s (%s): expected a mapping of keys, got %s", spath,
                          where(ld, vn, w, sizeof(w)), node_kind(vn));
                continue;
            }
            walk_mapping(ld, table, n, base, path, spath, vn, depth + 1, seen);
            continue;
        }
        if (ig) {
            cfg_warn(ld->cfg, "config: %s (%s) is %s", spath, where(ld, kn, w, sizeof(w)), ig->doc);
            continue;
        }
        const char *hint = cfg_suggest(table, n, path);
        cfg_error(ld, "config: unknown key \"%s\" (%s)%s%s%s", spath, where(ld, kn, w, sizeof(w)),
                  hint ? "; did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "");
    next:;
    }
}

/* Parses text as one YAML document; 0 with *doc loaded (empty: root NULL), or -1 with the
 * error reported. */
static int load_document(struct cfg_loader *ld, const char *text, size_t len, yaml_document_t *doc)
{
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = 0;
    if (!yaml_parser_load(&parser, doc)) {
        cfg_error(ld, "config: %s:%lu:%lu: invalid YAML: %s%s%s", ld->file ? ld->file : ld->label,
                  (unsigned long)parser.problem_mark.line + 1,
                  (unsigned long)parser.problem_mark.column + 1,
                  parser.problem ? parser.problem : "syntax error", parser.context ? " " : "",
                  parser.context ? parser.context : "");
        rc = -1;
    } else {
        yaml_document_t extra;
        if (yaml_document_get_root_node(doc) && yaml_parser_load(&parser, &extra)) {
            if (yaml_document_get_root_node(&extra)) {
                cfg_error(ld, "config: %s: holds more than one YAML document",
                          ld->file ? ld->file : ld->label);
                rc = -1;
            }
            yaml_document_delete(&extra);
        }
        if (rc < 0)
            yaml_document_delete(doc);
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* Joins the collected errors into err: as many whole lines as fit. */
static int finish(struct cfg_loader *ld, struct err *err)
{
    if (ld->nerrors == 0)
        return 0;
    const char *s = ld->errors->buf;
    size_t keep = 0;
    int shown_n = 0;
    for (const char *p = s;;) {
        const char *nl = strchr(p, '\n');
        size_t end = nl ? (size_t)(nl - s) : strlen(s);
        if (end + 40 > ERR_MSG_MAX && shown_n > 0)
            break;
        keep = end;
        shown_n++;
        if (!nl)
            break;
        p = nl + 1;
    }
    if (keep >= ERR_MSG_MAX - 40)
        keep = ERR_MSG_MAX - 40;
    if (shown_n < ld->nerrors)
        return err_set(err, E_CONFIG, "%.*s\n(%d more problems not shown)", (int)keep, s,
                       ld->nerrors - shown_n);
    return err_set(err, E_CONFIG, "%.*s", (int)keep, s);
}

int config_load_yaml(struct config *cfg, const char *name, const char *text, size_t len,
                     struct err *err)
{
    struct strbuf errors = STRBUF_INIT;
    struct cfg_loader ld = {cfg, name, name, CONFIG_SRC_FILE, NULL, &errors, 0, 0};
    yaml_document_t doc;
    if (load_document(&ld, text, len, &doc) == 0) {
        ld.doc = &doc;
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root && !is_null(root)) {
            if (root->type != YAML_MAPPING_NODE) {
                char w[512];
                cfg_error(&ld, "config: %s: the top level must be a mapping of sections, got %s",
                          where(&ld, root, w, sizeof(w)), node_kind(root));
            } else {
                walk_mapping(&ld, cfg_keys, cfg_nkeys, cfg, "", "", root, 0, NULL);
            }
        }
        yaml_document_delete(&doc);
    }
    int rc = finish(&ld, err);
    strbuf_release(&errors);
    return rc;
}

int config_load_file(struct config *cfg, const char *path, struct err *err)
{
    char *text = NULL;
    size_t len = 0;
    struct err ferr = {0};
    int rc = fs_read_file(path, CONFIG_FILE_MAX, &text, &len, &ferr);
    if (rc == -E_NOT_FOUND)
        return err_set(err, E_CONFIG, "config: %s: no such file", path);
    if (rc < 0)
        return err_set(err, E_CONFIG, "config: %s", ferr.msg);
    rc = config_load_yaml(cfg, path, text, len, err);
    free(text);
    return rc;
}

/* ---- text values: environment and flags ---- */

/* Sets k (reached through alias, if any) from text, as source src labelled label. */
static int set_from_text(struct cfg_loader *ld, const struct cfg_key *k,
                         const struct cfg_key *alias, const char *shown_key, const char *text)
{
    int64_t unit = alias && alias->unit_ms ? alias->unit_ms : k->unit_ms;
    char v[256];
    int rc;
    if (k->type == CFG_OBJLIST || k->type == CFG_JSON) {
        /* Complex values come as YAML/JSON text: parse it as a document. */
        yaml_document_t doc;
        rc = load_document(ld, text, strlen(text), &doc);
        if (rc == 0) {
            ld->doc = &doc;
            yaml_node_t *root = yaml_document_get_root_node(&doc);
            rc = root ? set_from_node(ld, k, ld->cfg, shown_key, unit, root, 0) : -1;
            if (!root)
                cfg_error(ld, "config: %s (%s): empty value", shown_key, ld->label);
            ld->doc = NULL;
            yaml_document_delete(&doc);
        }
    } else {
        struct strbuf why = STRBUF_INIT;
        rc = cfg_parse_text(k, ld->cfg, text, unit, &why);
        if (rc < 0)
            cfg_error(ld, "config: %s (%s): expected %s, got \"%s\"", shown_key, ld->label, why.buf,
                      shown(text, strlen(text), v, sizeof(v)));
        strbuf_release(&why);
    }
    if (rc == 0)
        note_source(ld, k, NULL);
    return rc;
}

char *config_env_name(const char *path)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_adds(&sb, "RATCHET_");
    for (const char *p = path; *p; p++)
        strbuf_addch(&sb, *p == '.' ? '_' : toupper((unsigned char)*p));
    return strbuf_detach(&sb, NULL);
}

/* The value of variable name in env, or NULL. */
static const char *env_get(char *const *env, const char *name)
{
    size_t len = strlen(name);
    for (char *const *e = env; e && *e; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
            return *e + len + 1;
    return NULL;
}

/* Does name (a RATCHET_* variable) fall in a configuration section, so that it must be a
 * known variable? Sections come from the table: RATCHET_SERVER_*, RATCHET_CACHE_*, ... */
static const struct cfg_key *env_section(const char *name)
{
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const char *dot = strchr(cfg_keys[i].path, '.');
        size_t seclen = dot ? (size_t)(dot - cfg_keys[i].path) : strlen(cfg_keys[i].path);
        char *env = config_env_name(cfg_keys[i].path);
        bool match = strncmp(name, env, 8 + seclen) == 0 && name[8 + seclen] == '_';
        free(env);
        if (match)
            return &cfg_keys[i];
    }
    return NULL;
}

/* Is name the environment variable of some root key (canonical or legacy)? Aliases have
 * none of their own. */
static bool env_known(const char *name)
{
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (k->type == CFG_IGNORED || k->type == CFG_ALIAS)
            continue;
        char *env = config_env_name(k->path);
        bool match = strcmp(env, name) == 0;
        free(env);
        if (match)
            return true;
        for (const char *p = k->env; p && *p;) {
            size_t len = strcspn(p, " ");
            if (strlen(name) == len && strncmp(p, name, len) == 0)
                return true;
            p += len + (p[len] == ' ');
        }
    }
    return false;
}

int config_load_env(struct config *cfg, char *const *env, struct err *err)
{
    struct strbuf errors = STRBUF_INIT;
    struct cfg_loader ld = {cfg, NULL, NULL, CONFIG_SRC_ENV, NULL, &errors, 0, 0};
    /* Each key from its canonical variable, else the first legacy name set. An empty value
     * counts as unset. */
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (k->type == CFG_IGNORED || k->type == CFG_ALIAS)
            continue;
        char *canon = config_env_name(k->path);
        const char *val = env_get(env, canon), *used = canon;
        char legacy[128];
        for (const char *p = k->env; p && *p;) {
            size_t len = strcspn(p, " ");
            snprintf(legacy, sizeof(legacy), "%.*s", (int)len, p);
            const char *lv = env_get(env, legacy);
            if (lv && *lv && val && *val && strcmp(lv, val) != 0)
                cfg_warn(cfg, "config: %s and %s are both set; %s wins", canon, legacy, canon);
            if (lv && *lv && !(val && *val)) {
                val = lv;
                used = legacy;
            }
            p += len + (p[len] == ' ');
        }
        if (val && *val) {
            ld.label = used;
            set_from_text(&ld, k, NULL, k->path, val);
        }
        free(canon);
    }
    /* Unknown variables in a configuration section are errors (aliases have no variables
     * of their own: RATCHET_DATABASE_URL is a legacy name of server.database.url); variables
     * of ignored sections warn. */
    for (char *const *e = env; e && *e; e++) {
        if (strncmp(*e, "RATCHET_", 8) != 0)
            continue;
        size_t len = strcspn(*e, "=");
        char name[256];
        if (len >= sizeof(name))
            continue;
        memcpy(name, *e, len);
        name[len] = '\0';
        const struct cfg_key *sec = env_section(name);
        if (!sec || env_known(name) || (*e)[len] != '=' || (*e)[len + 1] == '\0')
            continue;
        if (sec->type == CFG_IGNORED) {
            cfg_warn(cfg, "config: %s is %s", name, sec->doc);
            continue;
        }
        const char *best = cfg_suggest_env(name);
        char *hint = best ? config_env_name(best) : NULL;
        cfg_error(&ld, "config: unknown environment variable %s (no configuration key %s)%s%s%s",
                  name, "matches it", hint ? "; did you mean " : "", hint ? hint : "",
                  hint ? "?" : "");
        free(hint);
    }
    int rc = finish(&ld, err);
    strbuf_release(&errors);
    return rc;
}

int config_set(struct config *cfg, const char *key, const char *value, struct err *err)
{
    struct strbuf errors = STRBUF_INIT;
    struct cfg_loader ld = {cfg, NULL, "flag", CONFIG_SRC_FLAG, NULL, &errors, 0, 0};
    const struct cfg_key *alias, *k = cfg_find(cfg_keys, cfg_nkeys, key, &alias);
    char ks[256];
    if (k) {
        set_from_text(&ld, k, alias, k->path, value);
    } else if (cfg_find_ignored(cfg_keys, cfg_nkeys, key)) {
        cfg_warn(cfg, "config: %s (flag) is %s", key,
                 cfg_find_ignored(cfg_keys, cfg_nkeys, key)->doc);
    } else {
        const char *hint = cfg_suggest(cfg_keys, cfg_nkeys, key);
        cfg_error(&ld, "config: unknown key \"%s\" (flag)%s%s%s",
                  shown(key, strlen(key), ks, sizeof(ks)), hint ? "; did you mean \"" : "",
                  hint ? hint : "", hint ? "\"?" : "");
    }
    int rc = finish(&ld, err);
    strbuf_release(&errors);
    return rc;
}

int config_set_kv(struct config *cfg, const char *kv, struct err *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return err_set(err, E_CONFIG, "config: expected key=value, got \"%s\"", kv);
    char *key = xstrndup(kv, (size_t)(eq - kv));
    int rc = config_set(cfg, key, eq + 1, err);
    free(key);
    return rc;
}
