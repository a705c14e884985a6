/*
 * Two small open-addressing hash maps for the schema compiler: string keys (URIs, anchor
 * names) and pointer keys (schema objects). Linear probing, grow at 1/2 load, no deletion:
 * the compiler only ever adds.
 */
#include <stdlib.h>
#include <string.h>

#include "schema/internal.h"
#include "util/xalloc.h"

uint64_t sk_hash_bytes(const void *p, size_t len)
{
    /* FNV-1a with a final avalanche (murmur3 fmix64): short keys, few collisions. */
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static size_t strmap_find(const struct sk_strmap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const struct sk_strmap_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && strcmp(s->key, key) == 0))
            return i;
    }
}

void *sk_strmap_get(const struct sk_strmap *m, const char *key)
{
    if (!m->n)
        return NULL;
    size_t i = strmap_find(m, key, sk_hash_bytes(key, strlen(key)));
    return m->slots[i].key ? m->slots[i].val : NULL;
}

static void strmap_grow(struct sk_strmap *m)
{
    struct sk_strmap old = *m;
    m->cap = old.cap ? old.cap * 2 : 8;
    m->slots = xcalloc(m->cap, sizeof(*m->slots));
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].key)
            m->slots[strmap_find(m, old.slots[i].key, old.slots[i].hash)] = old.slots[i];
    }
    free(old.slots);
}

void *sk_strmap_put(struct sk_strmap *m, const char *key, void *val)
{
    if ((m->n + 1) * 2 > m->cap)
        strmap_grow(m);
    uint64_t h = sk_hash_bytes(key, strlen(key));
    struct sk_strmap_slot *s = &m->slots[strmap_find(m, key, h)];
    if (s->key) {
        void *old = s->val;
        s->val = val;
        return old;
    }
    s->key = xstrdup(key);
    s->hash = h;
    s->val = val;
    m->n++;
    return NULL;
}

void sk_strmap_release(struct sk_strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

static size_t ptr_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static size_t ptrmap_find(const struct sk_ptrmap *m, const void *key)
{
    size_t mask = m->cap - 1;
    for (size_t i = ptr_hash(key) & mask;; i = (i + 1) & mask) {
        if (!m->slots[i].key || m->slots[i].key == key)
            return i;
    }
}

void *sk_ptrmap_get(const struct sk_ptrmap *m, const void *key)
{
    if (!m->n)
        return NULL;
    size_t i = ptrmap_find(m, key);
    return m->slots[i].key ? m->slots[i].val : NULL;
}

void sk_ptrmap_put(struct sk_ptrmap *m, const void *key, void *val)
{
    if ((m->n + 1) * 2 > m->cap) {
        struct sk_ptrmap old = *m;
        m->cap = old.cap ? old.cap * 2 : 16;
        m->slots = xcalloc(m->cap, sizeof(*m->slots));
        for (size_t i = 0; i < old.cap; i++) {
            if (old.slots[i].key)
                m->slots[ptrmap_find(m, old.slots[i].key)] = old.slots[i];
        }
        free(old.slots);
    }
    struct sk_ptrmap_slot *s = &m->slots[ptrmap_find(m, key)];
    if (!s->key)
        m->n++;
    s->key = key;
    s->val = val;
}

void sk_ptrmap_release(struct sk_ptrmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}
