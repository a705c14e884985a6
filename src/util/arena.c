/* Bump allocator (arena.h). */
#include "util/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#define ARENA_CHUNK_BYTES 4096
#define ARENA_ALIGN       alignof(max_align_t)

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

void arena_init(struct arena *a)
{
    a->head = NULL;
    a->total_bytes = 0;
}

void arena_release(struct arena *a)
{
    struct arena_chunk *c = a->head;
    while (c) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    arena_init(a);
}

static struct arena_chunk *chunk_new(struct arena *a, size_t cap)
{
    struct arena_chunk *c = xmalloc(sizeof(*c) + cap);
    c->used = 0;
    c->cap = cap;
    a->total_bytes += sizeof(*c) + cap;
    return c;
}

void *arena_alloc(struct arena *a, size_t n)
{
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - ARENA_ALIGN)
        return xmalloc(SIZE_MAX); /* aborts with a clear message */
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    struct arena_chunk *c = a->head;
    if (c && c->cap - c->used >= need) {
        void *p = c->data + c->used;
        c->used += need;
        return p;
    }
    if (need > ARENA_CHUNK_BYTES / 4) {
        /* A big block gets its own chunk, kept behind the current one so the current
         * chunk's free space stays usable. */
        struct arena_chunk *big = chunk_new(a, need);
        big->used = need;
        if (c) {
            big->next = c->next;
            c->next = big;
        } else {
            big->next = NULL;
            a->head = big;
        }
        return big->data;
    }
    c = chunk_new(a, ARENA_CHUNK_BYTES);
    c->next = a->head;
    a->head = c;
    c->used = need;
    return c->data;
}

void *arena_zalloc(struct arena *a, size_t n)
{
    void *p = arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *arena_memdup0(struct arena *a, const void *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return s ? arena_memdup0(a, s, strlen(s)) : NULL;
}
