/*
 * `ratchet config show|validate|generate`: the effective configuration, a check of a file
 * (exit 0 valid, 2 invalid with every problem listed), and a commented file of defaults.
 * Also cli_load_config, which every command uses to load its configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_config.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

extern char **environ;

static const char *config_path(const struct cli_args *args)
{
    const char *file = cli_get(args, "config-file");
    return file ? file : args->config_path;
}

int cli_load_config(const struct cli_args *args, struct config **out, struct err *err)
{
    struct config *cfg = config_new();
    const char *path = config_path(args);
    int rc = path ? config_load_file(cfg, path, err) : 0;
    if (rc == 0)
        rc = config_load_env(cfg, environ, err);
    if (rc == 0 && args->log_level)
        rc = config_set(cfg, "logging.level", args->log_level, err);
    if (rc == 0 && args->log_format)
        rc = config_set(cfg, "logging.format", args->log_format, err);
    for (size_t i = 0; rc == 0 && i < args->nopts; i++)
        if (strcmp(args->opts[i].name, "set") == 0)
            rc = config_set_kv(cfg, args->opts[i].value, err);
    if (rc == 0)
        rc = config_validate(cfg, err);
    if (rc < 0) {
        config_free(cfg);
        return rc;
    }
    /* The file may set logging too; flags and variables already won inside cfg. */
    log_configure((enum log_level)cfg->logging.level, (enum log_format)cfg->logging.format, NULL);
    for (size_t i = 0; i < config_warning_count(cfg); i++)
        log_warn("%s", config_warning(cfg, i));
    *out = cfg;
    return 0;
}

static int write_stdout(const char *s, size_t len, struct err *err)
{
    if (fwrite(s, 1, len, stdout) != len || fflush(stdout) != 0)
        return err_set(err, E_IO, "cannot write to standard output");
    return 0;
}

static int run_show(const struct cli_args *args, struct err *err)
{
    const char *fmt = cli_get(args, "format");
    const char *section = cli_flag(args, "mcp-only") ? "mcp" : cli_get(args, "section");
    enum config_format format = CONFIG_FORMAT_YAML;
    if (fmt && strcmp(fmt, "json") == 0)
        format = CONFIG_FORMAT_JSON;
    else if (fmt && strcmp(fmt, "yaml") != 0)
        return err_set(err, E_USAGE, "--format must be yaml or json, got \"%s\"", fmt);
    struct config *cfg = NULL;
    struct strbuf out = STRBUF_INIT;
    int rc = cli_load_config(args, &cfg, err);
    if (rc == 0)
        rc = config_show(cfg, format, section, &out, err);
    if (rc == 0)
        rc = write_stdout(out.buf, out.len, err);
    strbuf_release(&out);
    config_free(cfg);
    return rc;
}

static int run_validate(const struct cli_args *args, struct err *err)
{
    struct config *cfg = NULL;
    int rc = cli_load_config(args, &cfg, err);
    if (rc < 0)
        return rc;
    const char *path = config_path(args);
    printf("configuration is valid%s%s%s\n", path ? " (" : "", path ? path : "",
           path ? ")" : " (defaults and environment)");
    config_free(cfg);
    return 0;
}

static int run_generate(const struct cli_args *args, struct err *err)
{
    const char *output = cli_get(args, "output");
    struct strbuf out = STRBUF_INIT;
    config_generate(&out);
    int rc;
    if (!output) {
        rc = write_stdout(out.buf, out.len, err);
    } else if (fs_exists(output) && !cli_flag(args, "force")) {
        rc = err_set(err, E_USAGE, "%s already exists; use --force to replace it", output);
    } else {
        rc = fs_write_atomic(output, out.buf, out.len, 0644, err);
        if (rc == 0)
            fprintf(stderr, "wrote %s\n", output);
    }
    strbuf_release(&out);
    return rc;
}

/* Prints the Markdown key reference that docs/configuration.md embeds (hidden; test_config
 * checks the document is current). */
static int run_reference(const struct cli_args *args, struct err *err)
{
    struct strbuf out = STRBUF_INIT;
    config_reference_markdown(&out);
    int rc = write_stdout(out.buf, out.len, err);
    strbuf_release(&out);
    return rc;
}

static const struct cli_option no_options[] = {
    {NULL, 0, NULL, NULL},
};

static const struct cli_option show_options[] = {
    {"format", CLI_VALUE, "yaml|json", "output format (default yaml, with each value's source)"},
    {"section", CLI_VALUE, "NAME", "only this top-level section (server, mcp, ...)"},
    {"mcp-only", CLI_FLAG, NULL, "only the mcp section (the original's flag)"},
    {"config-file", CLI_VALUE, "FILE", "same as --config (the original's name)"},
    {"set", CLI_LIST, "KEY=VALUE", "override a key, as a flag"},
    {NULL, 0, NULL, NULL},
};

static const struct cli_option validate_options[] = {
    {"config-file", CLI_VALUE, "FILE", "same as --config (the original's name)"},
    {"set", CLI_LIST, "KEY=VALUE", "override a key, as a flag"},
    {NULL, 0, NULL, NULL},
};

static const struct cli_option generate_options[] = {
    {"output", CLI_VALUE, "FILE", "write to FILE instead of standard output"},
    {"force", CLI_FLAG, NULL, "replace FILE if it exists"},
    {NULL, 0, NULL, NULL},
};

const struct cli_command cmd_config_show = {
    .name = "config show",
    .summary = "print the effective configuration and where each value comes from",
    .details = "Loads defaults, then --config FILE, then RATCHET_* environment variables, then "
               "flags,\nand prints the result. Passwords in database URLs are masked.",
    .options = show_options,
    .run = run_show,
};

const struct cli_command cmd_config_validate = {
    .name = "config validate",
    .summary = "check a configuration file (exit 0 valid, 2 invalid)",
    .details = "Loads the configuration like `serve` would and lists every problem: unknown "
               "keys,\nvalues of the wrong type (with file:line), and cross-field conflicts.",
    .options = validate_options,
    .run = run_validate,
};

const struct cli_command cmd_config_generate = {
    .name = "config generate",
    .summary = "write a commented configuration file with every key and its default",
    .options = generate_options,
    .run = run_generate,
};

const struct cli_command cmd_config_reference = {
    .name = "config reference",
    .summary = "print the Markdown key reference of docs/configuration.md",
    .options = no_options,
    .run = run_reference,
    .hidden = true,
};
