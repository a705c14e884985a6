/* The command table: every subcommand, in the order `ratchet --help` lists them. */
#include "cli/commands.h"

#include <stddef.h>

const struct cli_command *const cli_commands[] = {
    &cmd_run_once, &cmd_test, &cmd_replay, &cmd_validate, &cmd_generate_task, NULL,
};
