/* Helpers the CLI commands share: loading a task, making an engine from the configuration,
 * printing console lines, run errors and JSON. */
#ifndef RATCHET_CLI_COMMON_H
#define RATCHET_CLI_COMMON_H

#include <stdbool.h>

struct cli_args;
struct engine;
struct err;
struct task_prepared;
struct task_run_result;

/* Loads and prepares (schemas compiled) the task at path. Errors are usage-class (exit 2). */
int cli_load_task(const char *path, struct task_prepared **out, struct err *err);
/* An engine on a private loop with the limits of the effective configuration. */
int cli_engine_new(const struct cli_args *args, struct engine **out, struct err *err);
/* Writes the run's console lines to stderr as log records (source=console). */
void cli_print_console(const struct task_run_result *res);
/* Writes a failed run's error (type, message, stack, schema details) to stderr. */
void cli_print_run_error(const struct task_run_result *res);
/* Prints JSON text on stdout, indented unless compact. */
void cli_print_json_text(const char *json, bool compact);

#endif
