/*
 * The service layer: the use cases every front end shares (REST now, GraphQL and MCP later),
 * with their validation written once. Front ends parse their protocol, call these functions
 * and format what comes back; they never touch the store or the dispatcher themselves.
 *
 *     struct service *svc;
 *     service_new(&(struct service_options){.store = st, .cfg = cfg, .dispatcher = d}, &svc, &err);
 *     json_t *job;
 *     if (service_job_create(svc, body, &job, &err) < 0) ... err.code gives the status (err.h)
 *
 * Inputs are jansson values as a client sent them: keys may be camelCase or snake_case (and
 * the original Ratchet's names, e.g. input_data, maxRetries), unknown keys are refused with a
 * message naming them, read-only keys (id, createdAt, ...) are ignored so a fetched object can
 * be sent back. Outputs are rows in the store's API shape (camelCase, RFC 3339 times,
 * upper-case statuses), new references the caller decrefs.
 *
 * Things in paths ("refs") are named by numeric id, uuid or (tasks) name; an all-digit ref is
 * an id. Errors: -E_INVALID naming the field, -E_NOT_FOUND naming the thing, -E_CONFLICT for
 * a state that forbids the change, -E_SCHEMA (422) with schema errors, and the store's
 * -E_BUSY / -E_UNAVAILABLE. Every function may be called from any thread.
 */
#ifndef RATCHET_SERVICE_SERVICE_H
#define RATCHET_SERVICE_SERVICE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct config;
struct delivery;
struct dispatcher;
struct err;
struct scheduler;
struct service;
struct tz_db;

/* Largest page a list returns, and the default when the caller asks for none. */
#define SERVICE_MAX_PAGE 1000
/* Most jobs one bulk create takes. */
#define SERVICE_MAX_BULK 1000
/* Most fire times a next-runs preview returns. */
#define SERVICE_MAX_NEXT_RUNS 100

struct service_options {
    struct store *store;               /* required; borrowed, must outlive the service */
    const struct config *cfg;          /* required; borrowed */
    struct dispatcher *dispatcher;     /* NULL: no runs (CLI tools); execute answers 503 */
    struct event_bus *bus;             /* may be NULL; run metrics are counted from its events */
    struct metrics *metrics;           /* may be NULL; the service adds queue/worker/run series */
    const char *const *registry_paths; /* task folders synced by service_tasks_sync */
    size_t n_registry_paths;
    struct tz_db *zones;         /* time zones, shared with the scheduler; NULL: the service's
                                    own */
    struct scheduler *scheduler; /* kicked after schedule changes; NULL: none on this node
                                    (other nodes' schedulers see changes within a second) */
    struct delivery *delivery;   /* for retries of deliveries; NULL: retry answers 503 */
    const char *self_exe;        /* the ratchet binary that runs task tests (`ratchet
                                    __test-task`); NULL: /proc/self/exe */
};

int service_new(const struct service_options *opts, struct service **out, struct err *err);
/* Accepts NULL. No call may be in flight (runs started by service_task_execute must have
 * reported); test sessions still going are killed and answered -E_CANCELLED first. */
void service_free(struct service *svc);

/* ---- resources and their fields ---- */

enum service_resource {
    SERVICE_TASKS,
    SERVICE_TASK_VERSIONS,
    SERVICE_EXECUTIONS,
    SERVICE_EXECUTION_LOGS,
    SERVICE_EXECUTION_HTTP,
    SERVICE_JOBS,
    SERVICE_SCHEDULES,
    SERVICE_DELIVERIES,
    SERVICE_WORKERS,
    SERVICE_NODES,
    SERVICE_API_KEYS,
    SERVICE_RESOURCE__COUNT
};

/* "tasks", "executions", ... (the plural used in URLs and Content-Range). */
const char *service_resource_name(enum service_resource r);
/* The store field table behind a resource: what may be filtered, sorted, searched. */
const struct store_field *service_resource_fields(enum service_resource r, size_t *n);

/* What a client may send to create or change something. Front ends derive their input
 * documentation (OpenAPI request schemas, GraphQL input types) from these. */
enum service_op {
    SERVICE_OP_TASK_CREATE,
    SERVICE_OP_TASK_UPDATE,
    SERVICE_OP_JOB_CREATE,
    SERVICE_OP_SCHEDULE_CREATE,
    SERVICE_OP_SCHEDULE_UPDATE,
    SERVICE_OP_API_KEY_CREATE,
    SERVICE_OP__COUNT
};

struct service_op_field {
    const char *name;           /* camelCase */
    enum store_field_type type; /* as in the store's field table */
    const char *const *values;  /* STORE_ENUM / enumerated text: allowed values, NULL-ended */
    bool required;
    bool ref; /* takes an id, uuid or name of the referenced thing (taskId) */
    const char *doc;
};

/* The fields of op, in order (an owned array of borrowed strings; free() it). */
struct service_op_field *service_op_fields(enum service_op op, size_t *n);
/* Extra names accepted for op besides camelCase and snake_case of the fields above, as
 * "alias=field" strings, NULL-ended (e.g. "input_data=input"). */
const char *const *service_op_aliases(enum service_op op);

/* "input_data" -> "inputData" into buf (at most size bytes); camelCase stays as it is. */
void service_camel_case(const char *in, char *buf, size_t size);

/* ---- lists ---- */

/*
 * Lists a resource. q as store_list (filters, q, sorts, offset, limit); limit 0 means
 * SERVICE_MAX_PAGE, and more than that is -E_INVALID. *items gets a new array, *total every
 * match. Unknown fields and bad values are -E_INVALID naming the field. API keys never show
 * their hash.
 */
int service_list(struct service *svc, enum service_resource r, const struct store_query *q,
                 json_t **items, int64_t *total, struct err *err);

/* ---- tasks ---- */

/* Finds a task by id, uuid or name. */
int service_task_get(struct service *svc, const char *ref, json_t **row, struct err *err);
/*
 * Creates a task from code and schemas: {name (letters, digits, _ and -, at most 100),
 * version (default "1.0.0"), label?, description?, enabled? (true), sourceCode (also "code"),
 * inputSchema?, outputSchema?, metadata?, uuid?}. The code must compile (a SyntaxError is
 * -E_INVALID with line and column) and the schemas must be valid JSON Schemas. A taken name
 * is -E_CONFLICT. The first version is recorded.
 */
int service_task_create(struct service *svc, const json_t *body, json_t **row, struct err *err);
/* Changes a task: any of the create fields but name and uuid. A change of code, schemas or
 * metadata makes a new version: the given one, or the current one with its last number
 * incremented ("1.0.0" -> "1.0.1") when none is given. */
int service_task_update(struct service *svc, const char *ref, const json_t *body, json_t **row,
                        struct err *err);
/* Deletes a task with its versions, schedules, jobs and executions. */
int service_task_delete(struct service *svc, const char *ref, struct err *err);
int service_task_set_enabled(struct service *svc, const char *ref, bool enabled, json_t **row,
                             struct err *err);
/* The versions of a task (q's filters are added to taskId = the task). */
int service_task_versions(struct service *svc, const char *ref, const struct store_query *q,
                          json_t **items, int64_t *total, struct err *err);
int service_task_version_get(struct service *svc, const char *ref, const char *version,
                             json_t **row, struct err *err);
/* Syncs the registry paths into the store: {added, updated, unchanged, errors}. */
int service_tasks_sync(struct service *svc, json_t **report, struct err *err);
/* {totalTasks, enabledTasks, disabledTasks, registryTasks, apiTasks} */
int service_task_stats(struct service *svc, json_t **out, struct err *err);

/* ---- running a task now ---- */

/* The outcome of a synchronous run; everything borrowed for the callback. */
struct service_run_result {
    int status;          /* 0 or -E_TASK, -E_SCHEMA (output), -E_TIMEOUT, -E_LIMIT,
                            -E_CANCELLED, -E_UNAVAILABLE, -E_INTERNAL */
    const char *message; /* when status != 0: one line for people */
    /* The whole answer, the same for success and failure: {executionId, executionUuid, taskId,
     * status: "COMPLETED"|"FAILED"|"CANCELLED", output?, taskError?: {type, message, stack?,
     * status?, details?}, logs: [{timestamp, level, message}], durationMs}. (Not "error": an
     * error answer's "error" member is its code.) */
    const json_t *body;
};

typedef void (*service_run_fn)(void *ud, const struct service_run_result *res);

/*
 * Runs the task named by ref now, on this node's workers, with input (NULL: {}), and calls
 * done exactly once with the result, on another thread. Checked first, without running
 * anything (returns the error, done not called): no such task (-E_NOT_FOUND), disabled
 * (-E_CONFLICT), input fails the task's input schema (-E_SCHEMA with *details = the schema
 * errors, a new reference, when details is not NULL), no dispatcher (-E_UNAVAILABLE).
 * timeout_ms caps the run (0: the task's timeout, else execution.max_execution_duration;
 * server.request_timeout caps both).
 */
int service_task_execute(struct service *svc, const char *ref, const json_t *input,
                         int64_t timeout_ms, const char *request_id, service_run_fn done, void *ud,
                         int64_t *execution_id, json_t **details, struct err *err);
/* Stops a run started by service_task_execute on this node (execution_id as it set it):
 * its caller has gone. The run ends CANCELLED and `done` still reports it. Thread-safe; a
 * no-op once the run has finished. */
void service_execute_abandon(struct service *svc, int64_t execution_id);

/* A test session's answer: rc 0 with the report (owned by the callee), or rc < 0 with err. */
typedef void (*service_test_fn)(void *ud, int rc, json_t *report, const struct err *err);

/*
 * Runs the task's tests (tests/ *.json of a registry task's folder, or the "tests" array of an
 * API task's metadata, each a test case as in a test file) through src/task/testrun.h, with
 * HTTP mocked, in a process of its own (`ratchet __test-task`: task code never runs in the
 * server), killed past server.request_timeout. `done` is called exactly once, from the
 * session's thread, with the report {task, tests[], totals{total, passed, failed, durationMs}}.
 * Returns 0, or without calling done: -E_NOT_FOUND (no such task), -E_BUSY (workers.count
 * sessions already run on this node).
 */
int service_task_test(struct service *svc, const char *ref, service_test_fn done, void *ud,
                      struct err *err);
/* The same; when *gone (may be NULL; must stay valid until done is called) turns true, the
 * session's process is killed within 100 ms and done gets -E_CANCELLED: its caller left. */
int service_task_test_until(struct service *svc, const char *ref, const atomic_bool *gone,
                            service_test_fn done, void *ud, struct err *err);

/* Checks a task's input against its input schema: 0, or -E_SCHEMA with *details. */
int service_task_check_input(struct service *svc, const json_t *task_row, const json_t *input,
                             json_t **details, struct err *err);

/* ---- executions ---- */

int service_execution_get(struct service *svc, const char *ref, json_t **row, struct err *err);
/* Console lines / HTTP requests of an execution, as lists (q adds filters and paging). */
int service_execution_logs(struct service *svc, const char *ref, const struct store_query *q,
                           json_t **items, int64_t *total, struct err *err);
int service_execution_http(struct service *svc, const char *ref, const struct store_query *q,
                           json_t **items, int64_t *total, struct err *err);
/* Cancels the job the execution belongs to (queued or running). An execution of a direct
 * run cannot be cancelled here (-E_CONFLICT). *row gets the execution. */
int service_execution_cancel(struct service *svc, const char *ref, json_t **row, struct err *err);
/* Runs a FAILED or CANCELLED execution again: its job is requeued when that job is failed or
 * cancelled, else a new job with the same task and input is queued. *job gets the job;
 * *created whether it is new. */
int service_execution_retry(struct service *svc, const char *ref, json_t **job, bool *created,
                            struct err *err);
/* {totalExecutions, pendingExecutions, runningExecutions, completedExecutions,
 * failedExecutions, cancelledExecutions, averageDurationMs, successRate, executionsLast24h} */
int service_execution_stats(struct service *svc, json_t **out, struct err *err);

/* ---- jobs ---- */

int service_job_get(struct service *svc, const char *ref, json_t **row, struct err *err);
/*
 * Queues a job: {taskId (id, uuid or name; also task_id), input? ({}; checked against the
 * task's input schema: -E_SCHEMA with *details), priority? (LOW..CRITICAL or 1..4),
 * scheduledFor? (RFC 3339 or ms), maxAttempts? (also maxRetries; 1..1000), timeoutMs?,
 * uniqueKey?, concurrencyKey?, concurrencyLimit?, retryPolicy?, outputDestinations?,
 * metadata?}. A uniqueKey held by an active job returns that job with *deduplicated set.
 */
int service_job_create(struct service *svc, const json_t *body, json_t **row, bool *deduplicated,
                       json_t **details, struct err *err);
/* Queues every job of the array in one transaction (all or none); errors name the index.
 * *rows gets the jobs in order. */
int service_job_create_bulk(struct service *svc, const json_t *bodies, json_t **rows,
                            json_t **details, struct err *err);
/* Cancels a queued, retrying or running job (a running one stops within moments); finished
 * jobs are -E_CONFLICT. *row gets the job as it is now. */
int service_job_cancel(struct service *svc, const char *ref, json_t **row, struct err *err);
/* Queues a failed or cancelled job again with one more attempt. */
int service_job_retry(struct service *svc, const char *ref, json_t **row, struct err *err);
/* Deletes a finished job (and its executions' link to it). Active jobs are -E_CONFLICT. */
int service_job_delete(struct service *svc, const char *ref, struct err *err);
/* {totalJobs, queuedJobs, processingJobs, completedJobs, failedJobs, cancelledJobs,
 * retryingJobs, dueJobs, queueDepthByPriority{LOW..CRITICAL}, oldestDueAt, averageWaitTimeMs,
 * jobsLast24h} */
int service_job_stats(struct service *svc, json_t **out, struct err *err);

/* ---- schedules ---- */

int service_schedule_get(struct service *svc, const char *ref, json_t **row, struct err *err);
/* {taskId, name, cronExpression (also cron_expression, schedule), timezone?, input?,
 * enabled?, priority?, maxAttempts?, outputDestinations?, maxExecutions?, misfirePolicy?,
 * description?, metadata?}. A bad cron expression or zone is -E_INVALID naming the field;
 * nextRun is computed and stored. */
int service_schedule_create(struct service *svc, const json_t *body, json_t **row, struct err *err);
int service_schedule_update(struct service *svc, const char *ref, const json_t *body, json_t **row,
                            struct err *err);
int service_schedule_delete(struct service *svc, const char *ref, struct err *err);
int service_schedule_set_enabled(struct service *svc, const char *ref, bool enabled, json_t **row,
                                 struct err *err);
/* Queues a job now with the schedule's task, input, priority, attempts and destinations;
 * a disabled schedule (or one at maxExecutions) is -E_CONFLICT. *job gets the job. */
int service_schedule_trigger(struct service *svc, const char *ref, json_t **job, struct err *err);
/* The next count (1..SERVICE_MAX_NEXT_RUNS) fire times of a schedule, or of an expression
 * and zone not saved anywhere (ref NULL): an array of RFC 3339 strings. */
int service_schedule_next_runs(struct service *svc, const char *ref, const char *expr,
                               const char *tz, int count, json_t **out, struct err *err);
/* {totalSchedules, enabledSchedules, disabledSchedules, nextExecution, lastExecution} */
int service_schedule_stats(struct service *svc, json_t **out, struct err *err);

/* ---- delivery results ---- */

/* One attempt to deliver a job's output to one destination (STORE_DELIVERIES; lists through
 * service_list). */
int service_delivery_get(struct service *svc, const char *ref, json_t **row, struct err *err);
/* The delivery results of a job (q's filters are added to jobId = the job). */
int service_job_deliveries(struct service *svc, const char *ref, const struct store_query *q,
                           json_t **items, int64_t *total, struct err *err);
/* Delivers again the destination of delivery result ref (a failed or a successful one): a new
 * round of attempts with the job's stored output, numbered after the last, recorded as new
 * rows as they happen; *row gets the result that was retried. Errors: -E_NOT_FOUND,
 * -E_CONFLICT (the job is not completed, or its destination no longer exists or validates),
 * -E_BUSY (the delivery queue is full), -E_UNAVAILABLE (no delivery in this process, or it
 * is shutting down). */
int service_delivery_retry(struct service *svc, const char *ref, json_t **row, struct err *err);

/* ---- workers and nodes ---- */

/* The worker processes: this node's live ones (from the dispatcher) and the other nodes'
 * from the store, as one list {id, nodeId, pid, status, runs, failures, rssBytes, startedAt,
 * lastHeartbeat, currentJobs}. q's filters apply to those fields (EQ only), paging too. */
int service_workers_list(struct service *svc, const struct store_query *q, json_t **items,
                         int64_t *total, struct err *err);
/* {totalWorkers, byStatus{...}, totalRuns, totalFailures, totalRssBytes} */
int service_worker_stats(struct service *svc, json_t **out, struct err *err);
/* A node by id or node id. Node rows (here and in service_list) carry two computed fields:
 * `alive` (not stopped, and its last heartbeat is more recent than job_queue.lease_ms, after
 * which other nodes recover its jobs) and `runningJobs` (ids of the jobs it holds, at most
 * SERVICE_NODE_JOBS_MAX); `isScheduler` is only true for an alive node. */
int service_node_get(struct service *svc, const char *ref, json_t **row, struct err *err);
#define SERVICE_NODE_JOBS_MAX 1000

/* ---- API keys ---- */

/* Creates a key {name, role (admin|operator|viewer), expiresAt?}: *row is the stored key
 * (without its hash) and *key the secret, shown this once (owned; free it). */
int service_api_key_create(struct service *svc, const json_t *body, json_t **row, char **key,
                           struct err *err);
/* Revokes a key by id, name or prefix; a revoked key stops working at once on this node and
 * within SERVICE_KEY_CACHE_MS on others. *row (may be NULL) gets it. */
int service_api_key_revoke(struct service *svc, const char *ref, json_t **row, struct err *err);
#define SERVICE_KEY_CACHE_MS 5000

/* Checks a presented key: 0 with *role ("admin", "operator", "viewer") and *key_id (the key's
 * prefix, for rate limiting) written into the caller's buffers, or -E_UNAUTHORIZED (unknown,
 * revoked, expired or malformed). Fast: results are cached for SERVICE_KEY_CACHE_MS. */
int service_api_key_check(struct service *svc, const char *token, char *role, size_t role_size,
                          char *key_id, size_t key_id_size, char *name, size_t name_size,
                          struct err *err);

/* ---- watching the registry folders (loop thread only) ---- */

struct uv_loop_s;
struct service_watch;

/* Watches the registry paths and their task folders; a change syncs them into the store
 * (coalesced over 200 ms) and is logged. Runs on loop's thread; stop it before the loop ends. */
int service_watch_start(struct service *svc, struct uv_loop_s *loop, struct service_watch **out,
                        struct err *err);
/* How many folders are watched. */
size_t service_watch_count(const struct service_watch *w);
/* Closes the watches (freed by their close callbacks: run the loop afterwards). Accepts NULL. */
void service_watch_stop(struct service_watch *w);

/* ---- operations ---- */

/* {status: "healthy", timestamp, version, uptimeSeconds, store: backend name} */
json_t *service_health(struct service *svc);
/* Readiness: 0 and *out = {status: "ready", checks: {store: {ready, message}, workers: {...}}},
 * or -E_UNAVAILABLE with the same object saying what is not ready. */
int service_ready(struct service *svc, json_t **out, struct err *err);

#endif
