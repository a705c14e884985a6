/*
 * Private to src/service: the service context and the helpers the use-case files share
 * (resolving refs, normalising input, the compiled-schema cache, the lazily created engine
 * used for syntax checks and tests).
 */
#ifndef RATCHET_SERVICE_INTERNAL_H
#define RATCHET_SERVICE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "service/service.h"

struct engine;
struct schema;
struct schema_registry;
struct tz_db;

/* A task's compiled input schema, shared by concurrent checks (reference-counted). */
struct schema_entry {
    int64_t task_id;
    char checksum[65];
    struct schema *input; /* NULL: the task has no input schema */
    int refs;             /* guarded by service.lock */
    uint64_t last_used;
};

#define SCHEMA_CACHE_SIZE 128
#define KEY_CACHE_SIZE    64

/* A checked API key, so that most requests do not read the store. */
struct key_entry {
    char prefix[32];
    char hash[65];
    char role[16];
    char name[64];
    int64_t id;
    int64_t expires_ms; /* 0: never */
    bool revoked;
    int64_t fetched_ms; /* monotonic */
    int64_t touched_ms; /* wall clock of the last lastUsedAt write */
};

struct service {
    struct store *store;
    const struct config *cfg;
    struct dispatcher *dispatcher;
    char **registry_paths;
    size_t n_registry_paths;
    int64_t started_ms;
    struct tz_db *zones;
    bool own_zones;
    struct scheduler *scheduler;
    struct delivery *delivery;

    pthread_mutex_t lock; /* the caches below */
    struct schema_entry *schemas[SCHEMA_CACHE_SIZE];
    uint64_t schema_clock;
    struct key_entry keys[KEY_CACHE_SIZE];

    pthread_mutex_t engine_lock; /* one user of the engine at a time */
    struct engine *engine;       /* syntax checks only (no task code runs here); created on
                                    first use */
    char *self_exe;              /* the ratchet binary test processes run */
    atomic_int tests_running;    /* test sessions now (service_task_test) */
    atomic_bool tests_stop;      /* service_free: kill them */
    struct schema_registry *schema_registry;
};

/* Is s a plain non-negative decimal id (1-18 digits)? */
bool svc_is_id(const char *s, int64_t *id);

/* Finds a row of e by id, uuid or (when name_field is not NULL) that field. -E_NOT_FOUND
 * says "no <entity> <ref>". */
int svc_resolve(struct service *svc, enum store_entity e, const char *ref, const char *name_field,
                json_t **row, struct err *err);
/* The same, giving only the id. */
int svc_resolve_id(struct service *svc, enum store_entity e, const char *ref,
                   const char *name_field, int64_t *id, struct err *err);

/*
 * Turns a client's object into the fields of op: keys in snake_case or camelCase or an alias
 * become the camelCase field name; fields op does not take but the entity shows (id,
 * createdAt, ...) are dropped; any other key is -E_INVALID naming it and listing what op
 * takes. Required fields are checked when check_required. *out is a new object.
 */
int svc_normalize(enum service_op op, const json_t *body, bool check_required, json_t **out,
                  struct err *err);

/* The compiled input schema of a task row (cached by id and checksum); release with
 * svc_schema_release. *entry->input is NULL when the task has none. */
int svc_schema_get(struct service *svc, const json_t *task_row, struct schema_entry **entry,
                   struct err *err);
void svc_schema_release(struct service *svc, struct schema_entry *entry);

/* Runs fn with the service's engine (created on first use, private loop), one caller at a
 * time. It checks the syntax of code sent over the API; task code never runs here (tests run
 * in a `ratchet __test-task` process, tasks.c). */
int svc_with_engine(struct service *svc, int (*fn)(struct engine *e, void *arg, struct err *err),
                    void *arg, struct err *err);

/* Lists child rows of r whose field equals id, with q's filters and paging too. */
int svc_list_child(struct service *svc, enum service_resource r, const char *field, int64_t id,
                   const struct store_query *q, json_t **items, int64_t *total, struct err *err);

/* Adds the computed `alive` and `runningJobs` fields to node rows (an array of them). */
int svc_nodes_decorate(struct service *svc, json_t *rows, struct err *err);

/* Row fields. */
int64_t svc_row_id(const json_t *row);
const char *svc_row_str(const json_t *row, const char *key);

/* Checks an outputDestinations value (delivery_validate_destinations with the service's
 * configuration): -E_INVALID naming the index and field. */
int svc_check_destinations(struct service *svc, const json_t *dests, struct err *err);

/* Enqueues one job made from fields (already normalised and checked); wakes the dispatcher.
 * *row gets the job row. */
int svc_enqueue(struct service *svc, const struct store_job_new *job, json_t **row,
                bool *deduplicated, struct err *err);

/* A priority as a client sent it (name in any case, "urgent", 1..4; absent: NORMAL). */
int svc_priority_of(const json_t *v, int *out, struct err *err);
/* A time as a client sent it (RFC 3339 or ms; absent: 0). */
int svc_time_of(const json_t *v, const char *field, int64_t *out, struct err *err);
/* Rows of e whose time field is at or after since. */
int svc_count_since(struct service *svc, enum store_entity e, const char *field, int64_t since,
                    int64_t *n, struct err *err);

#endif
