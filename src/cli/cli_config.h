/* Loading the configuration the way every command does (implemented in cmd_config.c). */
#ifndef RATCHET_CLI_CLI_CONFIG_H
#define RATCHET_CLI_CLI_CONFIG_H

#include "cli/cli.h"
#include "config/config.h"

/* Loads defaults < the file of --config (or the command's --config-file) < the process's
 * RATCHET_* environment < flags: --log-level and --log-format, and every --set KEY=VALUE
 * the command accepts. Validates the result, applies logging.level and logging.format to
 * the process's logger (call before starting threads), then logs the warnings. On failure
 * returns -E_CONFIG with every problem in err (exit code 2). *out is owned (config_free). */
int cli_load_config(const struct cli_args *args, struct config **out, struct err *err);

#endif
