/*
 * Numbers for the validator: exact comparison across 64-bit integers and doubles, an exact
 * decimal multipleOf (no floating-point division: 0.0075 is a multiple of 0.0001, 1e308 is not
 * a multiple of 0.123456789), a JSON equality and hash with a depth bound (for enum and
 * uniqueItems) and UTF-8 code point counting (string lengths).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/internal.h"

void sk_num_from_json(const json_t *v, struct sk_num *out)
{
    if (json_is_integer(v)) {
        out->is_int = true;
        out->i = json_integer_value(v);
        out->d = (double)out->i;
        out->d_exact = out->i >= -(1LL << 53) && out->i <= (1LL << 53);
    } else {
        out->is_int = false;
        out->d_exact = true;
        out->i = 0;
        out->d = json_real_value(v);
    }
}

/* -1, 0, 1 comparing integer i with double d exactly. */
static int cmp_int_double(long long i, double d)
{
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    double f = floor(d);
    long long fi = (long long)f;
    if (i < fi)
        return -1;
    if (i > fi)
        return 1;
    return d > f ? -1 : 0;
}

int sk_num_cmp(const struct sk_num *a, const struct sk_num *b)
{
    if (a->is_int && b->is_int)
        return (a->i > b->i) - (a->i < b->i);
    if (a->is_int)
        return cmp_int_double(a->i, b->d);
    if (b->is_int)
        return -cmp_int_double(b->i, a->d);
    return (a->d > b->d) - (a->d < b->d);
}

/* A non-negative decimal m * 10^e with m < 2^64 and no trailing zeros in m. */
struct dec {
    unsigned long long m;
    int e;
};

static void dec_normalise(struct dec *d)
{
    if (!d->m) {
        d->e = 0;
        return;
    }
    while (d->m % 10 == 0) {
        d->m /= 10;
        d->e++;
    }
}

/* The shortest "%.*e" that reads back as x (x > 0), written into buf. */
static int shortest_e(double x, char *buf, size_t size)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*e", prec - 1, x);
        if (strtod(buf, NULL) == x)
            return prec;
    }
    return 17;
}

static void dec_from_double(double x, struct dec *out)
{
    x = fabs(x);
    out->m = 0;
    out->e = 0;
    if (x == 0 || !isfinite(x))
        return;
    char buf[64];
    int prec = shortest_e(x, buf, sizeof(buf));
    /* buf is "D.DDDDe[+-]XX" */
    unsigned long long m = 0;
    const char *p = buf;
    for (; *p && *p != 'e'; p++) {
        if (*p >= '0' && *p <= '9')
            m = m * 10 + (unsigned long long)(*p - '0');
    }
    int exp10 = *p == 'e' ? (int)strtol(p + 1, NULL, 10) : 0;
    out->m = m;
    out->e = exp10 - (prec - 1);
    dec_normalise(out);
}

static void dec_from_num(const struct sk_num *n, struct dec *out)
{
    if (n->is_int) {
        out->m = n->i < 0 ? 0ULL - (unsigned long long)n->i : (unsigned long long)n->i;
        out->e = 0;
        dec_normalise(out);
    } else {
        dec_from_double(n->d, out);
    }
}

static unsigned long long mulmod(unsigned long long a, unsigned long long b, unsigned long long m)
{
    return (unsigned long long)(((unsigned __int128)a * b) % m);
}

static unsigned long long pow10mod(int k, unsigned long long m)
{
    unsigned long long result = 1 % m, base = 10 % m;
    while (k > 0) {
        if (k & 1)
            result = mulmod(result, base, m);
        base = mulmod(base, base, m);
        k >>= 1;
    }
    return result;
}

bool sk_num_multiple_of(const struct sk_num *value, const struct sk_num *divisor)
{
    if (value->is_int && divisor->is_int && divisor->i > 0)
        return value->i % divisor->i == 0;
    if (!value->is_int && !isfinite(value->d))
        return false;
    struct dec v, d;
    dec_from_num(value, &v);
    dec_from_num(divisor, &d);
    if (!v.m)
        return true;
    if (!d.m)
        return false;
    int k = v.e - d.e;
    if (k >= 0)
        return mulmod(v.m % d.m, pow10mod(k, d.m), d.m) == 0;
    if (-k > 19)
        return false;
    unsigned long long p = 1;
    for (int i = 0; i < -k; i++)
        p *= 10;
    if (v.m % p)
        return false;
    return (v.m / p) % d.m == 0;
}

void sk_num_format(const struct sk_num *n, char *buf, size_t size)
{
    if (n->is_int) {
        snprintf(buf, size, "%lld", n->i);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, n->d);
        if (strtod(buf, NULL) == n->d)
            return;
    }
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 31;
    h *= 0x9e3779b97f4a7c15ULL;
    h ^= h >> 29;
    return h;
}

static uint64_t hash_rec(const json_t *v, unsigned depth)
{
    if (depth > SK_JSON_MAX_DEPTH)
        return 0x5eed; /* deeper parts only cost collisions, never a wrong answer */
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        uint64_t h = 0x51ed27;
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val)
        {
            /* order-independent: sum of per-member hashes */
            h += mix(sk_hash_bytes(key, strlen(key)) ^ (hash_rec(val, depth + 1) * 31));
        }
        return mix(h);
    }
    case JSON_ARRAY: {
        uint64_t h = 0xa77a7;
        for (size_t i = 0; i < json_array_size(v); i++)
            h = mix(h * 31 + hash_rec(json_array_get(v, i), depth + 1));
        return h;
    }
    case JSON_STRING:
        return sk_hash_bytes(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return mix((uint64_t)json_integer_value(v) ^ 0x1234);
    case JSON_REAL: {
        double d = json_real_value(v);
        if (d == floor(d) && d >= -9.2e18 && d <= 9.2e18)
            return mix((uint64_t)(long long)d ^ 0x1234);
        uint64_t bits;
        memcpy(&bits, &d, sizeof(bits));
        return mix(bits);
    }
    case JSON_TRUE:
        return 0x7777;
    case JSON_FALSE:
        return 0x8888;
    case JSON_NULL:
        return 0x9999;
    }
    return 0;
}

uint64_t sk_json_hash(const json_t *v)
{
    return hash_rec(v, 0);
}

static bool equal_rec(const json_t *a, const json_t *b, unsigned depth, bool *too_deep)
{
    if (json_is_number(a) && json_is_number(b)) {
        struct sk_num x, y;
        sk_num_from_json(a, &x);
        sk_num_from_json(b, &y);
        return sk_num_cmp(&x, &y) == 0;
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (depth > SK_JSON_MAX_DEPTH && (json_is_object(a) || json_is_array(a))) {
        *too_deep = true;
        return false;
    }
    switch (json_typeof(a)) {
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *key;
        json_t *va;
        json_object_foreach((json_t *)a, key, va)
        {
            size_t klen = json_object_iter_key_len(json_object_key_to_iter(key));
            json_t *vb = json_object_getn(b, key, klen);
            if (!vb || !equal_rec(va, vb, depth + 1, too_deep))
                return false;
        }
        return true;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return false;
        for (size_t i = 0; i < n; i++) {
            if (!equal_rec(json_array_get(a, i), json_array_get(b, i), depth + 1, too_deep))
                return false;
        }
        return true;
    }
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    default: /* true, false, null */
        return true;
    }
}

bool sk_json_equal(const json_t *a, const json_t *b, bool *too_deep)
{
    return equal_rec(a, b, 0, too_deep);
}

size_t sk_utf8_length(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}
