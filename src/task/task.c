/* Loading tasks from folders and zips into memory (task.h). The two sources share one
 * reader interface, so the rules about which files exist and what they hold live once. */
#include "task/task.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/units.h"
#include "util/uuid.h"
#include "util/xalloc.h"

/* Where files come from: a folder or an open zip with the prefix of the task's folder. */
struct source {
    const char *path;
    zip_t *zip;
    char *prefix;        /* "" or "dir/" inside the zip */
    uint64_t zip_budget; /* uncompressed bytes still allowed */
};

static int zip_read_entry(struct source *src, zip_int64_t idx, const char *rel, size_t max,
                          char **data, size_t *len, struct err *err)
{
    zip_stat_t st;
    if (zip_stat_index(src->zip, (zip_uint64_t)idx, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
        return err_set(err, E_INVALID, "%s: cannot read entry %s", src->path, rel);
    if (st.size > max || st.size > src->zip_budget)
        return err_set(err, E_TOO_LARGE, "%s: %s is %llu bytes, over the limit of %zu", src->path,
                       rel, (unsigned long long)st.size, max);
    zip_file_t *zf = zip_fopen_index(src->zip, (zip_uint64_t)idx, 0);
    if (!zf)
        return err_set(err, E_INVALID, "%s: cannot open %s: %s", src->path, rel,
                       zip_strerror(src->zip));
    char *buf = xmalloc((size_t)st.size + 1);
    zip_int64_t got = zip_fread(zf, buf, st.size);
    zip_fclose(zf);
    if (got < 0 || (zip_uint64_t)got != st.size) {
        free(buf);
        return err_set(err, E_INVALID, "%s: %s is corrupt or truncated", src->path, rel);
    }
    buf[st.size] = '\0';
    src->zip_budget -= st.size;
    *data = buf;
    *len = (size_t)st.size;
    return 0;
}

/* Reads the file `rel` of the task; -E_NOT_FOUND when it does not exist. */
static int source_read(struct source *src, const char *rel, size_t max, char **data, size_t *len,
                       struct err *err)
{
    if (!src->zip) {
        char *p = fs_path_join(src->path, rel);
        int rc = fs_read_file(p, max, data, len, err);
        free(p);
        return rc;
    }
    char *name = xasprintf("%s%s", src->prefix, rel);
    zip_int64_t idx = zip_name_locate(src->zip, name, 0);
    free(name);
    if (idx < 0)
        return err_set(err, E_NOT_FOUND, "%s: no %s in the archive", src->path, rel);
    return zip_read_entry(src, idx, rel, max, data, len, err);
}

static bool has_json_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".json") == 0 && name[0] != '.';
}

/* Lists tests/ *.json (base names, sorted). A missing tests/ is an empty list. */
static int source_list_tests(struct source *src, char ***names, size_t *count, struct err *err)
{
    *names = NULL;
    *count = 0;
    if (!src->zip) {
        char *dir = fs_path_join(src->path, "tests");
        if (!fs_is_dir(dir)) {
            free(dir);
            return 0;
        }
        char **all;
        size_t n;
        int rc = fs_list_dir(dir, &all, &n, err);
        if (rc < 0) {
            free(dir);
            return rc;
        }
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            char *p = fs_path_join(dir, all[i]);
            if (has_json_suffix(all[i]) && fs_is_file(p))
                all[kept++] = all[i];
            else
                free(all[i]);
            free(p);
        }
        free(dir);
        *names = all;
        *count = kept;
        return 0;
    }
    char *tests_prefix = xasprintf("%stests/", src->prefix);
    size_t plen = strlen(tests_prefix), cap = 0;
    zip_int64_t n = zip_get_num_entries(src->zip, 0);
    for (zip_int64_t i = 0; i < n; i++) {
        const char *ename = zip_get_name(src->zip, (zip_uint64_t)i, 0);
        if (!ename || strncmp(ename, tests_prefix, plen) != 0)
            continue;
        const char *base = ename + plen;
        if (strchr(base, '/') || !has_json_suffix(base))
            continue;
        *names = xgrow(*names, &cap, *count + 1, sizeof(char *));
        (*names)[(*count)++] = xstrdup(base);
    }
    free(tests_prefix);
    /* Zip order is arbitrary: sort like the folder listing. */
    for (size_t i = 1; i < *count; i++)
        for (size_t j = i; j > 0 && strcmp((*names)[j - 1], (*names)[j]) > 0; j--) {
            char *t = (*names)[j];
            (*names)[j] = (*names)[j - 1];
            (*names)[j - 1] = t;
        }
    return 0;
}

static bool zip_name_is_safe(const char *name)
{
    if (name[0] == '/' || name[0] == '\\' || strchr(name, '\\'))
        return false;
    for (const char *p = name; *p;) {
        const char *slash = strchr(p, '/');
        size_t seg = slash ? (size_t)(slash - p) : strlen(p);
        if (seg == 2 && p[0] == '.' && p[1] == '.')
            return false;
        if (!slash)
            break;
        p = slash + 1;
    }
    return true;
}

/* Opens a zip and finds the folder holding metadata.json (root or exactly one folder). */
static int source_open_zip(struct source *src, struct err *err)
{
    int zerr = 0;
    src->zip = zip_open(src->path, ZIP_RDONLY, &zerr);
    if (!src->zip) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        int rc = err_set(err, E_INVALID, "%s: not a readable zip archive: %s", src->path,
                         zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return rc;
    }
    src->zip_budget = TASK_MAX_ZIP_BYTES;
    zip_int64_t n = zip_get_num_entries(src->zip, 0);
    char *found = NULL;
    int rc = 0;
    for (zip_int64_t i = 0; i < n && rc == 0; i++) {
        const char *name = zip_get_name(src->zip, (zip_uint64_t)i, 0);
        if (!name)
            continue;
        if (!zip_name_is_safe(name)) {
            rc = err_set(err, E_INVALID, "%s: unsafe entry name \"%s\" in the archive", src->path,
                         name);
            break;
        }
        const char *base = strrchr(name, '/');
        base = base ? base + 1 : name;
        if (strcmp(base, "metadata.json") != 0)
            continue;
        size_t depth = 0;
        for (const char *p = name; *p; p++)
            depth += *p == '/';
        if (depth > 1)
            continue;
        char *prefix = xstrndup(name, (size_t)(base - name));
        if (found && strcmp(found, prefix) != 0) {
            if (found[0] != '\0' && prefix[0] != '\0')
                rc = err_set(err, E_INVALID,
                             "%s: more than one folder holds a metadata.json (%s and %s)",
                             src->path, found, prefix);
            /* A root metadata.json wins over one in a folder. */
            if (prefix[0] == '\0') {
                free(found);
                found = prefix;
                prefix = NULL;
            }
            free(prefix);
            continue;
        }
        free(found);
        found = prefix;
    }
    if (rc == 0 && !found)
        rc = err_set(err, E_NOT_FOUND,
                     "%s: no metadata.json at the archive root or in a folder at its root",
                     src->path);
    src->prefix = found ? found : xstrdup("");
    return rc;
}

static int parse_json_file(struct source *src, const char *rel, json_t **out, struct err *err)
{
    char *data = NULL;
    size_t len = 0;
    int rc = source_read(src, rel, TASK_MAX_JSON_BYTES, &data, &len, err);
    if (rc < 0)
        return rc;
    rc = jsonx_parse(data, len, out, err);
    if (rc < 0)
        err_prefix(err, "%s", rel);
    free(data);
    return rc;
}

static int metadata_string(const json_t *meta, const char *key, const char *file, char **out,
                           struct err *err)
{
    json_t *v = json_object_get(meta, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return err_set(err, E_INVALID, "%s: \"%s\" must be a string, not %s", file, key,
                       jsonx_type_name(v));
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return err_set(err, E_INVALID, "%s: \"%s\" contains a NUL character", file, key);
    *out = xstrdup(s);
    return 0;
}

static const struct {
    const char *name;
    enum task_fetch_mode mode;
} fetch_modes[] = {
    {"auto", TASK_FETCH_AUTO},
    {"sync", TASK_FETCH_SYNC},
    {"standard", TASK_FETCH_STANDARD},
};

static int apply_limits(struct task *t, const json_t *meta, const char *file, struct err *err)
{
    json_t *v = json_object_get(meta, "timeout");
    if (v && !json_is_null(v)) {
        long long ms = 0;
        if (json_is_string(v)) {
            int64_t d;
            if (units_parse_duration_ms(json_string_value(v), 1, "timeout", &d, err) < 0)
                return err_prefix(err, "%s", file);
            ms = d;
        } else if (jsonx_int(meta, "timeout", &ms) < 0) {
            return err_set(err, E_INVALID,
                           "%s: \"timeout\" must be a whole number of milliseconds, not %s", file,
                           jsonx_type_name(v));
        }
        if (ms <= 0)
            return err_set(err, E_INVALID, "%s: \"timeout\" must be positive (milliseconds)", file);
        t->timeout_ms = ms;
    }
    v = json_object_get(meta, "memory_limit");
    if (v && !json_is_null(v)) {
        uint64_t bytes = 0;
        long long n;
        if (json_is_string(v)) {
            if (units_parse_size(json_string_value(v), "memory_limit", &bytes, err) < 0)
                return err_prefix(err, "%s", file);
        } else if (jsonx_int(meta, "memory_limit", &n) == 0 && n > 0) {
            bytes = (uint64_t)n;
        } else {
            return err_set(err, E_INVALID, "%s: \"memory_limit\" must be a size such as \"128MB\"",
                           file);
        }
        if (bytes < (1u << 20))
            return err_set(err, E_INVALID, "%s: \"memory_limit\" must be at least 1MB", file);
        t->memory_limit_bytes = bytes;
    }
    v = json_object_get(meta, "fetch");
    if (v && !json_is_null(v)) {
        const char *s = json_string_value(v);
        for (size_t i = 0; s && i < sizeof(fetch_modes) / sizeof(fetch_modes[0]); i++)
            if (strcmp(s, fetch_modes[i].name) == 0) {
                t->fetch_mode = fetch_modes[i].mode;
                return 0;
            }
        return err_set(err, E_INVALID, "%s: \"fetch\" must be \"sync\", \"standard\" or \"auto\"",
                       file);
    }
    return 0;
}

int task_apply_metadata(struct task *t, const json_t *meta, const char *file, struct err *err)
{
    if (!meta)
        return err_set(err, E_INVALID, "%s: missing (a JSON object is needed)", file);
    if (!json_is_object(meta))
        return err_set(err, E_INVALID, "%s: must be a JSON object, not %s", file,
                       jsonx_type_name(meta));
    char *name = NULL, *label = NULL, *version = NULL, *uuid = NULL, *desc = NULL;
    int rc = metadata_string(meta, "name", file, &name, err);
    if (rc == 0)
        rc = metadata_string(meta, "label", file, &label, err);
    if (rc == 0)
        rc = metadata_string(meta, "version", file, &version, err);
    if (rc == 0)
        rc = metadata_string(meta, "uuid", file, &uuid, err);
    if (rc == 0)
        rc = metadata_string(meta, "description", file, &desc, err);
    if (rc < 0)
        goto out;
    if ((!name || !*name) && (!label || !*label)) {
        rc = err_set(err, E_INVALID, "%s: missing \"name\" (or \"label\")", file);
        goto out;
    }
    if (!version || !*version) {
        rc = err_set(err, E_INVALID, "%s: missing \"version\" (a string such as \"1.0.0\")", file);
        goto out;
    }
    if (uuid && !uuid_is_valid(uuid)) {
        rc = err_set(err, E_INVALID, "%s: \"uuid\" is not a UUID: \"%s\"", file, uuid);
        goto out;
    }
    free(t->name);
    free(t->label);
    free(t->version);
    free(t->uuid);
    free(t->description);
    t->name = xstrdup(name && *name ? name : label);
    t->label = xstrdup(label && *label ? label : name);
    t->version = version;
    version = NULL;
    if (uuid) {
        for (char *p = uuid; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        t->uuid = uuid;
        uuid = NULL;
    } else {
        t->uuid = xmalloc(UUID_STR_LEN);
        uuid_v5(RATCHET_TASK_NAMESPACE, t->name, t->uuid);
    }
    t->description = desc ? desc : xstrdup("");
    desc = NULL;
    json_decref(t->metadata);
    t->metadata = json_deep_copy(meta);
    rc = apply_limits(t, meta, file, err);
out:
    free(name);
    free(label);
    free(version);
    free(uuid);
    free(desc);
    return rc;
}

static void checksum_add(EVP_MD_CTX *md, const char *name, const char *data, size_t len)
{
    char head[64];
    int n = snprintf(head, sizeof(head), "%zu:%zu:", strlen(name), len);
    EVP_DigestUpdate(md, head, (size_t)n);
    EVP_DigestUpdate(md, name, strlen(name));
    EVP_DigestUpdate(md, data, len);
}

/* SHA-256 over the task's content in a fixed order (metadata as loaded, code, schemas, tests). */
static void compute_checksum(struct task *t)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    char *meta = jsonx_dumps(t->metadata);
    checksum_add(md, "metadata.json", meta, strlen(meta));
    free(meta);
    checksum_add(md, "main.js", t->code, t->code_len);
    const json_t *schemas[2] = {t->input_schema, t->output_schema};
    const char *names[2] = {"input.schema.json", "output.schema.json"};
    for (int i = 0; i < 2; i++) {
        if (!schemas[i])
            continue;
        char *s = json_dumps(schemas[i], JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        checksum_add(md, names[i], s, strlen(s));
        free(s);
    }
    for (size_t i = 0; i < t->ntests; i++)
        checksum_add(md, t->tests[i].name, t->tests[i].data, t->tests[i].len);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_DigestFinal_ex(md, digest, &dlen);
    EVP_MD_CTX_free(md);
    for (unsigned int i = 0; i < dlen && i < 32; i++)
        snprintf(t->checksum + 2 * i, 3, "%02x", digest[i]);
}

static int load_optional_schema(struct source *src, const char *rel, json_t **out, struct err *err)
{
    int rc = parse_json_file(src, rel, out, err);
    if (rc == -E_NOT_FOUND) {
        *out = NULL;
        return 0;
    }
    if (rc == 0 && !json_is_object(*out) && !json_is_boolean(*out)) {
        rc = err_set(err, E_INVALID, "%s: a JSON Schema must be an object or a boolean, not %s",
                     rel, jsonx_type_name(*out));
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

static int load_tests(struct source *src, struct task *t, struct err *err)
{
    char **names = NULL;
    size_t n = 0;
    int rc = source_list_tests(src, &names, &n, err);
    if (rc < 0)
        return rc;
    if (n > TASK_MAX_TESTS) {
        rc = err_set(err, E_TOO_LARGE, "tests/: %zu test files, over the limit of %d", n,
                     TASK_MAX_TESTS);
        goto out;
    }
    t->tests = xcalloc(n ? n : 1, sizeof(*t->tests));
    for (size_t i = 0; i < n; i++) {
        char *rel = xasprintf("tests/%s", names[i]);
        struct task_file *f = &t->tests[t->ntests];
        rc = source_read(src, rel, TASK_MAX_JSON_BYTES, &f->data, &f->len, err);
        free(rel);
        if (rc < 0)
            goto out;
        f->name = xstrdup(names[i]);
        t->ntests++;
    }
out:
    fs_free_names(names, n);
    return rc;
}

static int load_from_source(struct source *src, struct task *t, struct err *err)
{
    json_t *meta = NULL;
    int rc = parse_json_file(src, "metadata.json", &meta, err);
    if (rc == -E_NOT_FOUND)
        return err_set(err, E_NOT_FOUND, "%s: not a task: no metadata.json", src->path);
    if (rc < 0)
        return err_prefix(err, "%s", src->path);
    rc = task_apply_metadata(t, meta, "metadata.json", err);
    json_decref(meta);
    if (rc < 0)
        return err_prefix(err, "%s", src->path);
    rc = source_read(src, "main.js", TASK_MAX_CODE_BYTES, &t->code, &t->code_len, err);
    if (rc == -E_NOT_FOUND)
        return err_set(err, E_NOT_FOUND, "%s: no main.js (the task's code)", src->path);
    if (rc < 0)
        return rc;
    if (strlen(t->code) != t->code_len)
        return err_set(err, E_INVALID, "%s: main.js contains a NUL byte", src->path);
    rc = load_optional_schema(src, "input.schema.json", &t->input_schema, err);
    if (rc == 0)
        rc = load_optional_schema(src, "output.schema.json", &t->output_schema, err);
    if (rc == 0)
        rc = load_tests(src, t, err);
    if (rc < 0 && !strstr(err ? err->msg : "", src->path))
        err_prefix(err, "%s", src->path);
    return rc;
}

int task_load(const char *path, struct task **out, struct err *err)
{
    *out = NULL;
    struct source src = {.path = path};
    struct task *t = xcalloc(1, sizeof(*t));
    t->source = xstrdup(path);
    int rc = 0;
    if (fs_is_dir(path)) {
        rc = load_from_source(&src, t, err);
    } else if (fs_is_file(path)) {
        t->from_zip = true;
        rc = source_open_zip(&src, err);
        if (rc == 0)
            rc = load_from_source(&src, t, err);
    } else {
        rc = err_set(err, E_NOT_FOUND, "%s: no such task folder or .zip", path);
    }
    if (src.zip)
        zip_discard(src.zip);
    free(src.prefix);
    if (rc < 0) {
        task_free(t);
        return rc;
    }
    compute_checksum(t);
    *out = t;
    return 0;
}

int task_from_parts(const struct task_parts *parts, struct task **out, struct err *err)
{
    *out = NULL;
    struct task *t = xcalloc(1, sizeof(*t));
    int rc = task_apply_metadata(t, parts->metadata, "metadata", err);
    if (rc == 0 && parts->code_len > TASK_MAX_CODE_BYTES)
        rc = err_set(err, E_TOO_LARGE, "code is %zu bytes, over the limit of %u", parts->code_len,
                     TASK_MAX_CODE_BYTES);
    if (rc == 0 && (!parts->code || memchr(parts->code, '\0', parts->code_len)))
        rc = err_set(err, E_INVALID, "code is missing or contains a NUL byte");
    if (rc < 0) {
        task_free(t);
        return rc;
    }
    t->code = xstrndup(parts->code, parts->code_len);
    t->code_len = parts->code_len;
    t->input_schema = parts->input_schema ? json_deep_copy(parts->input_schema) : NULL;
    t->output_schema = parts->output_schema ? json_deep_copy(parts->output_schema) : NULL;
    t->tests = xcalloc(1, sizeof(*t->tests));
    compute_checksum(t);
    *out = t;
    return 0;
}

void task_free(struct task *t)
{
    if (!t)
        return;
    free(t->source);
    free(t->name);
    free(t->label);
    free(t->version);
    free(t->uuid);
    free(t->description);
    json_decref(t->metadata);
    free(t->code);
    json_decref(t->input_schema);
    json_decref(t->output_schema);
    for (size_t i = 0; i < t->ntests; i++) {
        free(t->tests[i].name);
        free(t->tests[i].data);
    }
    free(t->tests);
    free(t);
}
