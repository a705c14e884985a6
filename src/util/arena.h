/*
 * A bump allocator for memory that lives exactly as long as one unit of work (an HTTP
 * request, a parse), after nginx's pools: allocate freely, free everything at once with
 * arena_release. Small allocations come from 4 KiB chunks; big ones get their own chunk.
 *
 *     struct arena a;
 *     arena_init(&a);
 *     char *s = arena_strndup(&a, p, n);      // valid until arena_release(&a)
 *     arena_release(&a);
 *
 * Allocation aborts on out-of-memory (xalloc.h); callers cap sizes that come from outside.
 * Not thread-safe: one owner at a time.
 */
#ifndef RATCHET_UTIL_ARENA_H
#define RATCHET_UTIL_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
    struct arena_chunk *head; /* newest chunk first */
    size_t total_bytes;       /* bytes obtained from malloc, for limits and stats */
};

void arena_init(struct arena *a);
/* Frees every allocation; the arena can be used again afterwards. */
void arena_release(struct arena *a);
/* Returns n bytes aligned for any type (max_align_t), uninitialised; never NULL. */
void *arena_alloc(struct arena *a, size_t n);
void *arena_zalloc(struct arena *a, size_t n);
/* NUL-terminated copies of the first n bytes of s (s may hold NULs; they are copied). */
char *arena_memdup0(struct arena *a, const void *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);

#endif
