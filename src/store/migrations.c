/*
 * The schema migrations, embedded into the binary from the .sql files of
 * src/store/migrations/ with the assembler's .incbin (the Makefile rebuilds this file when one
 * of them changes). To add a
 * migration: write the next NNNN_what.sql beside the others (docs/store.md says how) and add
 * its line to the table below; versions must be consecutive.
 */
#include "store/internal.h"
#include "util/embed.h"

EMBED(store_migration_0001, "src/store/migrations/0001_initial.sql");
EMBED(store_migration_0002, "src/store/migrations/0002_delivery_outbox.sql");

const struct store_migration store_migrations[] = {
    {1, "0001_initial.sql", store_migration_0001},
    {2, "0002_delivery_outbox.sql", store_migration_0002},
};
const size_t store_migrations_count = sizeof(store_migrations) / sizeof(store_migrations[0]);
