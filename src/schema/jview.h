/*
 * Fast read access to jansson values for the validator's inner loops.
 *
 * jansson keeps its value structs private, so every field read (a string's length, an array
 * element, the next member of an object) is an out-of-line call into the shared library: on
 * object-heavy instances those calls were a third of the validation time. jview_probe()
 * learns where the fields live by building values whose contents it knows and finding them
 * (checked on two samples of each kind); the inline readers below then load them directly.
 * If anything does not match what the public API returns, the view is marked unusable and
 * every reader uses the API instead, so a different jansson build is slower, never wrong.
 * A view is computed once per compiled schema and only read afterwards.
 */
#ifndef RATCHET_SCHEMA_JVIEW_H
#define RATCHET_SCHEMA_JVIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jview {
    bool ok; /* the offsets below were verified */
    unsigned short str_value, str_length;
    unsigned short int_value, real_value;
    unsigned short arr_entries, arr_table;
    unsigned short obj_size, obj_head;                    /* object: member count, list sentinel */
    unsigned short it_next, it_key, it_key_len, it_value; /* member (iterator) fields */
};

/* Fills v; v->ok says whether the direct readers may be used. */
void jview_probe(struct jview *v);

#define JV_AT(p, off, type) (*(type const *)((const char *)(p) + (off)))

static inline const char *jv_str(const struct jview *v, const json_t *j)
{
    return v->ok ? JV_AT(j, v->str_value, char *) : json_string_value(j);
}

static inline size_t jv_str_len(const struct jview *v, const json_t *j)
{
    return v->ok ? JV_AT(j, v->str_length, size_t) : json_string_length(j);
}

static inline json_int_t jv_int(const struct jview *v, const json_t *j)
{
    return v->ok ? JV_AT(j, v->int_value, json_int_t) : json_integer_value(j);
}

static inline double jv_real(const struct jview *v, const json_t *j)
{
    return v->ok ? JV_AT(j, v->real_value, double) : json_real_value(j);
}

static inline size_t jv_arr_len(const struct jview *v, const json_t *j)
{
    return v->ok ? JV_AT(j, v->arr_entries, size_t) : json_array_size(j);
}

/* Element i < jv_arr_len. */
static inline const json_t *jv_arr_get(const struct jview *v, const json_t *j, size_t i)
{
    return v->ok ? JV_AT(j, v->arr_table, json_t **)[i] : json_array_get(j, i);
}

static inline size_t jv_obj_size(const struct jview *v, const json_t *j)
{
    return v->ok ? JV_AT(j, v->obj_size, size_t) : json_object_size(j);
}

/* Members in insertion order: it = jv_first(); it; it = jv_next(). */
static inline void *jv_first(const struct jview *v, const json_t *j)
{
    if (!v->ok)
        return json_object_iter((json_t *)j);
    const char *head = (const char *)j + v->obj_head;
    void *first = JV_AT(head, v->it_next, void *);
    return first == head ? NULL : first;
}

static inline void *jv_next(const struct jview *v, const json_t *j, void *it)
{
    if (!v->ok)
        return json_object_iter_next((json_t *)j, it);
    void *next = JV_AT(it, v->it_next, void *);
    return next == (const char *)j + v->obj_head ? NULL : next;
}

static inline const char *jv_key(const struct jview *v, void *it)
{
    return v->ok ? (const char *)it + v->it_key : json_object_iter_key(it);
}

static inline size_t jv_key_len(const struct jview *v, void *it)
{
    return v->ok ? JV_AT(it, v->it_key_len, size_t) : json_object_iter_key_len(it);
}

static inline const json_t *jv_value(const struct jview *v, void *it)
{
    return v->ok ? JV_AT(it, v->it_value, json_t *) : json_object_iter_value(it);
}

/* The same readers without the fallback, for code that already checked v->ok. */
#define JR_STR(v, j)        JV_AT(j, (v)->str_value, char *)
#define JR_STR_LEN(v, j)    JV_AT(j, (v)->str_length, size_t)
#define JR_ARR_LEN(v, j)    JV_AT(j, (v)->arr_entries, size_t)
#define JR_ARR_GET(v, j, i) (JV_AT(j, (v)->arr_table, json_t **)[i])
#define JR_OBJ_SIZE(v, j)   JV_AT(j, (v)->obj_size, size_t)
#define JR_HEAD(v, j)       ((const char *)(j) + (v)->obj_head)
#define JR_NEXT(v, it)      JV_AT(it, (v)->it_next, void *)
#define JR_KEY(v, it)       ((const char *)(it) + (v)->it_key)
#define JR_KEY_LEN(v, it)   JV_AT(it, (v)->it_key_len, size_t)
#define JR_VALUE(v, it)     JV_AT(it, (v)->it_value, const json_t *)

/* sk_prefix8 of a member's key without branching on short lengths: the word ending at the
 * key's last byte, shifted down. The bytes before a key are the member's own fields (the probe
 * checks a word of them exists), so the load stays inside the allocation. */
static inline uint64_t jr_key_prefix8(const char *key, size_t len)
{
    uint64_t w;
    if (len >= 8) {
        __builtin_memcpy(&w, key, 8);
        return w;
    }
    if (!len)
        return 0;
    __builtin_memcpy(&w, key + len - 8, 8);
    return w >> (8 * (8 - len));
}

#endif
