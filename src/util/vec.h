/*
 * A growable array of any element type:
 *
 *     VEC(int) v = {0};
 *     vec_push(&v, 42);
 *     for (size_t i = 0; i < v.n; i++) use(v.v[i]);
 *     vec_free(&v);
 */
#ifndef RATCHET_UTIL_VEC_H
#define RATCHET_UTIL_VEC_H

#include <stdlib.h>

#include "util/xalloc.h"

#define VEC(T)         \
    struct {           \
        T *v;          \
        size_t n, cap; \
    }

#define vec_reserve(vp, need) ((vp)->v = xgrow((vp)->v, &(vp)->cap, (need), sizeof(*(vp)->v)))
#define vec_push(vp, x)                 \
    do {                                \
        vec_reserve((vp), (vp)->n + 1); \
        (vp)->v[(vp)->n++] = (x);       \
    } while (0)
#define vec_free(vp)             \
    do {                         \
        free((vp)->v);           \
        (vp)->v = NULL;          \
        (vp)->n = (vp)->cap = 0; \
    } while (0)

#endif
