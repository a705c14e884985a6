/*
 * schema_compile: index the documents (resources by "$id", anchors, the dialect of each
 * subschema), turn every schema object reached into an sk_node through a worklist (so
 * reference cycles and long chains cost no C stack), resolve references to nodes, then check
 * the document against its metaschema. References resolve against the compiled document, the
 * caller's registry and the built-in metaschemas only; one that does not is an error here.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/internal.h"
#include "util/err.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* How far a chain of custom metaschemas ("$schema" of a "$schema" ...) may go. */
#define MAX_META_CHAIN 8

struct walk {
    struct sk_resource *res;
    const char *ptr;
    const char *doc_ptr;
    const char *doc_name;
    struct sk_dialect d;
    unsigned depth;
    bool doc_root;
};

static int index_schema(struct cctx *cc, const json_t *js, const struct walk *w);
static struct sk_resource *find_resource(struct cctx *cc, const char *uri,
                                         struct sk_dialect fallback);

void *sk_alloc(struct cctx *cc, size_t size)
{
    void *p = xcalloc(1, size ? size : 1);
    vec_push(&cc->s->blocks, p);
    return p;
}

static char *ptr_join(const char *base, const char *tok)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_adds(&sb, base);
    jsonx_pointer_append(&sb, tok);
    return strbuf_detach(&sb, NULL);
}

/* "<doc>#<pointer>/<kw>" for messages; very long pointers keep their two ends. */
static void where(const char *doc_name, const char *doc_ptr, const char *kw, struct strbuf *sb)
{
    struct strbuf p = STRBUF_INIT;
    if (doc_name) {
        strbuf_adds(&p, doc_name);
        strbuf_addch(&p, '#');
    }
    strbuf_adds(&p, doc_ptr);
    if (kw)
        jsonx_pointer_append(&p, kw);
    if (!p.len)
        strbuf_adds(&p, "(root)");
    if (p.len > 200) {
        strbuf_add(sb, p.buf, 90);
        strbuf_adds(sb, "...");
        strbuf_add(sb, p.buf + p.len - 90, 90);
    } else {
        strbuf_add(sb, p.buf, p.len);
    }
    strbuf_release(&p);
}

static int failv(struct cctx *cc, const char *doc_name, const char *doc_ptr, const char *kw,
                 const char *fmt, va_list ap)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_adds(&sb, "invalid schema at ");
    where(doc_name, doc_ptr, kw, &sb);
    strbuf_adds(&sb, ": ");
    strbuf_vaddf(&sb, fmt, ap);
    int rc = err_set(cc->err, E_INVALID, "%s", sb.buf);
    strbuf_release(&sb);
    return rc;
}

int sk_fail(struct nb *b, const char *kw, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = failv(b->cc, b->loc->doc_name, b->loc->doc_ptr, kw, fmt, ap);
    va_end(ap);
    return rc;
}

static int walk_fail(struct cctx *cc, const struct walk *w, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int walk_fail(struct cctx *cc, const struct walk *w, const char *kw, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = failv(cc, w->doc_name, w->doc_ptr, kw, fmt, ap);
    va_end(ap);
    return rc;
}

/* --- resources and locations ------------------------------------------------------------- */

static struct sk_resource *new_resource(struct cctx *cc, const char *uri, const json_t *js,
                                        struct sk_dialect d)
{
    struct sk_resource *res = xcalloc(1, sizeof(*res));
    res->uri = xstrdup(uri);
    res->schema = js;
    res->dialect = d;
    vec_push(&cc->s->resources, res);
    if (!sk_strmap_get(&cc->by_uri, uri))
        sk_strmap_put(&cc->by_uri, uri, res);
    return res;
}

static struct sk_loc *add_loc(struct cctx *cc, const json_t *js, const struct walk *w)
{
    struct sk_loc *loc = xcalloc(1, sizeof(*loc));
    loc->js = js;
    loc->res = w->res;
    loc->ptr = xstrdup(w->ptr);
    loc->doc_ptr = xstrdup(w->doc_ptr);
    loc->doc_name = w->doc_name;
    loc->dialect = w->d;
    loc->depth = w->depth;
    vec_push(&cc->all_locs, loc);
    sk_ptrmap_put(&cc->locs, js, loc);
    return loc;
}

/* The dialect "$schema" names: a standard metaschema, or a registered metaschema whose own
 * "$schema" leads to one (its "$vocabulary" then says which vocabularies are on). */
static int dialect_of(struct cctx *cc, const json_t *jschema, const struct walk *w, unsigned chain,
                      struct sk_dialect *out)
{
    const char *uri = json_string_value(jschema);
    if (!uri)
        return walk_fail(cc, w, "$schema", "must be a string (a URI)");
    if (sk_dialect_standard(uri, out))
        return 0;
    if (chain >= MAX_META_CHAIN)
        return walk_fail(cc, w, "$schema", "metaschema chain too long at \"%s\"", uri);
    char *base = sk_uri_split_fragment(uri, NULL);
    err_clear(cc->err);
    struct sk_resource *meta = find_resource(cc, base, w->d);
    free(base);
    if (!meta) {
        if (cc->err->code)
            return cc->err->code;
        return walk_fail(cc, w, "$schema",
                         "unknown metaschema \"%s\" (not draft-07, 2019-09, 2020-12 or a "
                         "registered document)",
                         uri);
    }
    const json_t *mjs = meta->schema;
    const json_t *mschema = json_is_object(mjs) ? json_object_get(mjs, "$schema") : NULL;
    if (!mschema)
        return walk_fail(cc, w, "$schema", "metaschema \"%s\" has no \"$schema\"", uri);
    int rc = dialect_of(cc, mschema, w, chain + 1, out);
    if (rc < 0)
        return rc;
    const json_t *vocab = json_object_get(mjs, "$vocabulary");
    if (json_is_object(vocab)) {
        unsigned bits = SK_V_CORE;
        const char *key;
        json_t *req;
        json_object_foreach((json_t *)vocab, key, req)
        {
            unsigned bit = sk_vocab_bit(key, out->draft);
            if (!bit && json_is_true(req))
                return walk_fail(cc, w, "$schema",
                                 "metaschema \"%s\" requires the unknown vocabulary \"%s\"", uri,
                                 key);
            bits |= bit;
        }
        out->vocabs = (uint8_t)bits;
    }
    return 0;
}

static int index_children(struct cctx *cc, const json_t *js, const struct walk *here);

static int index_object(struct cctx *cc, const json_t *js, struct walk *here, char **owned_uri)
{
    const json_t *jschema = json_object_get(js, "$schema");
    const json_t *jid = json_object_get(js, "$id");
    bool ref_only = here->d.draft == SK_D7 && json_object_get(js, "$ref");
    if (ref_only)
        jid = NULL; /* draft-07: "$ref" hides every sibling, "$id" included */
    if (jschema && (here->doc_root || jid)) {
        int rc = dialect_of(cc, jschema, here, 0, &here->d);
        if (rc < 0)
            return rc;
        if (here->doc_root)
            here->res->dialect = here->d;
    }
    if (jid) {
        if (!json_is_string(jid))
            return walk_fail(cc, here, "$id", "must be a string (a URI reference)");
        char *resolved = sk_uri_resolve(here->res->uri, json_string_value(jid));
        char *frag = NULL;
        char *uri = sk_uri_split_fragment(resolved, &frag);
        free(resolved);
        if (frag && *frag && here->d.draft != SK_D7) {
            free(uri);
            free(frag);
            return walk_fail(cc, here, "$id", "must not have a fragment (use \"$anchor\")");
        }
        if (here->doc_root) {
            if (strcmp(uri, here->res->uri) != 0) {
                if (!sk_strmap_get(&cc->by_uri, uri))
                    sk_strmap_put(&cc->by_uri, uri, here->res);
                free(here->res->uri);
                here->res->uri = xstrdup(uri);
            }
        } else if (strcmp(uri, here->res->uri) != 0) {
            here->res = new_resource(cc, uri, js, here->d);
            here->ptr = "";
        }
        if (frag && *frag)
            sk_strmap_put(&here->res->anchors, frag, (void *)js);
        free(frag);
        *owned_uri = uri;
    }
    if (here->d.draft != SK_D7 && !ref_only) {
        const char *anchor = jsonx_str(js, "$anchor");
        if (anchor)
            sk_strmap_put(&here->res->anchors, anchor, (void *)js);
        const char *dyn = here->d.draft == SK_D2020 ? jsonx_str(js, "$dynamicAnchor") : NULL;
        if (dyn) {
            sk_strmap_put(&here->res->anchors, dyn, (void *)js);
            sk_strmap_put(&here->res->dyn_anchors, dyn, (void *)js);
        }
        if (here->d.draft == SK_D2019 && here->res->schema == js &&
            json_is_true(json_object_get(js, "$recursiveAnchor")))
            here->res->recursive_anchor = true;
    }
    add_loc(cc, js, here);
    if (ref_only)
        return 0;
    return index_children(cc, js, here);
}

static int index_schema(struct cctx *cc, const json_t *js, const struct walk *w)
{
    if (sk_ptrmap_get(&cc->locs, js))
        return 0;
    if (json_is_boolean(js)) {
        add_loc(cc, js, w);
        return 0;
    }
    if (!json_is_object(js))
        return 0; /* reported when the keyword holding it is compiled */
    if (w->depth > SCHEMA_MAX_NESTING)
        return walk_fail(cc, w, NULL, "subschemas nested more than %d levels deep",
                         SCHEMA_MAX_NESTING);
    struct walk here = *w;
    char *uri = NULL;
    int rc = index_object(cc, js, &here, &uri);
    free(uri);
    return rc;
}

static int index_child(struct cctx *cc, const json_t *v, const struct walk *here, const char *key,
                       const char *tok)
{
    char *ptr = ptr_join(here->ptr, key);
    char *doc_ptr = ptr_join(here->doc_ptr, key);
    if (tok) {
        char *p2 = ptr_join(ptr, tok), *d2 = ptr_join(doc_ptr, tok);
        free(ptr);
        free(doc_ptr);
        ptr = p2;
        doc_ptr = d2;
    }
    struct walk child = *here;
    child.ptr = ptr;
    child.doc_ptr = doc_ptr;
    child.depth = here->depth + 1;
    child.doc_root = false;
    int rc = index_schema(cc, v, &child);
    free(ptr);
    free(doc_ptr);
    return rc;
}

static int index_children(struct cctx *cc, const json_t *js, const struct walk *here)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)js, key, val)
    {
        enum sk_sub sub = sk_keyword_sub(key, here->d.draft);
        int rc = 0;
        if (sub == SK_SUB_ONE_OR_LIST)
            sub = json_is_array(val) ? SK_SUB_LIST : SK_SUB_ONE;
        switch (sub) {
        case SK_SUB_NONE:
            break;
        case SK_SUB_ONE:
            rc = index_child(cc, val, here, key, NULL);
            break;
        case SK_SUB_LIST:
            for (size_t i = 0; rc == 0 && json_is_array(val) && i < json_array_size(val); i++) {
                char tok[24];
                snprintf(tok, sizeof(tok), "%zu", i);
                rc = index_child(cc, json_array_get(val, i), here, key, tok);
            }
            break;
        case SK_SUB_MAP:
        case SK_SUB_MAP_DEPS: {
            const char *k2;
            json_t *v2;
            if (!json_is_object(val))
                break;
            json_object_foreach(val, k2, v2)
            {
                rc = index_child(cc, v2, here, key, k2);
                if (rc < 0)
                    break;
            }
            break;
        }
        case SK_SUB_ONE_OR_LIST:
            break;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Indexes a whole document known by uri ("" for none). doc_name names it in messages (NULL
 * for the document being compiled). */
static int index_document(struct cctx *cc, const json_t *doc, const char *uri, const char *doc_name,
                          struct sk_dialect fallback)
{
    if (sk_ptrmap_get(&cc->indexed, doc))
        return 0;
    sk_ptrmap_put(&cc->indexed, doc, (void *)1);
    struct sk_resource *res = new_resource(cc, uri, doc, fallback);
    struct walk w = {res, "", "", doc_name, fallback, 0, true};
    return index_schema(cc, doc, &w);
}

static struct sk_resource *find_resource(struct cctx *cc, const char *uri,
                                         struct sk_dialect fallback)
{
    struct sk_resource *res = sk_strmap_get(&cc->by_uri, uri);
    if (res)
        return res;
    const struct sk_regdoc *rd = cc->reg ? sk_registry_lookup(cc->reg, uri) : NULL;
    if (rd) {
        json_incref(rd->doc);
        vec_push(&cc->s->docs, rd->doc);
        if (index_document(cc, rd->doc, rd->uri, rd->uri, fallback) < 0)
            return NULL;
        return sk_strmap_get(&cc->by_uri, uri);
    }
    const struct sk_builtin_doc *bd = sk_builtin_find(uri);
    if (bd) {
        json_t *doc;
        if (jsonx_parse(bd->text, strlen(bd->text), &doc, NULL) < 0)
            return NULL;
        vec_push(&cc->s->docs, doc);
        struct sk_dialect d;
        sk_dialect_standard(jsonx_str(doc, "$schema"), &d);
        if (index_document(cc, doc, bd->uri, bd->uri, d) < 0)
            return NULL;
        return sk_strmap_get(&cc->by_uri, uri);
    }
    return NULL;
}

/* --- nodes ------------------------------------------------------------------------------- */

static struct sk_node *node_for(struct cctx *cc, const json_t *js, const struct sk_loc *loc)
{
    struct sk_node *n = sk_ptrmap_get(&cc->nodes, js);
    if (n)
        return n;
    n = xcalloc(1, sizeof(*n));
    n->json = js;
    n->res = loc->res;
    n->depth = loc->depth;
    n->boolean = json_is_boolean(js) ? (int8_t)json_is_true(js) : -1;
    n->type_mask = SK_T_ANY;
    if (loc->res->uri[0])
        n->abs = xasprintf("%s#%s", loc->res->uri, loc->ptr);
    vec_push(&cc->s->nodes, n);
    sk_ptrmap_put(&cc->nodes, js, n);
    loc->res->used = true;
    if (json_is_object(js))
        vec_push(&cc->work, n);
    return n;
}

struct sk_node *sk_sub_node(struct nb *b, const json_t *v, const char *kw, const char *tok)
{
    if (!json_is_object(v) && !json_is_boolean(v)) {
        if (tok) {
            struct strbuf sb = STRBUF_INIT;
            jsonx_pointer_append(&sb, tok);
            sk_fail(b, kw, "%s must be a schema (object or boolean), not %s", sb.buf + 1,
                    jsonx_type_name(v));
            strbuf_release(&sb);
        } else {
            sk_fail(b, kw, "must be a schema (object or boolean), not %s", jsonx_type_name(v));
        }
        return NULL;
    }
    const struct sk_loc *loc = sk_ptrmap_get(&b->cc->locs, v);
    if (!loc) {
        /* not indexed (e.g. under a keyword of another draft): index it where it is */
        struct walk w = {
            b->loc->res,   b->loc->ptr, b->loc->doc_ptr, b->loc->doc_name, b->loc->dialect,
            b->loc->depth, false};
        if (index_child(b->cc, v, &w, kw, tok) < 0)
            return NULL;
        loc = sk_ptrmap_get(&b->cc->locs, v);
        if (!loc) {
            sk_fail(b, kw, "cannot index this subschema");
            return NULL;
        }
    }
    return node_for(b->cc, v, loc);
}

/* Walks a JSON Pointer (already percent-decoded) from res's root; indexes the target if it
 * sits where no keyword we know put a schema. */
static const json_t *follow_pointer(struct cctx *cc, struct sk_resource *res, const char *frag,
                                    const struct sk_loc **loc_out)
{
    const json_t *cur = res->schema;
    const struct sk_loc *best = sk_ptrmap_get(&cc->locs, cur);
    struct strbuf suffix = STRBUF_INIT, tok = STRBUF_INIT;
    unsigned steps = 0;
    const char *p = frag;
    while (*p == '/') {
        p++;
        strbuf_reset(&tok);
        while (*p && *p != '/') {
            if (*p == '~' && p[1] == '0') {
                strbuf_addch(&tok, '~');
                p += 2;
            } else if (*p == '~' && p[1] == '1') {
                strbuf_addch(&tok, '/');
                p += 2;
            } else {
                strbuf_addch(&tok, *p++);
            }
        }
        if (json_is_object(cur)) {
            cur = json_object_getn(cur, tok.buf, tok.len);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long idx = strtoul(tok.buf, &end, 10);
            bool ok = tok.len && *end == '\0' && (tok.buf[0] != '0' || tok.len == 1);
            cur = ok ? json_array_get(cur, idx) : NULL;
        } else {
            cur = NULL;
        }
        if (!cur)
            break;
        jsonx_pointer_append(&suffix, tok.buf);
        steps++;
        const struct sk_loc *l = sk_ptrmap_get(&cc->locs, cur);
        if (l) {
            best = l;
            strbuf_reset(&suffix);
            steps = 0;
        }
    }
    strbuf_release(&tok);
    if (!cur || *p) {
        strbuf_release(&suffix);
        return NULL;
    }
    *loc_out = sk_ptrmap_get(&cc->locs, cur);
    if (!*loc_out && best && (json_is_object(cur) || json_is_boolean(cur))) {
        struct strbuf ptr = STRBUF_INIT, doc_ptr = STRBUF_INIT;
        strbuf_adds(&ptr, best->ptr);
        strbuf_add(&ptr, suffix.buf, suffix.len);
        strbuf_adds(&doc_ptr, best->doc_ptr);
        strbuf_add(&doc_ptr, suffix.buf, suffix.len);
        struct walk w = {best->res,           ptr.buf, doc_ptr.buf, best->doc_name, best->dialect,
                         best->depth + steps, false};
        if (index_schema(cc, cur, &w) == 0)
            *loc_out = sk_ptrmap_get(&cc->locs, cur);
        strbuf_release(&ptr);
        strbuf_release(&doc_ptr);
    }
    strbuf_release(&suffix);
    return cur;
}

struct sk_node *sk_resolve_ref(struct nb *b, const char *ref, const char *kw, char **fragment)
{
    struct cctx *cc = b->cc;
    char *abs = sk_uri_resolve(b->loc->res->uri, ref);
    char *frag = NULL;
    char *uri = sk_uri_split_fragment(abs, &frag);
    struct sk_node *node = NULL;
    const json_t *target = NULL;
    const struct sk_loc *loc = NULL;
    err_clear(cc->err);
    struct sk_resource *res = find_resource(cc, uri, b->loc->dialect);
    if (!res) {
        if (!cc->err->code)
            sk_fail(b, kw, "cannot resolve \"%s\": no known schema has the URI \"%s\"", ref, uri);
        goto out;
    }
    if (!frag || !*frag) {
        target = res->schema;
        loc = sk_ptrmap_get(&cc->locs, target);
    } else if (frag[0] == '/') {
        target = follow_pointer(cc, res, frag, &loc);
        if (!target) {
            sk_fail(b, kw, "cannot resolve \"%s\": %s%s%s has nothing at \"#%s\"", ref,
                    uri[0] ? "\"" : "", uri[0] ? uri : "the document", uri[0] ? "\"" : "", frag);
            goto out;
        }
    } else {
        target = sk_strmap_get(&res->anchors, frag);
        if (!target) {
            sk_fail(b, kw, "cannot resolve \"%s\": \"%s\" has no anchor \"%s\"", ref,
                    res->uri[0] ? res->uri : "this document", frag);
            goto out;
        }
        loc = sk_ptrmap_get(&cc->locs, target);
    }
    if (!json_is_object(target) && !json_is_boolean(target)) {
        sk_fail(b, kw, "\"%s\" does not point to a schema (it is %s)", ref,
                jsonx_type_name(target));
        goto out;
    }
    if (!loc) {
        sk_fail(b, kw, "cannot resolve \"%s\"", ref);
        goto out;
    }
    node = node_for(cc, target, loc);
out:
    if (fragment)
        *fragment = frag;
    else
        free(frag);
    free(uri);
    free(abs);
    return node;
}

static int fill_node(struct cctx *cc, struct sk_node *n)
{
    const struct sk_loc *loc = sk_ptrmap_get(&cc->locs, n->json);
    struct nb b = {.cc = cc, .n = n, .js = n->json, .loc = loc};
    int rc = sk_compile_keywords(&b);
    if (rc == 0) {
        /* stable sort by phase (insertion sort: a node has few keywords) */
        for (size_t i = 1; i < b.kws.n; i++) {
            struct sk_kw k = b.kws.v[i];
            uint8_t ph = b.phases.v[i];
            size_t j = i;
            while (j > 0 && b.phases.v[j - 1] > ph) {
                b.kws.v[j] = b.kws.v[j - 1];
                b.phases.v[j] = b.phases.v[j - 1];
                j--;
            }
            b.kws.v[j] = k;
            b.phases.v[j] = ph;
        }
        n->kws = b.kws.v;
        n->nkw = (uint32_t)b.kws.n;
        b.kws.v = NULL;
        n->scalar = !n->collects;
        for (size_t i = 0; i < n->nkw; i++) {
            if (!sk_op_is_scalar(n->kws[i].op))
                n->scalar = false;
        }
    }
    n->filled = true;
    vec_free(&b.kws);
    vec_free(&b.phases);
    return rc;
}

static int drain(struct cctx *cc)
{
    while (cc->work.n) {
        struct sk_node *n = cc->work.v[--cc->work.n];
        int rc = fill_node(cc, n);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* With $dynamicRef/$recursiveRef, any resource that can be in the dynamic scope needs its
 * dynamic anchors (and, for $recursiveAnchor, its root) compiled. */
static int compile_dynamic(struct cctx *cc)
{
    bool changed = true;
    while (changed && cc->s->dynamic) {
        changed = false;
        for (size_t i = 0; i < cc->s->resources.n; i++) {
            struct sk_resource *res = cc->s->resources.v[i];
            if (!res->used || res->dyn_done)
                continue;
            res->dyn_done = true;
            changed = true;
            sk_strmap_foreach(&res->dyn_anchors, k)
            {
                const json_t *js = res->dyn_anchors.slots[k].val;
                const struct sk_loc *loc = sk_ptrmap_get(&cc->locs, js);
                sk_strmap_put(&res->dyn_nodes, res->dyn_anchors.slots[k].key,
                              node_for(cc, js, loc));
            }
            const struct sk_loc *rloc = sk_ptrmap_get(&cc->locs, res->schema);
            if (res->recursive_anchor && rloc)
                res->root_node = node_for(cc, res->schema, rloc);
        }
        int rc = drain(cc);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Whether n has array ops only (items, minItems, maxItems, uniqueItems): they go into its
 * leaf. */
static bool array_only(struct sk_node *n)
{
    if (n->collects)
        return false;
    for (size_t i = 0; i < n->nkw; i++) {
        unsigned op = n->kws[i].op;
        if (op != OP_ITEMS && op != OP_MIN_ITEMS && op != OP_MAX_ITEMS && op != OP_UNIQUE_ITEMS)
            return false;
    }
    n->leaf.array.min = 0;
    n->leaf.array.max = SIZE_MAX;
    for (size_t i = 0; i < n->nkw; i++) {
        const struct sk_kw *k = &n->kws[i];
        if (k->op == OP_MIN_ITEMS)
            n->leaf.array.min = k->u.count;
        else if (k->op == OP_MAX_ITEMS)
            n->leaf.array.max = k->u.count;
        else if (k->op == OP_ITEMS)
            n->leaf.array.items = k->u.items;
        else
            n->leaf.array.unique = k;
    }
    return true;
}

/* The jansson types a "type" mask accepts without a closer look: a real counts only when both
 * "integer" and "number" are allowed (otherwise its fraction decides). */
static uint8_t node_jtypes(unsigned type_mask)
{
    uint8_t m = sk_jtypes(type_mask);
    if (!(type_mask & SK_T_INTEGER))
        m &= (uint8_t) ~(1u << JSON_INTEGER);
    if ((type_mask & SK_T_NUMERIC) != SK_T_NUMERIC)
        m &= (uint8_t) ~(1u << JSON_REAL);
    return m;
}

/* Folds one numeric bound into r (*sides: the sides already bounded). False when the range
 * cannot say it exactly: a second bound on one side, or an integer bound past 2^53 (reals
 * could not be compared with it as doubles). */
static bool range_add(struct sk_range *r, const struct sk_kw *k, unsigned *sides)
{
    const struct sk_num *b = &k->u.num;
    bool lower = k->op == OP_MINIMUM || k->op == OP_EXCL_MINIMUM;
    bool excl = k->op == OP_EXCL_MINIMUM || k->op == OP_EXCL_MAXIMUM;
    unsigned side = lower ? 1 : 2;
    if ((*sides & side) || !b->d_exact || !(b->d > -9e18 && b->d < 9e18))
        return false;
    *sides |= side;
    /* the integers x with x >= d are those >= ceil(d); x > d: >= floor(d) + 1; and so on */
    double ib =
        lower ? (excl ? floor(b->d) + 1 : ceil(b->d)) : (excl ? ceil(b->d) - 1 : floor(b->d));
    int64_t v = b->is_int ? b->i + (excl ? (lower ? 1 : -1) : 0) : (int64_t)ib;
    if (lower) {
        r->ilo = v;
        r->dlo = b->d;
        r->lo_excl = excl;
    } else {
        r->ihi = v;
        r->dhi = b->d;
        r->hi_excl = excl;
    }
    return true;
}

/* SK_SHAPE_RANGE or SK_SHAPE_LENGTH for a node of numeric bounds or string lengths only (its
 * leaf filled in), else SK_SHAPE_GENERAL. */
static uint8_t leaf_shape(struct sk_node *n)
{
    struct sk_range r = {INT64_MIN, INT64_MAX, -INFINITY, INFINITY, false, false};
    size_t min = 0, max = SIZE_MAX;
    unsigned sides = 0, nlen = 0, nnum = 0;
    for (uint32_t i = 0; i < n->nkw; i++) {
        const struct sk_kw *k = &n->kws[i];
        switch (k->op) {
        case OP_MINIMUM:
        case OP_EXCL_MINIMUM:
        case OP_MAXIMUM:
        case OP_EXCL_MAXIMUM:
            if (!range_add(&r, k, &sides))
                return SK_SHAPE_GENERAL;
            nnum++;
            break;
        case OP_MIN_LENGTH:
            min = k->u.count;
            nlen++;
            break;
        case OP_MAX_LENGTH:
            max = k->u.count;
            nlen++;
            break;
        default:
            return SK_SHAPE_GENERAL;
        }
    }
    if (nnum && !nlen) {
        n->leaf.range = r;
        return SK_SHAPE_RANGE;
    }
    if (nlen && !nnum) {
        n->leaf.length.min = min;
        n->leaf.length.max = max;
        return SK_SHAPE_LENGTH;
    }
    return SK_SHAPE_GENERAL;
}

/* Shapes for the fast path, and forwarding of schemas that are only a "$ref". */
static void finish_nodes(struct schema *s)
{
    for (size_t i = 0; i < s->nodes.n; i++) {
        struct sk_node *n = s->nodes.v[i];
        n->fast = n;
        if (n->boolean >= 0)
            n->shape = SK_SHAPE_BOOL;
        else if (!n->nkw)
            n->shape = SK_SHAPE_TYPE;
        else if (n->scalar) {
            n->shape = leaf_shape(n);
            if (n->shape == SK_SHAPE_GENERAL)
                n->shape = n->nkw == 1 ? SK_SHAPE_SCALAR1 : SK_SHAPE_SCALAR;
        } else if (n->nkw == 1 && !n->collects && n->kws[0].op == OP_PROPS)
            n->shape = SK_SHAPE_PROPS;
        else if (n->nkw == 1 && !n->collects && n->kws[0].op == OP_ITEMS)
            n->shape = SK_SHAPE_ITEMS;
        else
            n->shape = array_only(n) ? SK_SHAPE_ARRAY : SK_SHAPE_GENERAL;
    }
    for (size_t i = 0; i < s->nodes.n; i++) {
        struct sk_node *n = s->nodes.v[i];
        const struct sk_node *t = n;
        /* a bounded walk: reference cycles stop here and are caught by the depth limit */
        for (int hops = 0; hops < 16 && t->boolean < 0 && t->nkw == 1 && !t->collects &&
                           t->type_mask == SK_T_ANY && t->kws[0].op == OP_REF;
             hops++)
            t = t->kws[0].u.sub;
        n->fast = t;
    }
    for (size_t i = 0; i < s->nodes.n; i++) {
        struct sk_node *n = s->nodes.v[i];
        n->jt_ok = n->boolean == 0 ? 0 : node_jtypes(n->type_mask);
        for (uint32_t k = 0; k < n->nkw; k++) {
            if (n->kws[k].op != OP_PROPS)
                continue;
            struct sk_props *p = n->kws[k].u.props;
            for (size_t j = 0; j < p->nprops; j++)
                p->props[j].fast = p->props[j].node ? p->props[j].node->fast : NULL;
        }
    }
}

/* --- metaschema check -------------------------------------------------------------------- */

static bool generic_error(const struct schema_error *e)
{
    const char *k = strrchr(e->keyword_location, '/');
    return k && (strcmp(k, "/anyOf") == 0 || strcmp(k, "/oneOf") == 0);
}

static int check_metaschema(struct cctx *cc, const json_t *doc, const char *meta_uri)
{
    struct schema *own = NULL;
    const struct schema *ms = NULL;
    int rc = 0;
    if (cc->reg) {
        ms = sk_registry_metaschema(cc->reg, meta_uri, cc->err);
    } else if (sk_compile_metaschema(meta_uri, NULL, &own, cc->err) == 0) {
        ms = own;
    }
    if (!ms)
        return cc->err ? cc->err->code : -E_INVALID;
    struct schema_result r = SCHEMA_RESULT_INIT;
    r.max_errors = 16;
    if (!schema_validate(ms, doc, &r)) {
        const struct schema_error *e = r.nerrors ? &r.errors[0] : NULL;
        for (size_t i = 0; i < r.nerrors; i++) {
            if (!generic_error(&r.errors[i])) {
                e = &r.errors[i];
                break;
            }
        }
        rc = err_set(cc->err, E_INVALID, "invalid schema at %s: %s (checked against %s)",
                     e && e->instance_location[0] ? e->instance_location : "(root)",
                     e ? e->message : "does not match its metaschema", meta_uri);
    }
    schema_result_release(&r);
    schema_free(own);
    return rc;
}

/* --- entry points ------------------------------------------------------------------------ */

static unsigned draft_bit(enum schema_draft d)
{
    switch (d) {
    case SCHEMA_DRAFT_2019_09:
        return SK_D2019;
    case SCHEMA_DRAFT_2020_12:
        return SK_D2020;
    default:
        return SK_D7;
    }
}

static enum schema_draft draft_enum(unsigned bit)
{
    return bit == SK_D2020   ? SCHEMA_DRAFT_2020_12
           : bit == SK_D2019 ? SCHEMA_DRAFT_2019_09
                             : SCHEMA_DRAFT_07;
}

static void cctx_release(struct cctx *cc)
{
    sk_strmap_release(&cc->by_uri);
    for (size_t i = 0; i < cc->all_locs.n; i++) {
        free(cc->all_locs.v[i]->ptr);
        free(cc->all_locs.v[i]->doc_ptr);
        free(cc->all_locs.v[i]);
    }
    vec_free(&cc->all_locs);
    sk_ptrmap_release(&cc->locs);
    sk_ptrmap_release(&cc->nodes);
    sk_ptrmap_release(&cc->indexed);
    vec_free(&cc->work);
}

static int compile_all(struct cctx *cc, const json_t *doc, const struct schema_options *opts)
{
    struct sk_dialect fallback = {(uint8_t)draft_bit(opts->default_draft), SK_V_STANDARD};
    int rc = index_document(cc, doc, opts->base_uri ? opts->base_uri : "", NULL, fallback);
    if (rc < 0)
        return rc;
    const struct sk_loc *root = sk_ptrmap_get(&cc->locs, doc);
    cc->s->draft = draft_enum(root->dialect.draft);
    cc->s->root = node_for(cc, doc, root);
    /* every subschema of the document, used or not: a bad one is an error now */
    for (size_t i = 0; i < cc->all_locs.n; i++) {
        const struct sk_loc *loc = cc->all_locs.v[i];
        if (!loc->doc_name)
            node_for(cc, loc->js, loc);
        rc = drain(cc);
        if (rc < 0)
            return rc;
    }
    return compile_dynamic(cc);
}

int schema_compile(const json_t *doc, const struct schema_options *opts, struct schema **out,
                   struct err *err)
{
    static const struct schema_options defaults = {0};
    if (!opts)
        opts = &defaults;
    *out = NULL;
    if (!doc || (!json_is_object(doc) && !json_is_boolean(doc)))
        return err_set(err, E_INVALID,
                       "invalid schema: a schema must be an object or a boolean%s%s",
                       doc ? ", not " : "", doc ? jsonx_type_name(doc) : "");
    struct err local = {0};
    struct schema *s = xcalloc(1, sizeof(*s));
    s->max_depth = opts->max_depth ? opts->max_depth : SCHEMA_DEFAULT_MAX_DEPTH;
    s->format_assert = opts->format_assertion;
    s->content_assert = opts->content_assertion;
    json_incref((json_t *)doc);
    vec_push(&s->docs, (json_t *)doc);
    struct cctx cc = {
        .s = s, .opts = opts, .reg = opts->registry, .err = err ? err : &local, .root_doc = doc};
    int rc = compile_all(&cc, doc, opts);
    if (rc == 0 && !opts->skip_metaschema) {
        const char *meta = json_is_object(doc) ? jsonx_str(doc, "$schema") : NULL;
        char *meta_uri = meta ? sk_uri_split_fragment(meta, NULL)
                              : xstrdup(sk_draft_metaschema(draft_bit(opts->default_draft)));
        struct sk_dialect std;
        if (meta && sk_dialect_standard(meta, &std)) {
            free(meta_uri);
            meta_uri = xstrdup(sk_draft_metaschema(std.draft));
        }
        rc = check_metaschema(&cc, doc, meta_uri);
        free(meta_uri);
    }
    cctx_release(&cc);
    if (rc < 0) {
        schema_free(s);
        return rc;
    }
    finish_nodes(s);
    jview_probe(&s->jv);
    s->mctx = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(s->mctx, 10000000);
    pcre2_set_depth_limit(s->mctx, 100000);
    *out = s;
    return 0;
}

int sk_compile_metaschema(const char *uri, struct schema_registry *reg, struct schema **out,
                          struct err *err)
{
    json_t *doc = NULL;
    const struct sk_regdoc *rd = reg ? sk_registry_lookup(reg, uri) : NULL;
    const struct sk_builtin_doc *bd = sk_builtin_find(uri);
    if (bd) {
        if (jsonx_parse(bd->text, strlen(bd->text), &doc, err) < 0)
            return -E_INTERNAL;
    } else if (rd) {
        doc = json_incref(rd->doc);
    } else {
        return err_set(err, E_INVALID, "invalid schema: unknown metaschema \"%s\"", uri);
    }
    struct schema_options o = {.base_uri = uri, .skip_metaschema = true, .registry = reg};
    int rc = schema_compile(doc, &o, out, err);
    json_decref(doc);
    if (rc < 0)
        err_prefix(err, "metaschema %s", uri);
    return rc;
}

enum schema_draft schema_draft_of(const struct schema *s)
{
    return s->draft;
}

void schema_free(struct schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nodes.n; i++) {
        free(s->nodes.v[i]->kws);
        free(s->nodes.v[i]->abs);
        free(s->nodes.v[i]);
    }
    vec_free(&s->nodes);
    for (size_t i = 0; i < s->resources.n; i++) {
        struct sk_resource *r = s->resources.v[i];
        free(r->uri);
        sk_strmap_release(&r->anchors);
        sk_strmap_release(&r->dyn_anchors);
        sk_strmap_release(&r->dyn_nodes);
        free(r);
    }
    vec_free(&s->resources);
    for (size_t i = 0; i < s->regexes.n; i++)
        sk_regex_free(s->regexes.v[i]);
    vec_free(&s->regexes);
    for (size_t i = 0; i < s->blocks.n; i++)
        free(s->blocks.v[i]);
    vec_free(&s->blocks);
    for (size_t i = 0; i < s->docs.n; i++)
        json_decref(s->docs.v[i]);
    vec_free(&s->docs);
    pcre2_match_context_free(s->mctx);
    pcre2_match_data_free(atomic_load(&s->md_cache));
    free(s);
}
