/*
 * The schema registry: documents the caller makes known to "$ref" (by retrieval URI and by
 * every "$id" inside them), plus a cache of compiled metaschemas so that checking each new
 * schema against its metaschema does not recompile the metaschema every time. Filled once,
 * then read by concurrent compiles; only the cache changes afterwards, under a mutex.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "schema/internal.h"
#include "util/err.h"
#include "util/json.h"
#include "util/xalloc.h"

struct schema_registry {
    VEC(struct sk_regdoc *) docs;
    struct sk_strmap by_uri; /* uri -> struct sk_regdoc * */
    pthread_mutex_t lock;    /* guards metas */
    struct sk_strmap metas;  /* uri -> struct schema * */
};

struct schema_registry *schema_registry_new(void)
{
    struct schema_registry *reg = xcalloc(1, sizeof(*reg));
    pthread_mutex_init(&reg->lock, NULL);
    return reg;
}

void schema_registry_free(struct schema_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->docs.n; i++) {
        free(reg->docs.v[i]->uri);
        json_decref(reg->docs.v[i]->doc);
        free(reg->docs.v[i]);
    }
    vec_free(&reg->docs);
    sk_strmap_release(&reg->by_uri);
    sk_strmap_foreach(&reg->metas, i)
    {
        schema_free(reg->metas.slots[i].val);
    }
    sk_strmap_release(&reg->metas);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

/* Registers every "$id" under the subschema keywords of any draft. */
static int add_ids(struct schema_registry *reg, struct sk_regdoc *rd, const json_t *js,
                   const char *base, unsigned depth)
{
    if (!json_is_object(js))
        return 0;
    if (depth > SCHEMA_MAX_NESTING)
        return -E_INVALID;
    char *uri = NULL;
    const char *id = jsonx_str(js, "$id");
    if (id) {
        char *resolved = sk_uri_resolve(base, id);
        uri = sk_uri_split_fragment(resolved, NULL);
        free(resolved);
        sk_strmap_put(&reg->by_uri, uri, rd);
        base = uri;
    }
    int rc = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)js, key, val)
    {
        enum sk_sub sub = sk_keyword_sub(key, SK_DALL);
        if (sub == SK_SUB_NONE)
            continue;
        if (json_is_array(val)) {
            for (size_t i = 0; rc == 0 && i < json_array_size(val); i++)
                rc = add_ids(reg, rd, json_array_get(val, i), base, depth + 1);
        } else if (sub == SK_SUB_MAP || sub == SK_SUB_MAP_DEPS) {
            const char *k2;
            json_t *v2;
            json_object_foreach(val, k2, v2)
            {
                if (rc == 0)
                    rc = add_ids(reg, rd, v2, base, depth + 1);
            }
        } else {
            rc = add_ids(reg, rd, val, base, depth + 1);
        }
        if (rc < 0)
            break;
    }
    free(uri);
    return rc;
}

int schema_registry_add(struct schema_registry *reg, const char *uri, const json_t *doc,
                        struct err *err)
{
    if (!uri || !sk_uri_valid(uri, strlen(uri), true, true))
        return err_set(err, E_INVALID, "schema registry: \"%s\" is not an absolute URI",
                       uri ? uri : "(null)");
    if (!doc || (!json_is_object(doc) && !json_is_boolean(doc)))
        return err_set(err, E_INVALID,
                       "schema registry: the document for \"%s\" is not a schema (object or "
                       "boolean)",
                       uri);
    struct sk_regdoc *rd = xcalloc(1, sizeof(*rd));
    char *normal = sk_uri_resolve("", uri);
    rd->uri = sk_uri_split_fragment(normal, NULL);
    free(normal);
    rd->doc = json_incref((json_t *)doc);
    vec_push(&reg->docs, rd);
    sk_strmap_put(&reg->by_uri, rd->uri, rd);
    if (add_ids(reg, rd, doc, rd->uri, 0) < 0)
        return err_set(err, E_INVALID,
                       "schema registry: \"%s\" has subschemas nested more than %d levels deep",
                       uri, SCHEMA_MAX_NESTING);
    /* the retrieval URI wins over an embedded "$id" that happens to equal it */
    sk_strmap_put(&reg->by_uri, rd->uri, rd);
    return 0;
}

const struct sk_regdoc *sk_registry_lookup(const struct schema_registry *reg, const char *uri)
{
    return sk_strmap_get(&reg->by_uri, uri);
}

const struct schema *sk_registry_metaschema(struct schema_registry *reg, const char *uri,
                                            struct err *err)
{
    pthread_mutex_lock(&reg->lock);
    struct schema *s = sk_strmap_get(&reg->metas, uri);
    if (!s && sk_compile_metaschema(uri, reg, &s, err) == 0)
        sk_strmap_put(&reg->metas, uri, s);
    pthread_mutex_unlock(&reg->lock);
    return s;
}
