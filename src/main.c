/* ratchet: the entry point. Everything else starts in cli_main (src/cli/cli.c); this is the
 * only place the process exits from in the normal course. */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
