/*
 * jview_probe: finds the offsets of jansson's private value fields by building values with
 * known contents and searching their memory, then checks every offset against the public API
 * on a second sample. See jview.h for why. Searches stay inside the smallest struct each
 * kind of value can have (json_t plus the fields the API implies), so the probe never reads
 * past an allocation, also under AddressSanitizer.
 */
#include "schema/jview.h"

#include <stdint.h>
#include <string.h>

/* The first word-aligned offset in [sizeof(json_t), end) holding want; -1 if none. */
static int find(const void *base, size_t end, const void *want, size_t size)
{
    for (size_t off = sizeof(json_t); off + size <= end; off += sizeof(void *)) {
        if (memcmp((const char *)base + off, want, size) == 0)
            return (int)off;
    }
    return -1;
}

/* A string holds at least a pointer and a length after json_t. */
static bool probe_strings(struct jview *v)
{
    json_t *s1 = json_stringn("jview-probe-one", 15), *s2 = json_stringn("probe-2", 7);
    const char *p1 = json_string_value(s1);
    size_t l1 = 15, end = sizeof(json_t) + 2 * sizeof(void *);
    int vo = find(s1, end, &p1, sizeof(p1)), lo = find(s1, end, &l1, sizeof(l1));
    bool ok = vo >= 0 && lo >= 0 && json_string_length(s1) == 15;
    if (ok) {
        v->str_value = (unsigned short)vo;
        v->str_length = (unsigned short)lo;
        ok = JV_AT(s2, vo, char *) == json_string_value(s2) &&
             JV_AT(s2, lo, size_t) == json_string_length(s2);
    }
    json_decref(s1);
    json_decref(s2);
    return ok;
}

/* Integers and reals hold one word after json_t. */
static bool probe_numbers(struct jview *v)
{
    size_t end = sizeof(json_t) + sizeof(void *);
    json_t *i1 = json_integer(0x1234567890abcdefLL), *i2 = json_integer(-77);
    json_int_t iv = 0x1234567890abcdefLL;
    int io = find(i1, end, &iv, sizeof(iv));
    bool ok = io >= 0 && JV_AT(i2, io, json_int_t) == json_integer_value(i2);
    v->int_value = (unsigned short)(io < 0 ? 0 : io);
    json_decref(i1);
    json_decref(i2);

    json_t *r1 = json_real(12345.6789), *r2 = json_real(-0.5);
    double rv = 12345.6789;
    int ro = find(r1, end, &rv, sizeof(rv));
    ok = ok && ro >= 0 && JV_AT(r2, ro, double) == json_real_value(r2);
    v->real_value = (unsigned short)(ro < 0 ? 0 : ro);
    json_decref(r1);
    json_decref(r2);
    return ok;
}

static bool array_matches(const struct jview *v, const json_t *a)
{
    if (JV_AT(a, v->arr_entries, size_t) != json_array_size(a))
        return false;
    for (size_t i = 0; i < json_array_size(a); i++) {
        if (JV_AT(a, v->arr_table, json_t **)[i] != json_array_get(a, i))
            return false;
    }
    return true;
}

/* An array holds at least a capacity, a count and a table pointer after json_t. */
static bool probe_arrays(struct jview *v)
{
    json_t *a1 = json_pack("[iiiii]", 1, 2, 3, 4, 5), *a2 = json_pack("[sss]", "a", "b", "c");
    size_t end = sizeof(json_t) + 3 * sizeof(void *), five = 5;
    int eo = find(a1, end, &five, sizeof(five));
    bool ok = false;
    for (size_t off = sizeof(json_t); eo >= 0 && !ok && off + sizeof(void *) <= end;
         off += sizeof(void *)) {
        uintptr_t word = JV_AT(a1, off, uintptr_t);
        /* only a plausible pointer may be followed: counts are small numbers */
        if ((int)off == eo || word < 65536 || word % sizeof(void *))
            continue;
        v->arr_entries = (unsigned short)eo;
        v->arr_table = (unsigned short)off;
        ok = array_matches(v, a1) && array_matches(v, a2);
    }
    json_decref(a1);
    json_decref(a2);
    return ok;
}

/* Checks every object reader against the API on obj. */
static bool object_matches(const struct jview *v, const json_t *obj)
{
    if (JV_AT(obj, v->obj_size, size_t) != json_object_size(obj))
        return false;
    void *api = json_object_iter((json_t *)obj), *raw = jv_first(v, obj);
    while (api || raw) {
        if (api != raw || jv_key(v, raw) != json_object_iter_key(api) ||
            jv_key_len(v, raw) != json_object_iter_key_len(api) ||
            jv_value(v, raw) != json_object_iter_value(api))
            return false;
        api = json_object_iter_next((json_t *)obj, api);
        raw = jv_next(v, obj, raw);
    }
    return true;
}

/* Finds the member fields between the iterator and the key it points to (it[] are the three
 * members of o1, with keys of length 1, 2 and 3). */
static bool probe_members(struct jview *v, const json_t *o1, void *it[3])
{
    ptrdiff_t ko = (const char *)json_object_iter_key(it[0]) - (const char *)it[0];
    /* at least one word of the member precedes its key (JR_KEY_PREFIX reads it) */
    if (ko < (ptrdiff_t)sizeof(uint64_t) || ko > 128)
        return false;
    int no = -1, lo = -1, vo = -1;
    for (size_t off = 0; off + sizeof(void *) <= (size_t)ko; off += sizeof(void *)) {
        if (no < 0 && JV_AT(it[0], off, void *) == it[1] && JV_AT(it[1], off, void *) == it[2])
            no = (int)off;
        if (lo < 0 && JV_AT(it[0], off, size_t) == 1 && JV_AT(it[1], off, size_t) == 2 &&
            JV_AT(it[2], off, size_t) == 3)
            lo = (int)off;
        if (vo < 0 && JV_AT(it[0], off, json_t *) == json_object_iter_value(it[0]))
            vo = (int)off;
    }
    if (no < 0 || lo < 0 || vo < 0)
        return false;
    /* the last member links back to a list head inside the object itself */
    ptrdiff_t ho = JV_AT(it[2], no, const char *) - (const char *)o1;
    if (ho < (ptrdiff_t)sizeof(json_t) || ho > 64)
        return false;
    v->obj_head = (unsigned short)ho;
    v->it_next = (unsigned short)no;
    v->it_key = (unsigned short)ko;
    v->it_key_len = (unsigned short)lo;
    v->it_value = (unsigned short)vo;
    return true;
}

/* An object holds at least a hash table (count, buckets, ...) and a member list head. */
static bool probe_objects(struct jview *v)
{
    json_t *o1 = json_pack("{s:i, s:i, s:i}", "a", 1, "bb", 2, "ccc", 3);
    json_t *o2 =
        json_pack("{s:n, s:s, s:b, s:i, s:{}}", "k1", "key-22", "x", "k333", 1, "e", 0, "k4444");
    json_t *empty = json_object();
    void *it[3];
    it[0] = json_object_iter(o1);
    it[1] = json_object_iter_next(o1, it[0]);
    it[2] = json_object_iter_next(o1, it[1]);
    size_t three = 3;
    int so = find(o1, sizeof(json_t) + 3 * sizeof(void *), &three, sizeof(three));
    bool ok = so >= 0 && it[2] && !json_object_iter_next(o1, it[2]) && probe_members(v, o1, it);
    if (ok) {
        v->obj_size = (unsigned short)so;
        v->ok = true; /* object_matches reads through the view */
        ok = object_matches(v, o1) && object_matches(v, o2) && object_matches(v, empty) &&
             jv_first(v, empty) == NULL;
        v->ok = false;
    }
    json_decref(empty);
    json_decref(o1);
    json_decref(o2);
    return ok;
}

void jview_probe(struct jview *v)
{
    memset(v, 0, sizeof(*v));
    /* keys are also read as little-endian words (jr_key_prefix8, the fast path's key test) */
    bool ok = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && probe_strings(v) && probe_numbers(v) &&
              probe_arrays(v) && probe_objects(v);
    v->ok = ok;
}
