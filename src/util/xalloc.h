/*
 * Allocation that never returns NULL: small internal allocations abort the process on
 * out-of-memory, as git's xmalloc and redis's zmalloc do. Buffers sized by outside input
 * are capped by their callers (see strbuf.h) and fail with E_TOO_LARGE long before this.
 */
#ifndef RATCHET_UTIL_XALLOC_H
#define RATCHET_UTIL_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Returns an owned copy of s; xstrdup(NULL) returns NULL. */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
/* Returns an owned string built like printf. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grows *arr (of *cap elements of elem_size) so that it holds at least need elements. */
void *xgrow(void *arr, size_t *cap, size_t need, size_t elem_size);

#endif
