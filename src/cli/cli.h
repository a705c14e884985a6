/*
 * The command-line front end: a table of subcommands (after git's commands[] in git.c),
 * each with a table of options, so that dispatch, --help and the README's CLI reference
 * all come from one place.
 *
 * A command's run() returns an exit code (0, 1) or a negative error code with err filled;
 * main() prints the message once and exits with err_exit_code() (2 for usage/config).
 */
#ifndef RATCHET_CLI_CLI_H
#define RATCHET_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>

struct err;

enum cli_opt_kind {
    CLI_FLAG,  /* --name (boolean) */
    CLI_VALUE, /* --name VALUE or --name=VALUE; last one wins */
    CLI_LIST,  /* --name VALUE, repeatable */
};

struct cli_option {
    const char *name; /* without the leading "--" */
    enum cli_opt_kind kind;
    const char *metavar; /* "DIR" */
    const char *help;
};

struct cli_arg {
    const char *name;
    const char *value; /* NULL for flags */
};

struct cli_args {
    struct cli_arg *opts;
    size_t nopts;
    char **positional;
    size_t npositional;
    /* Global options, parsed anywhere on the line. */
    const char *config_path;
    const char *log_level;
    const char *log_format;
    const char *self_path; /* argv[0] resolved to /proc/self/exe when possible */
};

struct cli_command {
    const char *name;                 /* "run-once", or "generate task" for two-word commands */
    const char *summary;              /* one line for `ratchet --help` */
    const char *usage;                /* positional part of the usage line, may be NULL */
    const char *details;              /* paragraph for `ratchet <cmd> --help`, may be NULL */
    const struct cli_option *options; /* terminated by {NULL} */
    int (*run)(const struct cli_args *args, struct err *err);
    bool hidden;
};

/* The last value of option `name`, or NULL. */
const char *cli_get(const struct cli_args *args, const char *name);
bool cli_flag(const struct cli_args *args, const char *name);
/* Parses --name as a non-negative integer; returns 0, or -E_USAGE naming the option. */
int cli_get_long(const struct cli_args *args, const char *name, long fallback, long *out,
                 struct err *err);

/* Runs the program: dispatch on argv, --help, --version. Returns the process exit code. */
int cli_main(int argc, char **argv);

#endif
