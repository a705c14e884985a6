/* The subcommands, one file each (src/cli/cmd_*.c), listed in commands.c. One declaration
 * per line, so branches adding commands merge cleanly. */
#ifndef RATCHET_CLI_COMMANDS_H
#define RATCHET_CLI_COMMANDS_H

#include "cli/cli.h"

extern const struct cli_command *const cli_commands[];

extern const struct cli_command cmd_run_once;
extern const struct cli_command cmd_test;
extern const struct cli_command cmd_replay;
extern const struct cli_command cmd_validate;
extern const struct cli_command cmd_generate_task;
extern const struct cli_command cmd_serve;
/* cmd_apikey.c */
extern const struct cli_command cmd_apikey_create;
extern const struct cli_command cmd_apikey_list;
extern const struct cli_command cmd_apikey_revoke;
/* cmd_worker.c */
extern const struct cli_command cmd_worker;
extern const struct cli_command cmd_worker_process;
extern const struct cli_command cmd_test_process;
/* cmd_config.c */
extern const struct cli_command cmd_config_show;
extern const struct cli_command cmd_config_validate;
extern const struct cli_command cmd_config_generate;
extern const struct cli_command cmd_config_reference;

#endif
