/*
 * Private to src/config/: the key table's shape, value parsing and rendering, and the
 * provenance kept beside a struct config.
 */
#ifndef RATCHET_CONFIG_INTERNAL_H
#define RATCHET_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "config/config.h"
#include "util/vec.h"

struct strbuf;

enum cfg_type {
    CFG_STR,
    CFG_INT,
    CFG_BOOL,
    CFG_DOUBLE,
    CFG_DURATION, /* stored in ms; a bare number counts in unit_ms */
    CFG_SIZE,     /* stored in bytes; "128MB", "64KiB", binary units */
    CFG_ENUM,     /* stored as int; names in values[] */
    CFG_STRLIST,  /* struct config_strlist */
    CFG_OBJLIST,  /* {T *v; size_t n;} of items described by items[] */
    CFG_JSON,     /* json_t *, any YAML value */
    CFG_ALIAS,    /* another spelling of the key at `def` (a bare number counts in unit_ms) */
    CFG_IGNORED,  /* a key (and everything under it) of the original that has no effect */
};

struct cfg_enum_val {
    const char *name;
    int value; /* several names may share a value; the first is the one shown */
};

#define CFG_REQUIRED   1u /* an item field that must be present */
#define CFG_SECRET_URL 2u /* mask the password of a URL when shown */

struct cfg_key {
    const char *path; /* dotted, relative to its table */
    enum cfg_type type;
    size_t off;      /* offset of the field in struct config or in the item struct */
    const char *def; /* default, as text the parser accepts; the target for CFG_ALIAS */
    const char *doc; /* one line */
    const char *env; /* extra (legacy) environment variable names, space-separated */
    int64_t min, max;
    double dmin, dmax;
    int64_t unit_ms;
    const struct cfg_enum_val *values; /* NULL-terminated */
    const struct cfg_key *items;       /* CFG_OBJLIST: the item table */
    size_t nitems, item_size;
    unsigned flags;
};

/* The root table and its size (keys.c). */
extern const struct cfg_key cfg_keys[];
extern const size_t cfg_nkeys;

/* Where each root key's value came from, and load warnings. */
struct config_meta {
    enum config_source *src; /* per cfg_keys index */
    char **origin;           /* owned: "ratchet.yaml:3", "RATCHET_SERVER_PORT", "flag" */
    VEC(char *) warnings;
};

/* Generic view of an object list field ({T *v; size_t n;}). */
struct cfg_list {
    void *v;
    size_t n;
};

/* ---- lookup (keys.c) ---- */

/* The key of table with this exact path (aliases resolved to their target, *alias set to
 * the alias entry or NULL), or NULL. */
const struct cfg_key *cfg_find(const struct cfg_key *table, size_t n, const char *path,
                               const struct cfg_key **alias);
/* The ignored entry path equals or is under, or NULL. */
const struct cfg_key *cfg_find_ignored(const struct cfg_key *table, size_t n, const char *path);
/* True if some entry's path starts with "path." (path names a section). */
bool cfg_is_section(const struct cfg_key *table, size_t n, const char *path);
/* The closest known path to path (edit distance), or NULL if none is close. */
const char *cfg_suggest(const struct cfg_key *table, size_t n, const char *path);
/* The root key whose environment variable is closest to name ("RATCHET_SERVER_PROT"). */
const char *cfg_suggest_env(const char *name);
size_t cfg_edit_distance(const char *a, const char *b); /* capped Levenshtein distance */
size_t cfg_index(const struct cfg_key *k);              /* index of a root key */

/* ---- values (value.c) ---- */

/* Parses text as k's type into the field at base + k->off; a bare duration counts in
 * unit_ms (k->unit_ms unless an alias says otherwise). On error returns -1 with what was
 * expected in why ("an integer from 0 to 65535"). */
int cfg_parse_text(const struct cfg_key *k, void *base, const char *text, int64_t unit_ms,
                   struct strbuf *why);
/* Frees what the field at base + k->off owns and zeroes it. */
void cfg_value_release(const struct cfg_key *k, void *base);
/* Releases every field of a table's struct (items included). */
void cfg_release_all(const struct cfg_key *table, size_t n, void *base);
/* Fills every field of a table's struct with its default. */
void cfg_set_defaults(const struct cfg_key *table, size_t n, void *base);
/* Appends the value as YAML (flow style for lists; block style for object lists, indented
 * by indent) or as JSON. */
void cfg_render_yaml(const struct cfg_key *k, const void *base, int indent, struct strbuf *out);
json_t *cfg_render_json(const struct cfg_key *k, const void *base);
/* "an integer from 0 to 65535", "a duration (30s, 5m; a bare number is seconds)" */
void cfg_describe_type(const struct cfg_key *k, struct strbuf *out);
/* "trace|debug|info" */
void cfg_enum_names(const struct cfg_enum_val *values, struct strbuf *out);
const char *cfg_enum_name(const struct cfg_enum_val *values, int value);
/* Printable UTF-8 (tab allowed, no other control characters, DEL, C1, U+FFFE/U+FFFF):
 * what can be shown as YAML or JSON and loaded back. */
bool cfg_printable(const char *s);
/* Copies a URL with the password masked; owned. */
char *cfg_mask_url(const char *url);

/* ---- YAML nodes (load.c) ---- */

struct cfg_loader {
    struct config *cfg;
    const char *file;  /* file name for "file:line", or NULL */
    const char *label; /* origin when there is no file: "RATCHET_X", "flag" */
    enum config_source src;
    yaml_document_t *doc;
    struct strbuf *errors;
    int nerrors;
    size_t visits;
};

void cfg_error(struct cfg_loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cfg_warn(struct config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
