/*
 * The entities as the API sees them: one static column table per table, naming each field
 * (camelCase), its SQL column, type and what it may be used for. repo.c builds every query
 * from these tables, so a field is filterable or sortable exactly when its row here says so,
 * and rows come out in the shape the REST, GraphQL and MCP front ends show.
 */
#include <string.h>

#include "store/internal.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

const char *const store_job_status_values[] = {"queued",    "processing", "completed", "failed",
                                               "cancelled", "retrying",   NULL};
const char *const store_exec_status_values[] = {"pending", "running",   "completed",
                                                "failed",  "cancelled", NULL};
/* jobs.delivery_status: NULL (nothing owed), pending (owed by delivery_owner), done */
static const char *const delivery_statuses[] = {"pending", "done", NULL};
static const char *const task_sources[] = {"registry", "api", NULL};
static const char *const misfire_policies[] = {"skip", "run_once", NULL};
static const char *const roles[] = {"admin", "operator", "viewer", NULL};

/* Flag shorthands for the tables. */
#define FL STORE_F_FILTER
#define SO STORE_F_SORT
#define SE STORE_F_SEARCH
#define CR STORE_F_CREATE
#define UP STORE_F_UPDATE
#define RQ STORE_F_REQUIRED
#define KY STORE_F_KEY
#define HI STORE_F_HIDDEN

#define COL(name, type, flags, sql, doc)              \
    {                                                 \
        {name, type, flags, NULL, doc}, sql, 0, false \
    }
#define VALS(name, type, flags, sql, values, doc)       \
    {                                                   \
        {name, type, flags, values, doc}, sql, 0, false \
    }
#define REF(name, flags, sql, entity, doc)                     \
    {                                                          \
        {name, STORE_INT, flags, NULL, doc}, sql, entity, true \
    }
#define ID_COL   COL("id", STORE_INT, FL | SO, "id", "numeric id")
#define UUID_COL COL("uuid", STORE_TEXT, FL | SO | CR | KY | C_UUID, "uuid", "UUID")

static const struct column task_cols[] = {
    ID_COL,
    UUID_COL,
    COL("name", STORE_TEXT, FL | SO | SE | CR | UP | RQ | KY | C_NOTNULL, "name", "unique name"),
    COL("label", STORE_TEXT, FL | SO | SE | CR | UP, "label", "display label"),
    COL("description", STORE_TEXT, FL | SE | CR | UP, "description", "what the task does"),
    COL("version", STORE_TEXT, FL | SO | CR | UP | C_NOTNULL, "version", "current version"),
    COL("enabled", STORE_BOOL, FL | SO | CR | UP | C_NOTNULL, "enabled", "whether it may run"),
    VALS("source", STORE_TEXT, FL | SO | CR | UP | C_NOTNULL, "source", task_sources,
         "registry (loaded from a folder) or api (created over an API)"),
    COL("path", STORE_TEXT, FL | SE | CR | UP, "path", "task folder, for registry tasks"),
    COL("sourceCode", STORE_TEXT, CR | UP | C_NOTNULL, "source_code", "main.js"),
    COL("inputSchema", STORE_JSON, CR | UP, "input_schema", "JSON Schema of the input"),
    COL("outputSchema", STORE_JSON, CR | UP, "output_schema", "JSON Schema of the output"),
    COL("metadata", STORE_JSON, CR | UP, "metadata", "metadata.json"),
    COL("checksum", STORE_TEXT, FL | CR | UP, "checksum", "checksum of code and schemas"),
    COL("createdAt", STORE_TIME, FL | SO | C_NOW_CREATE, "created_at", "creation time"),
    COL("updatedAt", STORE_TIME, FL | SO | C_NOW_CREATE | C_NOW_UPDATE, "updated_at",
        "last change"),
    COL("validatedAt", STORE_TIME, FL | SO | CR | UP, "validated_at", "last validation"),
};

static const struct unique_msg task_uniques[] = {
    {{"name"}, "a task named \"%s\" already exists"},
    {{"uuid"}, "a task with uuid %s already exists"},
    {{NULL}, NULL},
};

static const struct column task_version_cols[] = {
    ID_COL,
    REF("taskId", FL | SO | CR | RQ | C_NOTNULL, "task_id", STORE_TASKS, "the task"),
    COL("version", STORE_TEXT, FL | SO | CR | RQ | C_NOTNULL, "version", "version string"),
    COL("sourceCode", STORE_TEXT, CR | C_NOTNULL, "source_code", "main.js of this version"),
    COL("inputSchema", STORE_JSON, CR, "input_schema", "input schema of this version"),
    COL("outputSchema", STORE_JSON, CR, "output_schema", "output schema of this version"),
    COL("metadata", STORE_JSON, CR, "metadata", "metadata of this version"),
    COL("checksum", STORE_TEXT, FL | CR, "checksum", "checksum of code and schemas"),
    COL("createdAt", STORE_TIME, FL | SO | C_NOW_CREATE, "created_at", "when it was recorded"),
};

static const struct unique_msg task_version_uniques[] = {
    {{"taskId", "version"}, "task %s already has a version \"%s\""},
    {{NULL}, NULL},
};

static const struct column execution_cols[] = {
    ID_COL,
    UUID_COL,
    REF("taskId", FL | SO | CR | RQ | C_NOTNULL, "task_id", STORE_TASKS, "the task run"),
    REF("jobId", FL | SO | CR, "job_id", STORE_JOBS, "the job, for queued runs"),
    COL("taskVersion", STORE_TEXT, FL | CR, "task_version", "task version that ran"),
    COL("input", STORE_JSON, CR | C_NOTNULL, "input", "input of the run"),
    COL("output", STORE_JSON, CR | UP, "output", "output of a completed run"),
    VALS("status", STORE_ENUM, FL | SO | CR | UP | C_NOTNULL, "status", store_exec_status_values,
         "PENDING, RUNNING, COMPLETED, FAILED or CANCELLED"),
    COL("errorType", STORE_TEXT, FL | SE | CR | UP, "error_type", "error class, e.g. HttpError"),
    COL("errorMessage", STORE_TEXT, FL | SE | CR | UP, "error_message", "error message"),
    COL("errorDetails", STORE_JSON, CR | UP, "error_details", "stack, HTTP status, ..."),
    COL("attempt", STORE_INT, FL | SO | CR, "attempt", "attempt number of its job"),
    COL("queuedAt", STORE_TIME, FL | SO | CR | C_NOW_CREATE, "queued_at", "creation time"),
    COL("startedAt", STORE_TIME, FL | SO | CR | UP, "started_at", "start of the run"),
    COL("completedAt", STORE_TIME, FL | SO | CR | UP, "completed_at", "end of the run"),
    COL("durationMs", STORE_INT, FL | SO | CR | UP, "duration_ms", "run time in ms"),
    COL("workerId", STORE_TEXT, FL | CR | UP, "worker_id", "worker that ran it"),
    COL("nodeId", STORE_TEXT, FL | CR | UP, "node_id", "node that ran it"),
    COL("httpRequestCount", STORE_INT, FL | SO | CR | UP, "http_request_count",
        "HTTP requests made"),
    COL("canRetry", STORE_BOOL, FL | C_EXPR,
        "CASE WHEN status IN ('failed', 'cancelled') THEN 1 ELSE 0 END", "FAILED or CANCELLED"),
    COL("canCancel", STORE_BOOL, FL | C_EXPR,
        "CASE WHEN status IN ('pending', 'running') THEN 1 ELSE 0 END", "PENDING or RUNNING"),
};

static const struct unique_msg uuid_uniques[] = {
    {{"uuid"}, "a record with uuid %s already exists"},
    {{NULL}, NULL},
};

static const struct column log_cols[] = {
    REF("executionId", FL | SO | C_NOTNULL, "execution_id", STORE_EXECUTIONS, "the execution"),
    COL("seq", STORE_INT, FL | SO, "seq", "line number, from 0"),
    COL("timestamp", STORE_TIME, FL | SO, "ts", "when it was written"),
    COL("level", STORE_TEXT, FL, "level", "log, info, warn, error or debug"),
    COL("message", STORE_TEXT, FL | SE, "message", "the text"),
};

static const struct column http_cols[] = {
    REF("executionId", FL | SO | C_NOTNULL, "execution_id", STORE_EXECUTIONS, "the execution"),
    COL("seq", STORE_INT, FL | SO, "seq", "request number, from 0"),
    COL("method", STORE_TEXT, FL, "method", "HTTP method"),
    COL("url", STORE_TEXT, FL | SE, "url", "request URL"),
    COL("status", STORE_INT, FL | SO, "status", "response status; null: no response"),
    COL("durationMs", STORE_INT, FL | SO, "duration_ms", "time taken"),
    COL("entry", STORE_JSON, 0, "entry", "full request and response (HAR entry)"),
};

static const struct column job_cols[] = {
    ID_COL,
    UUID_COL,
    REF("taskId", FL | SO | CR | RQ | C_NOTNULL, "task_id", STORE_TASKS, "the task to run"),
    REF("scheduleId", FL | SO | CR, "schedule_id", STORE_SCHEDULES, "schedule that made it"),
    COL("executionId", STORE_INT, FL | C_EXPR,
        "SELECT MAX(e.id) FROM executions e WHERE e.job_id = jobs.id",
        "execution of the latest attempt"),
    COL("priority", STORE_PRIORITY, FL | SO | CR | UP | C_NOTNULL, "priority",
        "LOW, NORMAL, HIGH or CRITICAL"),
    VALS("status", STORE_ENUM, FL | SO, "status", store_job_status_values,
         "QUEUED, PROCESSING, COMPLETED, FAILED, CANCELLED or RETRYING"),
    COL("input", STORE_JSON, CR | C_NOTNULL, "input", "input of the task"),
    COL("output", STORE_JSON, C_EXPR,
        "SELECT e.output FROM executions e WHERE e.job_id = jobs.id ORDER BY e.id DESC LIMIT 1",
        "output of the latest attempt"),
    COL("attempts", STORE_INT, FL | SO, "attempts", "attempts started"),
    COL("maxAttempts", STORE_INT, FL | SO | CR | UP | C_NOTNULL, "max_attempts",
        "attempts allowed in all (not only retries)"),
    COL("retryCount", STORE_INT, FL | SO | C_ALIAS, "attempts", "same as attempts"),
    COL("maxRetries", STORE_INT, FL | SO | C_ALIAS, "max_attempts", "same as maxAttempts"),
    COL("scheduledFor", STORE_TIME, FL | SO | CR | UP | C_NOW_CREATE | C_NOTNULL, "run_at",
        "earliest time it may run"),
    COL("queuedAt", STORE_TIME, FL | SO | C_NOW_CREATE, "queued_at", "creation time"),
    COL("startedAt", STORE_TIME, FL | SO, "started_at", "start of the latest attempt"),
    COL("completedAt", STORE_TIME, FL | SO, "completed_at", "when it finished"),
    COL("leaseOwner", STORE_TEXT, FL, "lease_owner", "node running it"),
    COL("leaseUntil", STORE_TIME, FL | SO, "lease_until", "lease expiry"),
    COL("uniqueKey", STORE_TEXT, FL | CR, "unique_key", "deduplication key"),
    COL("concurrencyKey", STORE_TEXT, FL | CR, "concurrency_key", "concurrency limit key"),
    COL("concurrencyLimit", STORE_INT, CR, "concurrency_limit", "running jobs allowed per key"),
    COL("timeoutMs", STORE_INT, CR | UP, "timeout_ms", "run timeout; null: default"),
    COL("retryPolicy", STORE_JSON, CR | UP, "retry_policy", "backoff parameters"),
    COL("errorMessage", STORE_TEXT, FL | SE, "last_error", "error of the latest failed attempt"),
    COL("cancelRequested", STORE_BOOL, FL, "cancel_requested", "cancel asked while running"),
    COL("outputDestinations", STORE_JSON, CR | UP, "output_destinations", "where the output goes"),
    VALS("deliveryStatus", STORE_ENUM, FL | SO, "delivery_status", delivery_statuses,
         "output deliveries: PENDING (owed) or DONE; null: none owed"),
    COL("deliveryOwner", STORE_TEXT, FL, "delivery_owner", "node owing its deliveries"),
    COL("metadata", STORE_JSON, CR | UP, "metadata", "free-form metadata"),
};

static const struct unique_msg job_uniques[] = {
    {{"uniqueKey"}, "an active job with unique key \"%s\" already exists"},
    {{"uuid"}, "a job with uuid %s already exists"},
    {{NULL}, NULL},
};

static const struct column schedule_cols[] = {
    ID_COL,
    UUID_COL,
    REF("taskId", FL | SO | CR | RQ | C_NOTNULL, "task_id", STORE_TASKS, "the task it runs"),
    COL("name", STORE_TEXT, FL | SO | SE | CR | UP | RQ | C_NOTNULL, "name", "name"),
    COL("description", STORE_TEXT, SE | CR | UP, "description", "description"),
    COL("cronExpression", STORE_TEXT, FL | SE | CR | UP | RQ | C_NOTNULL, "cron_expression",
        "cron expression"),
    COL("timezone", STORE_TEXT, FL | CR | UP, "timezone", "IANA time zone; null: UTC"),
    COL("input", STORE_JSON, CR | UP | C_NOTNULL, "input", "input of each job"),
    COL("enabled", STORE_BOOL, FL | SO | CR | UP | C_NOTNULL, "enabled", "whether it fires"),
    COL("priority", STORE_PRIORITY, FL | SO | CR | UP | C_NOTNULL, "priority",
        "priority of its jobs"),
    COL("maxAttempts", STORE_INT, FL | CR | UP | C_NOTNULL, "max_attempts",
        "max attempts of its jobs"),
    COL("outputDestinations", STORE_JSON, CR | UP, "output_destinations",
        "destinations of its jobs"),
    COL("nextRun", STORE_TIME, FL | SO | CR | UP, "next_run_at", "next fire time"),
    COL("lastRun", STORE_TIME, FL | SO | CR | UP, "last_run_at", "when it last fired"),
    COL("lastFireAt", STORE_TIME, FL | SO | UP, "last_fire_at", "fire time last enqueued"),
    COL("executionCount", STORE_INT, FL | SO | UP | C_NOTNULL, "execution_count", "jobs it made"),
    COL("maxExecutions", STORE_INT, FL | CR | UP, "max_executions", "limit; null: none"),
    VALS("misfirePolicy", STORE_TEXT, FL | CR | UP | C_NOTNULL, "misfire_policy", misfire_policies,
         "skip or run_once: what missed fire times do"),
    COL("metadata", STORE_JSON, CR | UP, "metadata", "free-form metadata"),
    COL("createdAt", STORE_TIME, FL | SO | C_NOW_CREATE, "created_at", "creation time"),
    COL("updatedAt", STORE_TIME, FL | SO | C_NOW_CREATE | C_NOW_UPDATE, "updated_at",
        "last change"),
};

static const struct column delivery_cols[] = {
    ID_COL,
    REF("jobId", FL | SO | CR | RQ | C_NOTNULL, "job_id", STORE_JOBS, "the job"),
    REF("executionId", FL | SO | CR, "execution_id", STORE_EXECUTIONS, "the execution"),
    COL("destinationIndex", STORE_INT, FL | SO | CR | C_NOTNULL, "destination_index",
        "index in the job's destinations"),
    COL("destinationType", STORE_TEXT, FL | CR | RQ | C_NOTNULL, "destination_type",
        "webhook, file, stdout, ..."),
    COL("attempt", STORE_INT, FL | SO | CR | C_NOTNULL, "attempt", "delivery attempt"),
    COL("success", STORE_BOOL, FL | SO | CR | RQ | C_NOTNULL, "success", "delivered"),
    COL("statusCode", STORE_INT, FL | SO | CR, "status_code", "HTTP status, for webhooks"),
    COL("durationMs", STORE_INT, FL | SO | CR, "duration_ms", "time taken"),
    COL("sizeBytes", STORE_INT, SO | CR, "size_bytes", "bytes delivered"),
    COL("errorMessage", STORE_TEXT, FL | SE | CR, "error_message", "why it failed"),
    COL("responseInfo", STORE_JSON, CR, "response_info", "response details"),
    COL("createdAt", STORE_TIME, FL | SO | C_NOW_CREATE, "created_at", "when it was tried"),
};

static const struct column api_key_cols[] = {
    ID_COL,
    COL("name", STORE_TEXT, FL | SO | SE | CR | UP | RQ | KY | C_NOTNULL, "name", "unique name"),
    COL("prefix", STORE_TEXT, FL | CR | RQ | KY | C_NOTNULL, "prefix", "visible key prefix"),
    COL("keyHash", STORE_TEXT, CR | RQ | HI | C_NOTNULL, "key_hash", "hash of the key"),
    VALS("role", STORE_TEXT, FL | SO | CR | UP | RQ | C_NOTNULL, "role", roles,
         "admin, operator or viewer"),
    COL("createdAt", STORE_TIME, FL | SO | C_NOW_CREATE, "created_at", "creation time"),
    COL("lastUsedAt", STORE_TIME, FL | SO | UP, "last_used_at", "last successful use"),
    COL("expiresAt", STORE_TIME, FL | SO | CR | UP, "expires_at", "expiry; null: never"),
    COL("revokedAt", STORE_TIME, FL | SO | UP, "revoked_at", "revocation time"),
};

static const struct unique_msg api_key_uniques[] = {
    {{"name"}, "an api key named \"%s\" already exists"},
    {{"prefix"}, "an api key with prefix %s already exists"},
    {{NULL}, NULL},
};

static const struct column node_cols[] = {
    ID_COL,
    COL("nodeId", STORE_TEXT, FL | SO | CR | RQ | KY | C_NOTNULL, "node_id", "node identifier"),
    COL("hostname", STORE_TEXT, FL | SO | SE | CR | UP, "hostname", "host name"),
    COL("pid", STORE_INT, FL | CR | UP, "pid", "process id"),
    COL("startedAt", STORE_TIME, FL | SO | CR | C_NOW_CREATE, "started_at", "start time"),
    COL("heartbeatAt", STORE_TIME, FL | SO | CR | UP | C_NOW_CREATE | C_NOW_UPDATE, "heartbeat_at",
        "last heartbeat"),
    COL("status", STORE_TEXT, FL | SO | CR | UP | C_NOTNULL, "status", "active, draining, ..."),
    COL("isScheduler", STORE_BOOL, FL | CR | UP | C_NOTNULL, "is_scheduler", "runs the scheduler"),
    COL("info", STORE_JSON, CR | UP, "info", "version, capacity, ..."),
};

static const struct unique_msg node_uniques[] = {
    {{"nodeId"}, "a node with id \"%s\" already exists"},
    {{NULL}, NULL},
};

static const struct column worker_cols[] = {
    ID_COL,
    COL("workerId", STORE_TEXT, FL | SO | CR | RQ | KY | C_NOTNULL, "worker_id",
        "worker identifier"),
    COL("nodeId", STORE_TEXT, FL | SO | CR | UP | RQ | C_NOTNULL, "node_id", "its node"),
    COL("pid", STORE_INT, FL | CR | UP, "pid", "process id"),
    COL("status", STORE_TEXT, FL | SO | CR | UP | C_NOTNULL, "status", "starting, ready, ..."),
    COL("startedAt", STORE_TIME, FL | SO | CR | C_NOW_CREATE, "started_at", "start time"),
    COL("heartbeatAt", STORE_TIME, FL | SO | CR | UP | C_NOW_CREATE | C_NOW_UPDATE, "heartbeat_at",
        "last health check"),
    COL("runs", STORE_INT, FL | SO | CR | UP | C_NOTNULL, "runs", "runs done"),
    COL("failures", STORE_INT, FL | SO | CR | UP | C_NOTNULL, "failures", "runs failed"),
    COL("rssBytes", STORE_INT, FL | SO | CR | UP, "rss_bytes", "resident memory"),
    COL("currentJobs", STORE_JSON, CR | UP, "current_jobs", "ids of the jobs it runs"),
};

static const struct unique_msg worker_uniques[] = {
    {{"workerId"}, "a worker with id \"%s\" already exists"},
    {{NULL}, NULL},
};

static const struct unique_msg no_uniques[] = {{{NULL}, NULL}};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct entity entities[STORE_ENTITY__COUNT] = {
    [STORE_TASKS] = {"task", "tasks", task_cols, N(task_cols), true, "id", task_uniques},
    [STORE_TASK_VERSIONS] = {"task version", "task_versions", task_version_cols,
                             N(task_version_cols), true, "id", task_version_uniques},
    [STORE_EXECUTIONS] = {"execution", "executions", execution_cols, N(execution_cols), true, "id",
                          uuid_uniques},
    [STORE_EXECUTION_LOGS] = {"execution log line", "execution_logs", log_cols, N(log_cols), false,
                              "execution_id, seq", no_uniques},
    [STORE_EXECUTION_HTTP] = {"execution HTTP request", "execution_http", http_cols, N(http_cols),
                              false, "execution_id, seq", no_uniques},
    [STORE_JOBS] = {"job", "jobs", job_cols, N(job_cols), true, "id", job_uniques},
    [STORE_SCHEDULES] = {"schedule", "schedules", schedule_cols, N(schedule_cols), true, "id",
                         uuid_uniques},
    [STORE_DELIVERIES] = {"delivery result", "delivery_results", delivery_cols, N(delivery_cols),
                          true, "id", no_uniques},
    [STORE_API_KEYS] = {"api key", "api_keys", api_key_cols, N(api_key_cols), true, "id",
                        api_key_uniques},
    [STORE_NODES] = {"node", "nodes", node_cols, N(node_cols), true, "id", node_uniques},
    [STORE_WORKERS] = {"worker", "workers", worker_cols, N(worker_cols), true, "id",
                       worker_uniques},
};

/* The public field tables are views of the column tables (struct column starts with its
 * struct store_field, but arrays of them do not line up, so each is copied once). */
static struct store_field field_tables[STORE_ENTITY__COUNT][48];
static pthread_once_t fields_once = PTHREAD_ONCE_INIT;

static void fields_init(void)
{
    for (size_t e = 0; e < STORE_ENTITY__COUNT; e++)
        for (size_t i = 0; i < entities[e].ncols && i < 48; i++) {
            field_tables[e][i] = entities[e].cols[i].f;
            field_tables[e][i].flags &= 0xffff; /* public flags only */
        }
}

const struct store_field *store_fields(enum store_entity e, size_t *n)
{
    if ((unsigned)e >= STORE_ENTITY__COUNT) {
        *n = 0;
        return NULL;
    }
    pthread_once(&fields_once, fields_init);
    *n = entities[e].ncols;
    return field_tables[e];
}

const char *store_entity_name(enum store_entity e)
{
    return (unsigned)e < STORE_ENTITY__COUNT ? entities[e].name : "record";
}

const struct entity *store_entity(enum store_entity e)
{
    return &entities[e];
}

const struct column *entity_column(const struct entity *en, const char *field)
{
    for (size_t i = 0; field && i < en->ncols; i++)
        if (strcmp(en->cols[i].f.name, field) == 0)
            return &en->cols[i];
    return NULL;
}

static const char *const priority_names[] = {NULL, "LOW", "NORMAL", "HIGH", "CRITICAL"};

const char *store_priority_name(int priority)
{
    return priority >= 1 && priority <= 4 ? priority_names[priority] : NULL;
}

const char *store_job_status_name(enum store_job_status s)
{
    return (unsigned)s < STORE_JOB__COUNT ? store_job_status_values[s] : "unknown";
}

const char *store_exec_status_name(enum store_exec_status s)
{
    return (unsigned)s < STORE_EXEC__COUNT ? store_exec_status_values[s] : "unknown";
}

void entity_select_list(const struct entity *en, struct strbuf *sql)
{
    bool first = true;
    for (size_t i = 0; i < en->ncols; i++) {
        const struct column *c = &en->cols[i];
        if (c->f.flags & STORE_F_HIDDEN)
            continue;
        strbuf_adds(sql, first ? "" : ", ");
        first = false;
        if (c->f.flags & C_EXPR)
            strbuf_addf(sql, "(%s)", c->sql);
        else
            strbuf_addf(sql, "%s.%s", en->table, c->sql);
    }
}

/* One value of a row as JSON (a new reference). */
json_t *column_json(const struct column *c, struct dbstmt *s, int i)
{
    if (db_col_null(s, i))
        return json_null();
    switch (c->f.type) {
    case STORE_INT:
        return json_integer(db_col_int(s, i));
    case STORE_REAL:
        return json_real(db_col_real(s, i));
    case STORE_BOOL:
        return json_boolean(db_col_int(s, i) != 0);
    case STORE_PRIORITY: {
        int64_t p = db_col_int(s, i);
        const char *name = store_priority_name((int)p);
        return name ? json_string(name) : json_integer(p);
    }
    case STORE_TIME: {
        char buf[40];
        return json_string(time_format_rfc3339_ms(db_col_int(s, i), buf, sizeof(buf)));
    }
    case STORE_JSON: {
        size_t len = 0;
        const char *t = db_col_text(s, i, &len);
        json_t *v = NULL;
        if (jsonx_parse(t, len, &v, NULL) < 0)
            return json_stringn(t, len); /* not JSON: written by hand; show it as text */
        return v;
    }
    case STORE_ENUM: {
        size_t len = 0;
        const char *t = db_col_text(s, i, &len);
        char buf[32];
        if (len >= sizeof(buf))
            return json_stringn(t, len);
        for (size_t k = 0; k < len; k++)
            buf[k] = (char)(t[k] >= 'a' && t[k] <= 'z' ? t[k] - 32 : t[k]);
        return json_stringn(buf, len);
    }
    case STORE_TEXT:
        break;
    }
    size_t len = 0;
    const char *t = db_col_text(s, i, &len);
    return json_stringn(t, len);
}

json_t *entity_row(const struct entity *en, struct dbstmt *s, int first)
{
    json_t *row = json_object();
    int i = first;
    for (size_t k = 0; k < en->ncols; k++) {
        const struct column *c = &en->cols[k];
        if (c->f.flags & STORE_F_HIDDEN)
            continue;
        json_object_set_new(row, c->f.name, column_json(c, s, i++));
    }
    return row;
}
