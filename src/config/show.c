/*
 * Rendering from the key table: the effective configuration (`config show`), a commented
 * file of defaults (`config generate`) and the Markdown key reference in
 * docs/configuration.md. All three walk cfg_keys in order, so a key added to the table
 * appears everywhere.
 */
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "util/err.h"
#include "util/strbuf.h"
#include "util/version.h"
#include "util/xalloc.h"

static bool is_real_key(const struct cfg_key *k)
{
    return k->type != CFG_ALIAS && k->type != CFG_IGNORED;
}

/* Number of leading dotted segments a and b share. */
static int common_segments(const char *a, const char *b)
{
    int n = 0;
    for (size_t i = 0;; i++) {
        if (a[i] != b[i])
            return n;
        if (a[i] == '.')
            n++;
        if (a[i] == '\0')
            return n;
    }
}

static int count_segments(const char *path)
{
    int n = 1;
    for (const char *p = path; *p; p++)
        n += *p == '.';
    return n;
}

/* The i-th segment of path (pointer and length). */
static const char *segment(const char *path, int i, size_t *len)
{
    const char *p = path;
    for (int s = 0; s < i; s++)
        p = strchr(p, '.') + 1;
    *len = strcspn(p, ".");
    return p;
}

static bool in_section(const struct cfg_key *k, const char *section)
{
    size_t len = section ? strlen(section) : 0;
    return !section || (strncmp(k->path, section, len) == 0 && k->path[len] == '.');
}

/* Opens the YAML mappings leading to k's leaf (those not already open after prev) and
 * returns the leaf's indentation. */
static int open_sections(const char *prev, const struct cfg_key *k, struct strbuf *out,
                         bool blank_line)
{
    int depth = count_segments(k->path) - 1;
    int shared = prev ? common_segments(prev, k->path) : 0;
    if (shared > depth)
        shared = depth;
    if (blank_line && shared == 0 && prev)
        strbuf_addch(out, '\n');
    for (int s = shared; s < depth; s++) {
        size_t len;
        const char *seg = segment(k->path, s, &len);
        strbuf_addf(out, "%*s%.*s:\n", s * 2, "", (int)len, seg);
    }
    return depth * 2;
}

static void leaf(const struct cfg_key *k, struct strbuf *out, int indent)
{
    size_t len;
    const char *name = segment(k->path, count_segments(k->path) - 1, &len);
    strbuf_addf(out, "%*s%.*s: ", indent, "", (int)len, name);
}

/* "file ratchet.yaml:3", "env RATCHET_SERVER_PORT", "flag", "default" */
static void source_comment(const struct config *cfg, const struct cfg_key *k, struct strbuf *out)
{
    size_t i = cfg_index(k);
    enum config_source src = cfg->meta->src[i];
    if (src == CONFIG_SRC_DEFAULT || src == CONFIG_SRC_FLAG || !cfg->meta->origin[i])
        strbuf_addf(out, "  # %s", config_source_name(src));
    else
        strbuf_addf(out, "  # %s %s", config_source_name(src), cfg->meta->origin[i]);
}

static void show_yaml(const struct config *cfg, const char *section, struct strbuf *out)
{
    const char *prev = NULL;
    strbuf_addf(out, "# Effective Ratchet %s configuration; each value's source follows it.\n",
                RATCHET_VERSION);
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (!is_real_key(k) || !in_section(k, section))
            continue;
        int indent = open_sections(prev, k, out, false);
        leaf(k, out, indent);
        if (k->type == CFG_OBJLIST) {
            struct strbuf items = STRBUF_INIT;
            cfg_render_yaml(k, cfg, indent + 2, &items);
            if (items.buf[0] == '\n') {
                strbuf_setlen(out, out->len - 1); /* the blank after "key:" */
                source_comment(cfg, k, out);
                strbuf_adds(out, items.buf);
            } else {
                strbuf_adds(out, items.buf);
                source_comment(cfg, k, out);
            }
            strbuf_release(&items);
        } else {
            cfg_render_yaml(k, cfg, indent + 2, out);
            source_comment(cfg, k, out);
        }
        strbuf_addch(out, '\n');
        prev = k->path;
    }
}

/* Sets value at a dotted path in a tree of JSON objects. */
static void json_set_path(json_t *root, const char *path, json_t *value)
{
    json_t *node = root;
    int n = count_segments(path);
    for (int s = 0; s < n - 1; s++) {
        size_t len;
        const char *seg = segment(path, s, &len);
        char *name = xstrndup(seg, len);
        json_t *child = json_object_get(node, name);
        if (!child) {
            child = json_object();
            json_object_set_new(node, name, child);
        }
        free(name);
        node = child;
    }
    size_t len;
    const char *seg = segment(path, n - 1, &len);
    char *name = xstrndup(seg, len);
    json_object_set_new(node, name, value);
    free(name);
}

int config_show(const struct config *cfg, enum config_format format, const char *section,
                struct strbuf *out, struct err *err)
{
    if (section && !cfg_is_section(cfg_keys, cfg_nkeys, section))
        return err_set(err, E_USAGE, "config: no section \"%s\"", section);
    if (format == CONFIG_FORMAT_YAML) {
        show_yaml(cfg, section, out);
        return 0;
    }
    json_t *root = json_object();
    for (size_t i = 0; i < cfg_nkeys; i++)
        if (is_real_key(&cfg_keys[i]) && in_section(&cfg_keys[i], section))
            json_set_path(root, cfg_keys[i].path, cfg_render_json(&cfg_keys[i], cfg));
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    strbuf_adds(out, s);
    strbuf_addch(out, '\n');
    free(s);
    json_decref(root);
    return 0;
}

/* "RATCHET_SERVER_DATABASE_URL, RATCHET_DATABASE_URL" */
static void env_names(const struct cfg_key *k, struct strbuf *out)
{
    char *canon = config_env_name(k->path);
    strbuf_adds(out, canon);
    free(canon);
    for (const char *p = k->env; p && *p;) {
        size_t len = strcspn(p, " ");
        strbuf_addf(out, ", %.*s", (int)len, p);
        p += len + (p[len] == ' ');
    }
}

void config_generate(struct strbuf *out)
{
    struct config *defaults = config_new();
    const char *prev = NULL;
    strbuf_addf(out,
                "# Ratchet %s configuration: every key with its default.\n"
                "# Precedence: defaults < this file (--config) < RATCHET_* environment "
                "variables < flags.\n"
                "# Unknown keys are errors. Durations take units (500ms, 30s, 5m, 1h); sizes "
                "too (512KB, 128MB).\n"
                "# Reference: docs/configuration.md\n",
                RATCHET_VERSION);
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (!is_real_key(k))
            continue;
        int indent = open_sections(prev, k, out, true);
        struct strbuf line = STRBUF_INIT;
        strbuf_addf(&line, "%*s# %s\n%*s# ", indent, "", k->doc, indent, "");
        cfg_describe_type(k, &line);
        strbuf_adds(&line, "; env ");
        env_names(k, &line);
        strbuf_addch(&line, '\n');
        strbuf_adds(out, line.buf);
        strbuf_release(&line);
        leaf(k, out, indent);
        cfg_render_yaml(k, defaults, indent + 2, out);
        strbuf_addch(out, '\n');
        prev = k->path;
    }
    config_free(defaults);
}

static void md_escape(const char *s, struct strbuf *out)
{
    for (; *s; s++) {
        if (*s == '|')
            strbuf_adds(out, "\\|");
        else
            strbuf_addch(out, *s);
    }
}

void config_reference_markdown(struct strbuf *out)
{
    struct config *defaults = config_new();
    size_t prev_len = 0;
    const char *prev = NULL;
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (!is_real_key(k))
            continue;
        size_t seclen = strcspn(k->path, ".");
        if (!prev || prev_len != seclen || strncmp(prev, k->path, seclen) != 0) {
            strbuf_addf(out,
                        "%s### `%.*s`\n\n| key | type | default | environment | "
                        "description |\n|---|---|---|---|---|\n",
                        prev ? "\n" : "", (int)seclen, k->path);
            prev = k->path;
            prev_len = seclen;
        }
        struct strbuf type = STRBUF_INIT, def = STRBUF_INIT, env = STRBUF_INIT;
        cfg_describe_type(k, &type);
        cfg_render_yaml(k, defaults, 0, &def);
        env_names(k, &env);
        strbuf_addf(out, "| `%s` | ", k->path);
        md_escape(type.buf, out);
        strbuf_adds(out, " | `");
        md_escape(def.buf, out);
        strbuf_adds(out, "` | ");
        md_escape(env.buf, out);
        strbuf_adds(out, " | ");
        md_escape(k->doc, out);
        strbuf_adds(out, " |\n");
        strbuf_release(&type);
        strbuf_release(&def);
        strbuf_release(&env);
        if (k->type == CFG_OBJLIST) {
            strbuf_addf(out,
                        "\nFields of each `%s` item:\n\n| field | type | default | "
                        "description |\n|---|---|---|---|\n",
                        k->path);
            for (size_t j = 0; j < k->nitems; j++) {
                const struct cfg_key *ik = &k->items[j];
                if (ik->type == CFG_ALIAS) {
                    strbuf_addf(out, "| `%s` | alias of `%s` | | |\n", ik->path, ik->def);
                    continue;
                }
                if (ik->type == CFG_IGNORED) {
                    strbuf_addf(out, "| `%s` | ignored | | %s |\n", ik->path, ik->doc);
                    continue;
                }
                struct strbuf t = STRBUF_INIT;
                cfg_describe_type(ik, &t);
                strbuf_addf(out, "| `%s` | ", ik->path);
                md_escape(t.buf, out);
                strbuf_addf(out, " | %s%s%s | ", ik->flags & CFG_REQUIRED ? "required" : "`",
                            ik->flags & CFG_REQUIRED ? "" : (ik->def ? ik->def : ""),
                            ik->flags & CFG_REQUIRED ? "" : "`");
                md_escape(ik->doc, out);
                strbuf_adds(out, " |\n");
                strbuf_release(&t);
            }
            strbuf_addch(out, '\n');
        }
    }
    strbuf_adds(out, "\n### Other spellings (aliases)\n\nAccepted in files and flags; "
                     "`config show` prints the key on the right.\n\n| alias | key |\n|---|---|\n");
    for (size_t i = 0; i < cfg_nkeys; i++)
        if (cfg_keys[i].type == CFG_ALIAS)
            strbuf_addf(out, "| `%s` | `%s`%s |\n", cfg_keys[i].path, cfg_keys[i].def,
                        cfg_keys[i].unit_ms == 1000    ? " (a bare number counts seconds)"
                        : cfg_keys[i].unit_ms == 60000 ? " (a bare number counts minutes)"
                                                       : "");
    strbuf_adds(out, "\n### Keys of the original Ratchet that have no effect\n\nAccepted with a "
                     "warning, so an old file still loads; everything under them too.\n\n| key "
                     "| note |\n|---|---|\n");
    for (size_t i = 0; i < cfg_nkeys; i++)
        if (cfg_keys[i].type == CFG_IGNORED)
            strbuf_addf(out, "| `%s` | %s |\n", cfg_keys[i].path, cfg_keys[i].doc);
    config_free(defaults);
}
