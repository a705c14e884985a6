/*
 * Helpers over jansson (the JSON DOM used in C; JSON inside the VM is JSC's own).
 * Prefix jsonx_ keeps them apart from jansson's json_ names.
 */
#ifndef RATCHET_UTIL_JSON_H
#define RATCHET_UTIL_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct err;
struct strbuf;

/* Parses any JSON value (objects, arrays, scalars; "\u0000" allowed). Integers too big for
 * 64 bits are read as doubles rather than refused. On error returns -E_JSON with a message
 * naming line, column and byte offset: "malformed JSON at line 3, column 7 (byte 41): ...".
 * *out is a new reference the caller decrefs. */
int jsonx_parse(const char *buf, size_t len, json_t **out, struct err *err);
/* Compact serialisation of any value; returns an owned string. */
char *jsonx_dumps(const json_t *v);
/* Indented (2 spaces) serialisation, for people; returns an owned string. */
char *jsonx_dumps_pretty(const json_t *v);

/* JSON equality: numbers by value (1 equals 1.0), objects regardless of key order. */
bool jsonx_equal(const json_t *a, const json_t *b);
/* True if every key of `subset` (recursively, for objects) is in `whole` with an equal value;
 * arrays match when they have the same length and each element of `subset` is a subset of
 * the element at the same index (as jsonx_diff with subset compares them); scalars compare
 * with jsonx_equal. */
bool jsonx_is_subset(const json_t *subset, const json_t *whole);
/* The number as a double for integers and reals; false if v is not a number. */
bool jsonx_number(const json_t *v, double *out);

/* Borrowed lookups that return NULL / false when the key is missing or of another type. */
const char *jsonx_str(const json_t *obj, const char *key);
bool jsonx_bool(const json_t *obj, const char *key, bool fallback);
/* Integer (or integral real) at key; returns 0, -E_NOT_FOUND if absent, -E_INVALID if not an
 * integer. */
int jsonx_int(const json_t *obj, const char *key, long long *out);
/* Returns the first of the given keys present in obj (e.g. "input_data", "inputData"). */
json_t *jsonx_get_either(const json_t *obj, const char *key1, const char *key2);

/* Writes a readable difference of `actual` from `expected` into out, one line per
 * difference ("  /sum: expected 42, got 10", "  /name: missing (expected \"x\")",
 * "  /extra: unexpected 1"), at most max_lines lines (then "  ... N more"). With subset, keys
 * of actual objects that expected does not name are not differences. Returns the number of
 * differences (0 when equal). */
size_t jsonx_diff(const json_t *expected, const json_t *actual, bool subset, struct strbuf *out,
                  size_t max_lines);

/* Appends "/token" to a JSON Pointer, escaping '~' and '/' (RFC 6901). */
void jsonx_pointer_append(struct strbuf *ptr, const char *token);
void jsonx_pointer_append_index(struct strbuf *ptr, size_t index);
/* A short name of v's type for messages: "object", "array", "string", "number", ...;
 * "missing" for NULL. */
const char *jsonx_type_name(const json_t *v);

#endif
