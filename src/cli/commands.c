/* The command table: every subcommand, in the order `ratchet --help` lists them. */
#include "cli/commands.h"

#include <stddef.h>

/* clang-format off */
const struct cli_command *const cli_commands[] = {
    &cmd_run_once,
    &cmd_test,
    &cmd_replay,
    &cmd_validate,
    &cmd_generate_task,
    &cmd_serve,
    &cmd_apikey_create,
    &cmd_apikey_list,
    &cmd_apikey_revoke,
    &cmd_worker,
    &cmd_config_show,
    &cmd_config_validate,
    &cmd_config_generate,
    &cmd_config_reference,
    &cmd_worker_process,
    &cmd_test_process,
    NULL,
};
/* clang-format on */
