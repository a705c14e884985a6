/*
 * The store: Ratchet's persistent state behind one interface, on an embedded SQLite file or a
 * shared PostgreSQL database (chosen by URL), with versioned migrations applied at open.
 *
 * Two layers of calls:
 *   - Repository calls (store_create/get/update/delete/list) over every entity, taking and
 *     returning jansson objects whose keys are the API's camelCase names, with times as
 *     RFC 3339 strings, priorities as "LOW".."CRITICAL", statuses upper-case and JSON columns
 *     parsed. Each entity has a static field table (store_fields) that lists which fields
 *     can be filtered, sorted, searched, set on create and changed by update.
 *   - Queue calls (store_job_*) on typed C structs, in batches, for the dispatcher's hot path.
 *
 * Every call is one short transaction and either happens entirely or not at all. Errors:
 * -E_NOT_FOUND (no such id), -E_CONFLICT (a unique value is taken, or the state forbids the
 * change), -E_INVALID (a value has the wrong type or breaks a constraint; unknown fields),
 * -E_BUSY (the database stayed locked past the timeout, or all connections are in use),
 * -E_UNAVAILABLE (the database cannot be reached), -E_CONFIG (bad URL, schema newer than this
 * binary, a changed migration). Messages speak of tasks, jobs and fields, never SQL; the
 * database's own text is logged at debug level.
 *
 * Threads: a store handle may be used by any number of threads at once. SQLite gives each
 * calling thread its own connection (created on first use, closed at store_close); an
 * in-memory SQLite database has a single connection that calls take turns on. PostgreSQL
 * calls borrow a connection from a small pool for the length of one call. See docs/store.md.
 */
#ifndef RATCHET_STORE_STORE_H
#define RATCHET_STORE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct store;

/* ---------------------------------------------------------------------------------------- */
/* Opening */

struct store_options {
    int max_connections;            /* PostgreSQL pool size; 0: 8 */
    int busy_timeout_ms;            /* wait for a lock or a pooled connection; 0: 5000 */
    const char *sqlite_synchronous; /* OFF|NORMAL|FULL|EXTRA; NULL: NORMAL (the URL's
                                       ?synchronous= wins) */
    bool skip_migrations;           /* open as is, without applying migrations (tools, tests) */
};

/*
 * Opens the store at url and brings its schema up to date:
 *   sqlite://relative/path.db   sqlite:///absolute/path.db   sqlite:path.db
 *   sqlite::memory:             (one private in-memory database per handle)
 *   postgres://user@host:port/db?sslmode=...   postgresql://...   (any libpq URI)
 * SQLite URLs take ?synchronous=OFF|NORMAL|FULL|EXTRA and ?busy_timeout_ms=N; the parent
 * directory of a SQLite file is created. opt may be NULL. *out is owned; close with
 * store_close. Errors: -E_CONFIG (bad URL, schema too new, changed migration),
 * -E_UNAVAILABLE, -E_IO.
 */
int store_open(const char *url, const struct store_options *opt, struct store **out,
               struct err *err);
/* Closes every connection. No other thread may be inside a store call, and the store's
 * listeners and locks must be freed first. Accepts NULL. */
void store_close(struct store *st);

/* "sqlite" or "postgres". */
const char *store_backend_name(const struct store *st);
/* Runs a trivial query: 0 when the database answers (for /ready), else -E_UNAVAILABLE. */
int store_ping(struct store *st, struct err *err);
/* The durability settings in force, e.g. "sqlite: journal_mode=wal synchronous=NORMAL" or
 * "postgres: synchronous_commit=on fsync=on", into buf (for benchmarks and `config show`). */
int store_describe_durability(struct store *st, char *buf, size_t size, struct err *err);
/* The schema version the database is at (the highest applied migration). */
int store_schema_version(struct store *st, int *version, struct err *err);

/* ---------------------------------------------------------------------------------------- */
/* Entities and their fields */

enum store_entity {
    STORE_TASKS,
    STORE_TASK_VERSIONS,
    STORE_EXECUTIONS,
    STORE_EXECUTION_LOGS, /* no id: list only (by executionId); written by store_job_finish */
    STORE_EXECUTION_HTTP, /* no id: list only (by executionId); written by store_job_finish */
    STORE_JOBS,
    STORE_SCHEDULES,
    STORE_DELIVERIES,
    STORE_API_KEYS,
    STORE_NODES,
    STORE_WORKERS,
    STORE_ENTITY__COUNT
};

enum store_field_type {
    STORE_INT,      /* JSON integer */
    STORE_REAL,     /* JSON number */
    STORE_TEXT,     /* JSON string */
    STORE_BOOL,     /* JSON true/false */
    STORE_TIME,     /* RFC 3339 string in rows; RFC 3339 or integer ms accepted as input */
    STORE_JSON,     /* any JSON value, stored as its text */
    STORE_ENUM,     /* upper-case string in rows ("QUEUED"); any case accepted as input */
    STORE_PRIORITY, /* "LOW".."CRITICAL" in rows; a name (any case) or 1..4 as input */
};

enum store_field_flag {
    STORE_F_FILTER = 1 << 0,   /* usable in store_query filters */
    STORE_F_SORT = 1 << 1,     /* usable as a sort key */
    STORE_F_SEARCH = 1 << 2,   /* searched by store_query.q */
    STORE_F_CREATE = 1 << 3,   /* may be given to store_create */
    STORE_F_UPDATE = 1 << 4,   /* may be given to store_update */
    STORE_F_REQUIRED = 1 << 5, /* must be given to store_create */
    STORE_F_KEY = 1 << 6,      /* unique: usable with store_get_by and store_upsert */
    STORE_F_HIDDEN = 1 << 7,   /* never shown in rows (api key hashes) */
};

struct store_field {
    const char *name; /* camelCase, as in rows */
    enum store_field_type type;
    unsigned flags;            /* enum store_field_flag */
    const char *const *values; /* STORE_ENUM: the allowed values (lower-case), NULL-ended */
    const char *doc;           /* one line, for OpenAPI/GraphQL descriptions */
};

/* The field table of an entity (static; n gets its length). Front ends derive their filter,
 * sort and schema documentation from it. */
const struct store_field *store_fields(enum store_entity e, size_t *n);
/* "task", "job", ... for messages; the plural table-ish name for URLs is the caller's. */
const char *store_entity_name(enum store_entity e);

/* ---------------------------------------------------------------------------------------- */
/* Generic repository calls. Rows are new references the caller decrefs. */

enum store_op {
    STORE_EQ,
    STORE_NE,
    STORE_LIKE,
    STORE_GT,
    STORE_GTE,
    STORE_LT,
    STORE_LTE,
    STORE_IN
};

struct store_filter {
    const char *field;   /* a field name with STORE_F_FILTER */
    enum store_op op;    /* STORE_LIKE: contains, case-insensitive (text fields only) */
    const json_t *value; /* borrowed. A scalar converted by the field's type (strings such as
                            "5", "true", "queued" or an RFC 3339 time are accepted, so query
                            strings can be passed as they come); null with EQ/NE means IS
                            NULL/IS NOT NULL; STORE_IN takes an array (at most 1000 values) */
};

struct store_sort {
    const char *field; /* a field name with STORE_F_SORT */
    bool desc;
};

struct store_query {
    const struct store_filter *filters; /* all must hold (AND) */
    size_t nfilters;
    const char *q;                  /* free text matched (contains, case-insensitive) against
                                       the STORE_F_SEARCH fields; NULL or "": none */
    const struct store_sort *sorts; /* NULL: by id ascending. id is always the last key, so
                                       pages are stable. */
    size_t nsorts;
    int64_t offset; /* rows to skip, >= 0 */
    int64_t limit;  /* rows to return, >= 0; 0: all */
};

/*
 * Lists rows matching q (NULL: everything) into *rows (a new JSON array; NULL rows: count
 * only) and the number of all matching rows, regardless of offset/limit, into *total (may be
 * NULL). Unknown or non-filterable/sortable fields and values of the wrong type are -E_INVALID
 * with a message naming the field.
 */
int store_list(struct store *st, enum store_entity e, const struct store_query *q, json_t **rows,
               int64_t *total, struct err *err);
/* Counts rows matching q (filters and q only) grouped by field: *out = {"QUEUED": 3, ...}
 * (keys as the field shows in rows; null values under "null"). */
int store_count_by(struct store *st, enum store_entity e, const char *field,
                   const struct store_query *q, json_t **out, struct err *err);
/* Average of a numeric field over rows matching q; *has false when no row has a value. */
int store_average(struct store *st, enum store_entity e, const char *field,
                  const struct store_query *q, double *avg, bool *has, struct err *err);

/* Fetches one row by id. -E_NOT_FOUND names the entity and id. */
int store_get(struct store *st, enum store_entity e, int64_t id, json_t **row, struct err *err);
/* Fetches one row by a STORE_F_KEY field (uuid, a task's name, a node's nodeId, ...). */
int store_get_by(struct store *st, enum store_entity e, const char *field, const char *value,
                 json_t **row, struct err *err);
/*
 * Creates a row from fields (an object of STORE_F_CREATE fields; REQUIRED ones must be
 * there). Ids are assigned; a missing uuid is generated (v7, time-ordered);
 * createdAt/updatedAt-style times default to now. A referenced row that does not exist (taskId,
 * jobId, ...) is -E_NOT_FOUND; a taken unique value is -E_CONFLICT ("a task named \"x\" already
 * exists"). *row (may be NULL) gets the stored row.
 */
int store_create(struct store *st, enum store_entity e, const json_t *fields, json_t **row,
                 struct err *err);
/* Changes the given STORE_F_UPDATE fields of row id (updatedAt is set); *row (may be NULL)
 * gets the stored row. An empty object only touches updatedAt. */
int store_update(struct store *st, enum store_entity e, int64_t id, const json_t *fields,
                 json_t **row, struct err *err);
/* Creates the row whose key field (STORE_F_KEY) has fields[key]'s value, or updates it with
 * the other fields; *created tells which (may be NULL). */
int store_upsert(struct store *st, enum store_entity e, const char *key, const json_t *fields,
                 json_t **row, bool *created, struct err *err);
/* Deletes row id and what cascades from it (see docs/store.md). -E_NOT_FOUND if absent. */
int store_delete(struct store *st, enum store_entity e, int64_t id, struct err *err);

/*
 * Saves a task loaded from a registry folder, by name, in one transaction: creates the task or
 * updates its fields, and records the version in task versions (a new row for a new version,
 * refreshed when the same version's checksum changed). fields as for store_create; *changed
 * tells whether anything was written.
 */
int store_task_save(struct store *st, const json_t *fields, json_t **row, bool *changed,
                    struct err *err);

/* The stored hash and row of the api key with this prefix, revoked or expired keys included
 * (the caller decides); *key_hash is owned. -E_NOT_FOUND if there is none. */
int store_api_key_lookup(struct store *st, const char *prefix, char **key_hash, json_t **row,
                         struct err *err);

/* ---------------------------------------------------------------------------------------- */
/* The job queue (hot path, typed). */

enum store_priority {
    STORE_PRIORITY_LOW = 1,
    STORE_PRIORITY_NORMAL = 2,
    STORE_PRIORITY_HIGH = 3,
    STORE_PRIORITY_CRITICAL = 4,
};
/* "LOW".."CRITICAL" for 1..4, else NULL. */
const char *store_priority_name(int priority);
/* Parses a name in any case ("high") or a number 1..4; -E_INVALID otherwise. */
int store_priority_parse(const char *s, int *priority);

/*
 * Job states (DESIGN.md, job lifecycle):
 *   queued ──claim──▶ processing ──finish ok──▶ completed
 *     ▲                 │  ├──finish error, attempts < max──▶ retrying ──(run_at due)──▶ claim
 *     │                 │  ├──finish error, last attempt────▶ failed (dead letter)
 *     │                 │  └──finish cancelled / cancel_requested──▶ cancelled
 *     └── lease expired (node died): queued again, or failed when attempts are used up
 *   queued|retrying ──cancel──▶ cancelled;  failed|cancelled ──retry──▶ queued
 * attempts counts claims; max_attempts counts all attempts (not only retries).
 */
enum store_job_status {
    STORE_JOB_QUEUED,
    STORE_JOB_PROCESSING,
    STORE_JOB_COMPLETED,
    STORE_JOB_FAILED,
    STORE_JOB_CANCELLED,
    STORE_JOB_RETRYING,
    STORE_JOB__COUNT
};
enum store_exec_status {
    STORE_EXEC_PENDING,
    STORE_EXEC_RUNNING,
    STORE_EXEC_COMPLETED,
    STORE_EXEC_FAILED,
    STORE_EXEC_CANCELLED,
    STORE_EXEC__COUNT
};
const char *store_job_status_name(enum store_job_status s);   /* "queued" */
const char *store_exec_status_name(enum store_exec_status s); /* "running" */

/* What enqueue needs. Strings are borrowed; JSON fields are JSON text stored byte for byte
 * (not parsed again here: the caller has them from a JSON parser or serializer). */
struct store_job_new {
    int64_t task_id;
    int64_t schedule_id;             /* 0: none */
    const char *input;               /* JSON text; NULL: "{}" */
    int priority;                    /* 1..4; 0: NORMAL */
    int64_t run_at;                  /* ms; 0: now (due at once) */
    int max_attempts;                /* >= 1; 0: 3 */
    int64_t timeout_ms;              /* 0: the task's or the configured default */
    const char *unique_key;          /* NULL: no dedup */
    const char *concurrency_key;     /* NULL: no limit */
    int concurrency_limit;           /* with concurrency_key, >= 1; 0: 1 */
    const char *retry_policy;        /* JSON text (backoff parameters) or NULL */
    const char *output_destinations; /* JSON text (array) or NULL */
    const char *metadata;            /* JSON text or NULL */
};

struct store_enqueued {
    int64_t id;
    char uuid[37];
    bool deduplicated; /* an active job with the same unique_key was returned instead */
    enum store_job_status status;
};

/*
 * Enqueues n jobs in one transaction (all or none); out[i] describes jobs[i]. A job whose
 * unique_key matches a queued, processing or retrying job is not created: out[i] names the
 * existing one (deduplicated = true). Wakes listeners of STORE_CHANNEL_JOBS after commit.
 * Errors: -E_NOT_FOUND (no such task or schedule), -E_INVALID.
 */
int store_job_enqueue(struct store *st, const struct store_job_new *jobs, size_t n,
                      struct store_enqueued *out, struct err *err);

struct store_claim {
    const char *node_id;             /* the lease owner */
    size_t max_jobs;                 /* claim at most this many (>= 1) */
    int64_t lease_ms;                /* lease_until = now + lease_ms */
    const int64_t *exclude_task_ids; /* e.g. tasks whose circuit breaker is open */
    size_t n_exclude;
    int64_t now;          /* ms; 0: the clock (tests pass times) */
    int64_t only_task_id; /* > 0: claim only this task's jobs (a circuit breaker's probe) */
};

/* A claimed job: everything the dispatcher needs to run it. Strings are owned by the array. */
struct store_claimed_job {
    int64_t job_id;
    char job_uuid[37];
    int64_t execution_id; /* the execution row of this attempt, created RUNNING */
    char execution_uuid[37];
    int64_t task_id;
    char *task_version;
    int64_t schedule_id; /* 0: none */
    char *input;         /* JSON text */
    int priority;
    int attempt; /* 1 for the first run */
    int max_attempts;
    int64_t timeout_ms; /* 0: default */
    int64_t run_at;
    int64_t queued_at;
    int64_t lease_until;
    char *retry_policy;        /* JSON text or NULL */
    char *output_destinations; /* JSON text or NULL */
    char *concurrency_key;     /* or NULL */
    char *metadata;            /* JSON text or NULL */
};

/*
 * Claims up to c->max_jobs due jobs (queued or retrying with run_at <= now), most urgent
 * first: priority descending, then run_at, then id. Skips jobs of excluded tasks and jobs
 * whose concurrency key already has concurrency_limit processing jobs. In one transaction
 * each claimed job becomes processing with lease (node, now + lease_ms), attempts + 1, and
 * gets a new RUNNING execution row (started at now, node_id set). Several nodes and threads
 * may claim at once: each job is claimed by one of them (PostgreSQL: FOR UPDATE SKIP
 * LOCKED; SQLite: BEGIN IMMEDIATE). *jobs is owned (store_claimed_free); *n may be 0.
 */
int store_job_claim(struct store *st, const struct store_claim *c, struct store_claimed_job **jobs,
                    size_t *n, struct err *err);
void store_claimed_free(struct store_claimed_job *jobs, size_t n);

enum store_lease_state {
    STORE_LEASE_RENEWED,          /* still ours; lease extended */
    STORE_LEASE_CANCEL_REQUESTED, /* still ours, extended, and a cancel was requested */
    STORE_LEASE_LOST,             /* no longer ours (expired and recovered, or finished) */
};

/* Extends the leases of the given jobs held by node_id to now + lease_ms, in one
 * transaction; states[i] (caller's array of n) tells what became of job_ids[i]. */
int store_job_renew(struct store *st, const char *node_id, const int64_t *job_ids, size_t n,
                    int64_t lease_ms, int64_t now, enum store_lease_state *states, struct err *err);

enum store_outcome {
    STORE_OUTCOME_COMPLETED, /* output holds the result */
    STORE_OUTCOME_FAILED,    /* error_*; retry_at > 0 asks for a retry at that time */
    STORE_OUTCOME_CANCELLED, /* stopped because a cancel was requested */
};

struct store_log_line {
    int64_t ts;          /* ms */
    const char *level;   /* "log", "info", "warn", "error", "debug" */
    const char *message; /* borrowed */
};

struct store_http_entry {
    const char *method;
    const char *url;
    int status; /* 0: no response */
    int64_t duration_ms;
    const char *entry; /* JSON text: the full request and response (HAR entry) */
};

/* The result of one run. Strings are borrowed. */
struct store_job_result {
    int64_t job_id;       /* 0: an execution without a job (synchronous execute) */
    int64_t execution_id; /* the execution claim created (or the caller did) */
    enum store_outcome outcome;
    const char *output;     /* COMPLETED: JSON text */
    const char *error_type; /* FAILED/CANCELLED: "TimeoutError", "HttpError", ... */
    const char *error_message;
    const char *error_details; /* JSON text: stack, http status, ... or NULL */
    int64_t retry_at;          /* FAILED: retry at this time if attempts remain; 0: none */
    int64_t started_at;        /* 0: keep the claim time */
    int64_t completed_at;      /* 0: now */
    int64_t duration_ms;       /* < 0: completed_at - started_at */
    const char *worker_id;
    const struct store_log_line *logs;
    size_t nlogs;
    const struct store_http_entry *http;
    size_t nhttp;
    /* COMPLETED: the job owes output deliveries (it has destinations, or global ones are
     * configured). The job is then marked delivery_status 'pending', owned by the finishing
     * node, in the same transaction as its completion (docs/delivery.md "Durability"). */
    bool deliver;
};

/*
 * Records n results in ONE transaction (if any fails, none is recorded: a caller may then
 * finish them one at a time to set a bad one apart): each execution row (status, output or error,
 * timing, worker, log lines, HTTP requests) is written first, then its job moves to completed,
 * retrying (FAILED with retry_at > 0 while attempts < max_attempts, run_at = retry_at),
 * failed (dead letter; last_error kept) or cancelled (also when a cancel was requested and the
 * run failed). A job is only moved while node_id still holds its lease for this execution;
 * applied[i] (caller's array of n, may be NULL) is false when the lease was lost, in which case
 * the execution is recorded but the job, already handed on, is left alone. Executions that
 * already finished are not changed (so finishing the same results twice changes nothing),
 * except one failed for an expired lease, which takes its run's late result.
 */
int store_job_finish(struct store *st, const char *node_id, const struct store_job_result *r,
                     size_t n, bool *applied, struct err *err);

/* store_job_finish then store_job_claim (node c->node_id) in one transaction: the
 * dispatcher's steady state (results in, more work out) at half the commits. Either part may
 * be empty (n == 0, c->max_jobs == 0). *jobs as for store_job_claim. */
int store_job_finish_and_claim(struct store *st, const struct store_job_result *r, size_t n,
                               bool *applied, const struct store_claim *c,
                               struct store_claimed_job **jobs, size_t *njobs, struct err *err);

/* ---- durable delivery: jobs owing output deliveries (jobs.delivery_status/_owner) ---- */

/* Settles job_id's deliveries: 'pending' becomes 'done', only while node_id owns them (a
 * node that lost them to an adopter leaves them to it). *done (may be NULL) tells whether the
 * job moved. */
int store_job_delivery_done(struct store *st, int64_t job_id, const char *node_id, bool *done,
                            struct err *err);

/* A job whose deliveries are owed by a node that is gone. owner is owned by the array. */
struct store_delivery_orphan {
    int64_t job_id;
    char *owner;
};

/* Lists jobs with delivery_status 'pending' whose owner is gone, the rule
 * recover_orphan_directs uses: no nodes row, status 'stopped', or a heartbeat before
 * stale_before (ms; callers pass now - 2 lease periods). When self is not NULL, jobs owned by
 * self are listed too (a node restarted under the same id has lost what it held in memory).
 * At most limit jobs (0: 200), oldest completion first. Read only; adopt each with
 * store_job_delivery_adopt. *out is owned (store_delivery_orphans_free); *n may be 0. */
int store_job_delivery_orphans(struct store *st, const char *self, int64_t stale_before,
                               size_t limit, struct store_delivery_orphan **out, size_t *n,
                               struct err *err);
void store_delivery_orphans_free(struct store_delivery_orphan *o, size_t n);

/* Takes job_id's owed deliveries over for node to: only while they are still 'pending' and
 * owned by from, so of two nodes adopting one orphan exactly one gets it. *adopted tells. */
int store_job_delivery_adopt(struct store *st, int64_t job_id, const char *from, const char *to,
                             bool *adopted, struct err *err);

struct store_cancel {
    enum store_job_status status; /* after the call: CANCELLED, or PROCESSING with a request */
    char *lease_owner;            /* PROCESSING: the node to tell (owned), else NULL */
};

/* Cancels job id: queued or retrying → cancelled at once; processing → cancel_requested set
 * (the owning node sees it on lease renewal and through STORE_CHANNEL_CANCEL). Finished jobs
 * are -E_CONFLICT. out may be NULL; free out->lease_owner. */
int store_job_cancel(struct store *st, int64_t id, int64_t now, struct store_cancel *out,
                     struct err *err);

/* Requeues a failed or cancelled job (manual retry): queued, due at now, with extra_attempts
 * more attempts allowed (max_attempts = attempts + extra_attempts; 0 means 1). Other states are
 * -E_CONFLICT. *row (may be NULL) gets the job row. */
int store_job_retry(struct store *st, int64_t id, int extra_attempts, int64_t now, json_t **row,
                    struct err *err);

/* Gives jobs back to the queue without counting their attempt (a node shutting down before
 * their runs finished): each job_ids[i] that node_id still holds for execution_ids[i] goes
 * back to queued, due at now, with attempts - 1 (cancelled instead when a cancel was
 * requested), and that execution is cancelled with error type "Requeued" and message. Jobs
 * the node no longer holds are left alone. One transaction; notifies STORE_CHANNEL_JOBS.
 * *requeued (may be NULL) gets how many jobs moved. */
int store_job_requeue(struct store *st, const char *node_id, const int64_t *job_ids,
                      const int64_t *execution_ids, size_t n, const char *message, int64_t now,
                      size_t *requeued, struct err *err);

struct store_recovered {
    int64_t job_id;
    int64_t execution_id;
    enum store_job_status status; /* QUEUED, FAILED (attempts used up) or CANCELLED */
};

/* Finds processing jobs whose lease ended before now (their node died or hung): their
 * execution fails with error type "LeaseExpired"; the job is queued again, failed when its
 * attempts are used up, or cancelled when a cancel was requested. *out (owned, may be NULL)
 * lists them; *n their number. */
int store_job_recover_expired(struct store *st, int64_t now, struct store_recovered **out,
                              size_t *n, struct err *err);

struct store_queue_stats {
    int64_t by_status[STORE_JOB__COUNT]; /* all jobs, by state */
    int64_t depth_by_priority[5];        /* queued + retrying, index 1..4 */
    int64_t due;                         /* queued + retrying with run_at <= now */
    int64_t oldest_due_at;               /* run_at of the oldest due job; 0: none */
};
int store_job_stats(struct store *st, int64_t now, struct store_queue_stats *out, struct err *err);

/*
 * Fires schedule id for fire_time, at most once per fire time across every node: when the
 * schedule is enabled, below max_executions and last fired before fire_time, enqueues *job
 * and sets last_fire_at = fire_time, last_run_at = now, next_run_at, execution_count + 1, in
 * one transaction; *fired tells whether it did (false: another node fired it, or it is
 * disabled or exhausted). enq (may be NULL) gets the job.
 */
int store_schedule_fire(struct store *st, int64_t schedule_id, int64_t fire_time,
                        int64_t next_run_at, const struct store_job_new *job, int64_t now,
                        bool *fired, struct store_enqueued *enq, struct err *err);

/* ---------------------------------------------------------------------------------------- */
/* Notifications and locks across nodes. */

#define STORE_CHANNEL_JOBS "ratchet_jobs" /* sent by enqueue/retry: jobs are due */
#define STORE_CHANNEL_CANCEL                                        \
    "ratchet_cancel" /* payload {"jobId":N,"node":"..."}, or        \
                        {"executionId":N,"node":"..."} for a direct \
                        run */

/* Sends payload (<= 7,999 bytes) on channel to every listener: PostgreSQL NOTIFY (every node),
 * SQLite files: every process on this host using the file (a datagram per listener, see
 * hostbus.c); sqlite::memory: this process only. */
int store_notify(struct store *st, const char *channel, const char *payload, struct err *err);

struct store_listener;
/* Opens a listener on channels. Its fd (store_listener_fd) becomes readable when something
 * arrived; poll it from an event loop and call store_listener_drain. PostgreSQL: a dedicated
 * LISTEN connection. SQLite file: a Unix datagram socket in "<file>-notify/" that every process
 * using the file sends to. sqlite::memory:: an eventfd fed by store_notify in this process. */
int store_listener_open(struct store *st, const char *const *channels, size_t nchannels,
                        struct store_listener **out, struct err *err);
int store_listener_fd(const struct store_listener *l);
/* Calls cb for each notification received so far; returns how many (>= 0). After a dropped
 * PostgreSQL connection it reconnects and sets *fd_changed (re-register the new fd, and treat
 * it as a wake-up: notifications sent meanwhile are lost). */
int store_listener_drain(struct store_listener *l,
                         void (*cb)(void *arg, const char *channel, const char *payload), void *arg,
                         bool *fd_changed, struct err *err);
void store_listener_free(struct store_listener *l);

struct store_lock;
/* A named lock for electing one node (e.g. the scheduler). PostgreSQL: a session advisory lock
 * on a dedicated connection. SQLite: an OFD lock on "<file>-lock" (one host); in memory:
 * always granted. */
int store_lock_open(struct store *st, int64_t key, struct store_lock **out, struct err *err);
/* Takes the lock if free; if already held, checks that it still is (the session is alive).
 * *held tells the outcome. Call it periodically while acting as the holder. */
int store_lock_try(struct store_lock *lk, bool *held, struct err *err);
void store_lock_release(struct store_lock *lk);
/* Releases (if held) and frees. Accepts NULL. */
void store_lock_free(struct store_lock *lk);

#endif
