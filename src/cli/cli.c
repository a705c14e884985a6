/* Command-line parsing, dispatch and help generated from the command table (cli.h). */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "util/err.h"
#include "util/log.h"
#include "util/version.h"
#include "util/xalloc.h"

static const struct cli_option global_options[] = {
    {"config", CLI_VALUE, "FILE", "configuration file (YAML)"},
    {"log-level", CLI_VALUE, "LEVEL", "trace, debug, info, warn or error (default: info)"},
    {"log-format", CLI_VALUE, "FORMAT", "text or json (default: text)"},
    {"help", CLI_FLAG, NULL, "show help"},
    {NULL, 0, NULL, NULL},
};

const char *cli_get(const struct cli_args *args, const char *name)
{
    const char *v = NULL;
    for (size_t i = 0; i < args->nopts; i++)
        if (strcmp(args->opts[i].name, name) == 0)
            v = args->opts[i].value;
    return v;
}

bool cli_flag(const struct cli_args *args, const char *name)
{
    for (size_t i = 0; i < args->nopts; i++)
        if (strcmp(args->opts[i].name, name) == 0)
            return true;
    return false;
}

int cli_get_long(const struct cli_args *args, const char *name, long fallback, long *out,
                 struct err *err)
{
    const char *v = cli_get(args, name);
    if (!v) {
        *out = fallback;
        return 0;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < 0)
        return err_set(err, E_USAGE, "--%s expects a non-negative integer, got \"%s\"", name, v);
    *out = n;
    return 0;
}

static const struct cli_option *find_option(const struct cli_option *opts, const char *name,
                                            size_t len)
{
    for (const struct cli_option *o = opts; o && o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

static const struct cli_command *find_command(const char *w1, const char *w2, int *words)
{
    char two[128];
    if (w2) {
        snprintf(two, sizeof(two), "%s %s", w1, w2);
        for (size_t i = 0; cli_commands[i]; i++)
            if (strcmp(cli_commands[i]->name, two) == 0) {
                *words = 2;
                return cli_commands[i];
            }
    }
    for (size_t i = 0; cli_commands[i]; i++)
        if (strcmp(cli_commands[i]->name, w1) == 0) {
            *words = 1;
            return cli_commands[i];
        }
    return NULL;
}

/* Is w1 the first word of some two-word command ("generate" of "generate task")? */
static bool is_command_group(const char *w1)
{
    size_t len = strlen(w1);
    for (size_t i = 0; cli_commands[i]; i++)
        if (strncmp(cli_commands[i]->name, w1, len) == 0 && cli_commands[i]->name[len] == ' ')
            return true;
    return false;
}

static void print_option(FILE *out, const struct cli_option *o)
{
    char left[64];
    if (o->metavar)
        snprintf(left, sizeof(left), "--%s %s", o->name, o->metavar);
    else
        snprintf(left, sizeof(left), "--%s", o->name);
    fprintf(out, "  %-28s %s%s\n", left, o->help, o->kind == CLI_LIST ? " (repeatable)" : "");
}

static void print_main_help(FILE *out)
{
    fprintf(out, "ratchet %s: run JavaScript tasks from the CLI, over HTTP, on a durable queue\n\n",
            RATCHET_VERSION);
    fprintf(out, "usage: ratchet <command> [options]\n\ncommands:\n");
    for (size_t i = 0; cli_commands[i]; i++)
        if (!cli_commands[i]->hidden)
            fprintf(out, "  %-20s %s\n", cli_commands[i]->name, cli_commands[i]->summary);
    fprintf(out, "\nglobal options:\n");
    for (const struct cli_option *o = global_options; o->name; o++)
        print_option(out, o);
    fprintf(out, "  %-28s %s\n", "--version", "print the version");
    fprintf(out, "\nexit codes: 0 success, 1 task or test failure, 2 usage or configuration "
                 "error\nRun 'ratchet <command> --help' for a command's options.\n");
}

static void print_group_help(FILE *out, const char *group)
{
    size_t len = strlen(group);
    fprintf(out, "usage: ratchet %s <subcommand> [options]\n\nsubcommands:\n", group);
    for (size_t i = 0; cli_commands[i]; i++)
        if (strncmp(cli_commands[i]->name, group, len) == 0 && cli_commands[i]->name[len] == ' ')
            fprintf(out, "  %-20s %s\n", cli_commands[i]->name + len + 1, cli_commands[i]->summary);
}

static void print_command_help(FILE *out, const struct cli_command *cmd)
{
    fprintf(out, "usage: ratchet %s%s%s [options]\n\n%s\n", cmd->name, cmd->usage ? " " : "",
            cmd->usage ? cmd->usage : "", cmd->summary);
    if (cmd->details)
        fprintf(out, "\n%s\n", cmd->details);
    if (cmd->options && cmd->options->name) {
        fprintf(out, "\noptions:\n");
        for (const struct cli_option *o = cmd->options; o->name; o++)
            print_option(out, o);
    }
    fprintf(out, "\nglobal options:\n");
    for (const struct cli_option *o = global_options; o->name; o++)
        print_option(out, o);
}

/* The CLI reference in Markdown, from the same tables --help uses (docs/cli.md). */
static void print_reference_markdown(FILE *out)
{
    fprintf(out, "# CLI reference\n\n<!-- generated by `ratchet --cli-reference`; do not edit "
                 "by hand -->\n\n");
    fprintf(out, "`ratchet <command> [options]`. Results go to stdout, logs to stderr. Exit "
                 "status: 0 success, 1 task or test failure, 2 usage or configuration error.\n\n"
                 "Global options (any command):\n\n");
    for (const struct cli_option *o = global_options; o->name; o++)
        fprintf(out, "- `--%s%s%s`: %s\n", o->name, o->metavar ? " " : "",
                o->metavar ? o->metavar : "", o->help);
    for (size_t i = 0; cli_commands[i]; i++) {
        const struct cli_command *c = cli_commands[i];
        if (c->hidden)
            continue;
        fprintf(out, "\n## `ratchet %s`\n\n%s.\n", c->name, c->summary);
        if (c->details)
            fprintf(out, "\n%s\n", c->details);
        if (c->options && c->options->name) {
            fprintf(out, "\n| option | meaning |\n|---|---|\n");
            for (const struct cli_option *o = c->options; o->name; o++)
                fprintf(out, "| `--%s%s%s` | %s%s |\n", o->name, o->metavar ? " " : "",
                        o->metavar ? o->metavar : "", o->help,
                        o->kind == CLI_LIST ? " (repeatable)" : "");
        }
    }
}

static void push_opt(struct cli_args *a, size_t *cap, const char *name, const char *value)
{
    a->opts = xgrow(a->opts, cap, a->nopts + 1, sizeof(*a->opts));
    a->opts[a->nopts++] = (struct cli_arg){name, value};
}

/* Parses argv[start..] against the command's options plus the global ones. */
static int parse_args(const struct cli_command *cmd, int argc, char **argv, int start,
                      struct cli_args *a, struct err *err)
{
    size_t ocap = 0, pcap = 0;
    bool only_positional = false;
    for (int i = start; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positional || arg[0] != '-' || strcmp(arg, "-") == 0) {
            a->positional = xgrow(a->positional, &pcap, a->npositional + 1, sizeof(char *));
            a->positional[a->npositional++] = argv[i];
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (strcmp(arg, "-h") == 0) {
            push_opt(a, &ocap, "help", NULL);
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            return err_set(err, E_USAGE, "unknown option '%s'%s%s", arg, cmd ? " for " : "",
                           cmd ? cmd->name : "");
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct cli_option *o = find_option(cmd ? cmd->options : NULL, name, nlen);
        if (!o)
            o = find_option(global_options, name, nlen);
        if (!o)
            return err_set(err, E_USAGE, "unknown option '--%.*s'%s%s (see 'ratchet %s--help')",
                           (int)nlen, name, cmd ? " for " : "", cmd ? cmd->name : "",
                           cmd ? cmd->name : "");
        const char *value = NULL;
        if (o->kind == CLI_FLAG) {
            if (eq)
                return err_set(err, E_USAGE, "option '--%s' takes no value", o->name);
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return err_set(err, E_USAGE, "option '--%s' needs a value (%s)", o->name,
                           o->metavar ? o->metavar : "VALUE");
        }
        push_opt(a, &ocap, o->name, value);
    }
    a->config_path = cli_get(a, "config");
    a->log_level = cli_get(a, "log-level");
    a->log_format = cli_get(a, "log-format");
    return 0;
}

static int configure_logging(const struct cli_args *a, struct err *err)
{
    enum log_level level = LOG_INFO;
    enum log_format format = LOG_FORMAT_TEXT;
    const char *lv = a->log_level ? a->log_level : getenv("RATCHET_LOG_LEVEL");
    const char *lf = a->log_format ? a->log_format : getenv("RATCHET_LOG_FORMAT");
    if (lv && *lv && log_level_parse(lv, &level) < 0)
        return err_set(err, E_USAGE,
                       "--log-level: unknown level \"%s\" (trace, debug, info, "
                       "warn, error, off)",
                       lv);
    if (lf && *lf && log_format_parse(lf, &format) < 0)
        return err_set(err, E_USAGE, "--log-format: unknown format \"%s\" (text, json)", lf);
    log_configure(level, format, NULL);
    return 0;
}

int cli_main(int argc, char **argv)
{
    struct err err = {0};
    struct cli_args args = {0};
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        args.self_path = self;
    } else {
        args.self_path = argv[0];
    }

    /* Find the command: the first one or two words that are not options. */
    int first = 1;
    while (first < argc && argv[first][0] == '-') {
        if (strcmp(argv[first], "--version") == 0 || strcmp(argv[first], "-V") == 0) {
            printf("ratchet %s\n", RATCHET_VERSION);
            return 0;
        }
        if (strcmp(argv[first], "--help") == 0 || strcmp(argv[first], "-h") == 0) {
            print_main_help(stdout);
            return 0;
        }
        if (strcmp(argv[first], "--cli-reference") == 0) {
            print_reference_markdown(stdout);
            return 0;
        }
        /* A global option with a value before the command. */
        const char *name = argv[first] + 2;
        const struct cli_option *o = find_option(global_options, name, strcspn(name, "="));
        if (!o) {
            fprintf(stderr, "ratchet: unknown option '%s'\n", argv[first]);
            return 2;
        }
        first += (o->kind == CLI_VALUE && !strchr(name, '=')) ? 2 : 1;
    }
    if (first >= argc) {
        print_main_help(stderr);
        return 2;
    }
    int words = 0;
    const struct cli_command *cmd =
        find_command(argv[first], first + 1 < argc ? argv[first + 1] : NULL, &words);
    if (!cmd) {
        if (is_command_group(argv[first])) {
            bool help = first + 1 < argc && (strcmp(argv[first + 1], "--help") == 0 ||
                                             strcmp(argv[first + 1], "-h") == 0);
            if (!help && first + 1 < argc)
                fprintf(stderr, "ratchet: unknown subcommand '%s %s'\n\n", argv[first],
                        argv[first + 1]);
            print_group_help(help ? stdout : stderr, argv[first]);
            return help ? 0 : 2;
        }
        fprintf(stderr, "ratchet: unknown command '%s' (see 'ratchet --help')\n", argv[first]);
        return 2;
    }

    /* Parse everything but the command words (global options before it included). */
    char **rest = xmalloc(sizeof(char *) * (size_t)(argc + 1));
    int nrest = 0;
    for (int i = 1; i < argc; i++)
        if (i < first || i >= first + words)
            rest[nrest++] = argv[i];
    int rc = parse_args(cmd, nrest, rest, 0, &args, &err);
    if (rc == 0 && cli_flag(&args, "help")) {
        print_command_help(stdout, cmd);
        rc = 0;
        goto out;
    }
    if (rc == 0)
        rc = configure_logging(&args, &err);
    if (rc == 0)
        rc = cmd->run(&args, &err);
    if (rc < 0) {
        fprintf(stderr, "ratchet %s: %s\n", cmd->name, err.msg[0] ? err.msg : err_name(rc));
        if (err_code_of(rc) == E_USAGE)
            fprintf(stderr, "(see 'ratchet %s --help')\n", cmd->name);
        rc = err_exit_code(rc);
    }
out:
    free(args.opts);
    free(args.positional);
    free(rest);
    return rc;
}
