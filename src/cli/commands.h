/* The subcommands, one file each (src/cli/cmd_*.c), listed in commands.c. */
#ifndef RATCHET_CLI_COMMANDS_H
#define RATCHET_CLI_COMMANDS_H

#include "cli/cli.h"

extern const struct cli_command *const cli_commands[];

extern const struct cli_command cmd_run_once;
extern const struct cli_command cmd_validate;
extern const struct cli_command cmd_test;
extern const struct cli_command cmd_replay;
extern const struct cli_command cmd_generate_task;

#endif
