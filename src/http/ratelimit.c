/*
 * Token buckets per client key (http.h "rate limiting"). Keys are spread over shards, each
 * with its own lock, hash table and least-recently-used list, so concurrent requests from
 * different clients rarely contend. Memory is bounded: a bucket that has refilled is
 * indistinguishable from a new one and is dropped whenever the LRU walk meets it, and at
 * max_clients the least recently used bucket is evicted (which can only favour that client).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"
#include "util/xalloc.h"

#define SHARDS 16

struct bucket {
    struct bucket *hnext;
    struct bucket *prev, *next; /* LRU: head is the most recent */
    uint64_t hash;
    double tokens;
    int64_t last_ms;
    char key[];
};

struct shard {
    pthread_mutex_t lock;
    struct bucket **table;
    size_t table_cap;
    struct bucket *head, *tail;
    size_t count, cap;
};

struct http_ratelimit {
    double per_ms;
    double burst;
    struct shard shards[SHARDS];
};

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

struct http_ratelimit *http_ratelimit_new(double per_minute, unsigned burst, size_t max_clients)
{
    struct http_ratelimit *rl = xcalloc(1, sizeof(*rl));
    rl->per_ms = (per_minute > 0 ? per_minute : 60) / 60000.0;
    rl->burst = burst ? burst : 1;
    size_t per_shard = (max_clients ? max_clients : 10000) / SHARDS;
    if (per_shard == 0)
        per_shard = 1;
    size_t table = 16;
    while (table < per_shard && table < (1u << 16))
        table *= 2;
    for (int i = 0; i < SHARDS; i++) {
        struct shard *s = &rl->shards[i];
        pthread_mutex_init(&s->lock, NULL);
        s->cap = per_shard;
        s->table_cap = table;
        s->table = xcalloc(table, sizeof(*s->table));
    }
    return rl;
}

void http_ratelimit_free(struct http_ratelimit *rl)
{
    if (!rl)
        return;
    for (int i = 0; i < SHARDS; i++) {
        struct shard *s = &rl->shards[i];
        struct bucket *b = s->head;
        while (b) {
            struct bucket *next = b->next;
            free(b);
            b = next;
        }
        free(s->table);
        pthread_mutex_destroy(&s->lock);
    }
    free(rl);
}

static void lru_unlink(struct shard *s, struct bucket *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        s->head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        s->tail = b->prev;
    b->prev = b->next = NULL;
}

static void lru_push_front(struct shard *s, struct bucket *b)
{
    b->prev = NULL;
    b->next = s->head;
    if (s->head)
        s->head->prev = b;
    s->head = b;
    if (!s->tail)
        s->tail = b;
}

static void bucket_remove(struct shard *s, struct bucket *b)
{
    struct bucket **pp = &s->table[b->hash & (s->table_cap - 1)];
    while (*pp && *pp != b)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = b->hnext;
    lru_unlink(s, b);
    s->count--;
    free(b);
}

static bool refilled(const struct http_ratelimit *rl, const struct bucket *b, int64_t now_ms)
{
    return b->tokens + (double)(now_ms - b->last_ms) * rl->per_ms >= rl->burst;
}

void http_ratelimit_take(struct http_ratelimit *rl, const char *key, int64_t now_ms,
                         struct http_ratelimit_result *out)
{
    uint64_t h = hash_key(key);
    struct shard *s = &rl->shards[h % SHARDS];
    pthread_mutex_lock(&s->lock);

    /* Drop a couple of buckets that have refilled (idle clients) on every call. */
    for (int i = 0; i < 2 && s->tail && refilled(rl, s->tail, now_ms); i++)
        bucket_remove(s, s->tail);

    struct bucket *b = s->table[h & (s->table_cap - 1)];
    while (b && (b->hash != h || strcmp(b->key, key) != 0))
        b = b->hnext;
    if (!b) {
        if (s->count >= s->cap && s->tail)
            bucket_remove(s, s->tail);
        size_t klen = strlen(key);
        b = xcalloc(1, sizeof(*b) + klen + 1);
        memcpy(b->key, key, klen + 1);
        b->hash = h;
        b->tokens = rl->burst;
        b->last_ms = now_ms;
        size_t idx = h & (s->table_cap - 1);
        b->hnext = s->table[idx];
        s->table[idx] = b;
        s->count++;
    } else {
        lru_unlink(s, b);
    }
    lru_push_front(s, b);

    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rl->per_ms;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
        b->last_ms = now_ms;
    }
    out->allowed = b->tokens >= 1.0;
    if (out->allowed)
        b->tokens -= 1.0;
    double per_s = rl->per_ms * 1000.0;
    out->limit = (unsigned)rl->burst;
    out->remaining = (unsigned)floor(b->tokens);
    out->reset_s = (unsigned)ceil((rl->burst - b->tokens) / per_s);
    out->retry_after_s = 0;
    if (!out->allowed) {
        double wait = ceil((1.0 - b->tokens) / per_s);
        out->retry_after_s = wait < 1 ? 1 : (unsigned)wait;
    }
    pthread_mutex_unlock(&s->lock);
}

void http_ratelimit_sweep(struct http_ratelimit *rl, int64_t now_ms)
{
    for (int i = 0; i < SHARDS; i++) {
        struct shard *s = &rl->shards[i];
        pthread_mutex_lock(&s->lock);
        struct bucket *b = s->tail;
        while (b) {
            struct bucket *prev = b->prev;
            if (refilled(rl, b, now_ms))
                bucket_remove(s, b);
            b = prev;
        }
        pthread_mutex_unlock(&s->lock);
    }
}

size_t http_ratelimit_size(struct http_ratelimit *rl)
{
    size_t n = 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&rl->shards[i].lock);
        n += rl->shards[i].count;
        pthread_mutex_unlock(&rl->shards[i].lock);
    }
    return n;
}
