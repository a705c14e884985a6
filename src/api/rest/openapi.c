/*
 * The OpenAPI 3.1 document, generated from what the server really runs: every path and
 * method from the resource route tables (with their roles, flags and documentation), list
 * parameters and entity schemas from the store's field tables, request schemas from the
 * service's operation tables. Only the shapes the service builds by hand (stats, run results,
 * health) are written out here, and the integration tests check real answers against all of
 * them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/rest/internal.h"
#include "util/err.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/version.h"

/* ---- entity and input schemas from the field tables ---- */

static const struct {
    enum service_resource r;
    const char *name;
} entity_schemas[] = {
    {SERVICE_TASKS, "Task"},
    {SERVICE_TASK_VERSIONS, "TaskVersion"},
    {SERVICE_EXECUTIONS, "Execution"},
    {SERVICE_EXECUTION_LOGS, "ExecutionLog"},
    {SERVICE_EXECUTION_HTTP, "ExecutionRequest"},
    {SERVICE_JOBS, "Job"},
    {SERVICE_SCHEDULES, "Schedule"},
    {SERVICE_DELIVERIES, "DeliveryResult"},
    {SERVICE_WORKERS, "Worker"},
    {SERVICE_NODES, "Node"},
    {SERVICE_API_KEYS, "ApiKey"},
};

static const struct {
    enum service_op op;
    const char *name;
    const char *doc;
} input_schemas[] = {
    {SERVICE_OP_TASK_CREATE, "TaskCreate", "A new task: code, schemas and metadata."},
    {SERVICE_OP_TASK_UPDATE, "TaskUpdate", "Changes to a task; all fields optional."},
    {SERVICE_OP_JOB_CREATE, "JobCreate", "A job to queue."},
    {SERVICE_OP_SCHEDULE_CREATE, "ScheduleCreate", "A new cron schedule."},
    {SERVICE_OP_SCHEDULE_UPDATE, "ScheduleUpdate", "Changes to a schedule; all fields optional."},
    {SERVICE_OP_API_KEY_CREATE, "ApiKeyCreate", "A new API key."},
};

static json_t *upper_values(const char *const *values)
{
    json_t *e = json_array();
    for (size_t i = 0; values && values[i]; i++) {
        char buf[64];
        size_t k = 0;
        for (; values[i][k] && k + 1 < sizeof(buf); k++)
            buf[k] = (char)(values[i][k] >= 'a' && values[i][k] <= 'z' ? values[i][k] - 32
                                                                       : values[i][k]);
        buf[k] = '\0';
        json_array_append_new(e, json_string(buf));
    }
    return e;
}

static json_t *priority_names(void)
{
    return json_pack("[s,s,s,s]", "LOW", "NORMAL", "HIGH", "CRITICAL");
}

/* The schema of a field as rows show it; nullable unless it is the id. */
static json_t *output_field(const struct store_field *f, bool nullable)
{
    json_t *s = NULL;
    const char *t = NULL;
    switch (f->type) {
    case STORE_INT:
        t = "integer";
        break;
    case STORE_REAL:
        t = "number";
        break;
    case STORE_TEXT:
        t = "string";
        break;
    case STORE_BOOL:
        t = "boolean";
        break;
    case STORE_TIME:
        t = "string";
        break;
    case STORE_JSON:
        s = json_object(); /* any JSON value */
        break;
    case STORE_ENUM:
    case STORE_PRIORITY: {
        json_t *e = f->type == STORE_PRIORITY ? priority_names() : upper_values(f->values);
        if (nullable)
            json_array_append_new(e, json_null());
        s = json_pack("{s:o}", "enum", e);
        break;
    }
    }
    if (t) {
        s = nullable ? json_pack("{s:[s,s]}", "type", t, "null") : json_pack("{s:s}", "type", t);
        if (f->type == STORE_TIME)
            json_object_set_new(s, "format", json_string("date-time"));
        if (f->type == STORE_TEXT && f->values) {
            json_t *e = json_array();
            for (size_t i = 0; f->values[i]; i++)
                json_array_append_new(e, json_string(f->values[i]));
            if (nullable)
                json_array_append_new(e, json_null());
            json_object_set_new(s, "enum", e);
        }
    }
    if (f->doc)
        json_object_set_new(s, "description", json_string(f->doc));
    return s;
}

static json_t *entity_schema(enum service_resource r)
{
    size_t n = 0;
    const struct store_field *f = service_resource_fields(r, &n);
    json_t *props = json_object(), *req = json_array();
    for (size_t i = 0; i < n; i++) {
        if (f[i].flags & STORE_F_HIDDEN)
            continue;
        bool is_id = strcmp(f[i].name, "id") == 0;
        json_object_set_new(props, f[i].name, output_field(&f[i], !is_id));
        json_array_append_new(req, json_string(f[i].name));
    }
    if (r == SERVICE_WORKERS) {
        /* Workers are named by their worker id, and say whether the data is live. */
        json_object_set_new(
            props, "id", json_pack("{s:s, s:s}", "type", "string", "description", "the worker id"));
        json_object_set_new(props, "live",
                            json_pack("{s:s, s:s}", "type", "boolean", "description",
                                      "true: this node's live state; false: last stored report"));
        json_array_append_new(req, json_string("live"));
    }
    if (r == SERVICE_NODES) {
        /* Computed when read (service_node_get). */
        json_object_set_new(props, "alive",
                            json_pack("{s:s, s:s}", "type", "boolean", "description",
                                      "not stopped, and its last heartbeat is within "
                                      "job_queue.lease_ms"));
        json_object_set_new(props, "runningJobs",
                            json_pack("{s:s, s:{s:s}, s:s}", "type", "array", "items", "type",
                                      "integer", "description", "ids of the jobs it holds now"));
        json_array_append_new(req, json_string("alive"));
        json_array_append_new(req, json_string("runningJobs"));
    }
    return json_pack("{s:s, s:o, s:o, s:b}", "type", "object", "properties", props, "required", req,
                     "additionalProperties", false);
}

/* The schema of a field as a client may send it. */
static json_t *input_field(const struct service_op_field *f)
{
    json_t *s;
    if (f->ref)
        s = json_pack("{s:[{s:s, s:i}, {s:s, s:i}]}", "oneOf", "type", "integer", "minimum", 1,
                      "type", "string", "minLength", 1);
    else if (f->type == STORE_TIME)
        s = json_pack("{s:[{s:s, s:s}, {s:s, s:i}]}", "oneOf", "type", "string", "format",
                      "date-time", "type", "integer", "minimum", 0);
    else if (f->type == STORE_PRIORITY)
        s = json_pack("{s:[{s:s, s:o}, {s:s, s:i, s:i}]}", "oneOf", "type", "string", "enum",
                      priority_names(), "type", "integer", "minimum", 1, "maximum", 4);
    else if (f->type == STORE_ENUM)
        s = json_pack("{s:s}", "type", "string");
    else {
        struct store_field sf = {f->name, f->type, 0, f->values, NULL};
        s = output_field(&sf, !f->required);
    }
    char doc[256];
    snprintf(doc, sizeof(doc), "%s%s", f->doc ? f->doc : "",
             f->ref ? " (an id, uuid or name)" : "");
    json_object_set_new(s, "description", json_string(doc));
    return s;
}

static json_t *input_schema(enum service_op op, const char *doc)
{
    size_t n = 0;
    struct service_op_field *f = service_op_fields(op, &n);
    json_t *props = json_object(), *req = json_array();
    for (size_t i = 0; i < n; i++) {
        json_object_set_new(props, f[i].name, input_field(&f[i]));
        if (f[i].required)
            json_array_append_new(req, json_string(f[i].name));
    }
    free(f);
    struct strbuf sb = STRBUF_INIT;
    strbuf_addf(&sb, "%s Keys may also be snake_case", doc);
    const char *const *al = service_op_aliases(op);
    for (size_t i = 0; al && al[i]; i++)
        strbuf_addf(&sb, "%s%s", i == 0 ? "; other accepted names: " : ", ", al[i]);
    strbuf_adds(&sb, ". Read-only fields of the entity (id, createdAt, ...) are ignored.");
    json_t *s =
        json_pack("{s:s, s:s, s:o}", "type", "object", "description", sb.buf, "properties", props);
    strbuf_release(&sb);
    if (json_array_size(req))
        json_object_set_new(s, "required", req);
    else
        json_decref(req);
    return s;
}

/* ---- shapes the service builds by hand ---- */

static const char fixed_schemas[] =
    "{"
    "\"Error\": {\"type\": \"object\", \"required\": [\"statusCode\", \"error\", \"message\"],"
    " \"description\": \"Every error. Some carry more members: details (schema errors), checks"
    " (readiness), or a failed run's executionId, taskError and logs.\","
    " \"properties\": {\"statusCode\": {\"type\": \"integer\"}, \"error\": {\"type\": \"string\","
    " \"description\": \"NOT_FOUND, BAD_REQUEST, VALIDATION_ERROR, TASK_FAILED, ...\"},"
    " \"message\": {\"type\": \"string\"}, \"details\": {}}},"
    "\"ExecuteRequest\": {\"type\": \"object\","
    " \"properties\": {\"input\": {\"description\": \"the task's input (checked against its"
    " input schema); also inputData or input_data\"}, \"timeoutMs\": {\"type\": \"integer\","
    " \"minimum\": 1, \"description\": \"run timeout (capped by server.request_timeout)\"}}},"
    "\"RunResult\": {\"type\": \"object\", \"required\": [\"taskId\", \"status\", \"logs\","
    " \"durationMs\"], \"properties\": {\"executionId\": {\"type\": \"integer\"},"
    " \"executionUuid\": {\"type\": \"string\"}, \"taskId\": {\"type\": \"integer\"},"
    " \"status\": {\"enum\": [\"COMPLETED\", \"FAILED\", \"CANCELLED\"]}, \"output\": {},"
    " \"taskError\": {\"type\": \"object\", \"description\": \"why the run failed: type,"
    " message, stack, status\"}, \"logs\": {\"type\": \"array\", \"items\":"
    " {\"type\": \"object\"}}, \"durationMs\": {\"type\": \"integer\"}}},"
    "\"TestReport\": {\"type\": \"object\", \"required\": [\"tests\", \"totals\"],"
    " \"properties\": {\"task\": {\"type\": \"object\"}, \"tests\": {\"type\": \"array\","
    " \"items\": {\"type\": \"object\"}}, \"totals\": {\"type\": \"object\"}}},"
    "\"TaskStats\": {\"type\": \"object\", \"additionalProperties\": false, \"required\":"
    " [\"totalTasks\", \"enabledTasks\", \"disabledTasks\", \"registryTasks\", \"apiTasks\"],"
    " \"properties\": {\"totalTasks\": {\"type\": \"integer\"}, \"enabledTasks\": {\"type\":"
    " \"integer\"}, \"disabledTasks\": {\"type\": \"integer\"}, \"registryTasks\": {\"type\":"
    " \"integer\"}, \"apiTasks\": {\"type\": \"integer\"}}},"
    "\"ExecutionStats\": {\"type\": \"object\", \"additionalProperties\": false, \"required\":"
    " [\"totalExecutions\", \"pendingExecutions\", \"runningExecutions\","
    " \"completedExecutions\", \"failedExecutions\", \"cancelledExecutions\","
    " \"averageDurationMs\", \"successRate\", \"executionsLast24h\"], \"properties\":"
    " {\"totalExecutions\": {\"type\": \"integer\"}, \"pendingExecutions\": {\"type\":"
    " \"integer\"}, \"runningExecutions\": {\"type\": \"integer\"}, \"completedExecutions\":"
    " {\"type\": \"integer\"}, \"failedExecutions\": {\"type\": \"integer\"},"
    " \"cancelledExecutions\": {\"type\": \"integer\"}, \"averageDurationMs\": {\"type\":"
    " [\"number\", \"null\"]}, \"successRate\": {\"type\": [\"number\", \"null\"], \"minimum\":"
    " 0, \"maximum\": 1}, \"executionsLast24h\": {\"type\": \"integer\"}}},"
    "\"JobStats\": {\"type\": \"object\", \"additionalProperties\": false, \"required\":"
    " [\"totalJobs\", \"queuedJobs\", \"processingJobs\", \"completedJobs\", \"failedJobs\","
    " \"cancelledJobs\", \"retryingJobs\", \"dueJobs\", \"queueDepthByPriority\","
    " \"jobsLast24h\", \"oldestDueAt\"], \"properties\": {\"totalJobs\": {\"type\":"
    " \"integer\"}, \"queuedJobs\": {\"type\": \"integer\"}, \"processingJobs\": {\"type\":"
    " \"integer\"}, \"completedJobs\": {\"type\": \"integer\"}, \"failedJobs\": {\"type\":"
    " \"integer\"}, \"cancelledJobs\": {\"type\": \"integer\"}, \"retryingJobs\": {\"type\":"
    " \"integer\"}, \"dueJobs\": {\"type\": \"integer\"}, \"queueDepthByPriority\": {\"type\":"
    " \"object\", \"additionalProperties\": false, \"required\": [\"LOW\", \"NORMAL\", \"HIGH\","
    " \"CRITICAL\"], \"properties\": {\"LOW\": {\"type\": \"integer\"}, \"NORMAL\": {\"type\":"
    " \"integer\"}, \"HIGH\": {\"type\": \"integer\"}, \"CRITICAL\": {\"type\": \"integer\"}}},"
    " \"jobsLast24h\": {\"type\": \"integer\"}, \"oldestDueAt\": {\"type\": [\"string\","
    " \"null\"], \"format\": \"date-time\"}}},"
    "\"ScheduleStats\": {\"type\": \"object\", \"additionalProperties\": false, \"required\":"
    " [\"totalSchedules\", \"enabledSchedules\", \"disabledSchedules\", \"nextExecution\","
    " \"lastExecution\"], \"properties\": {\"totalSchedules\": {\"type\": \"integer\"},"
    " \"enabledSchedules\": {\"type\": \"integer\"}, \"disabledSchedules\": {\"type\":"
    " \"integer\"}, \"nextExecution\": {\"type\": [\"string\", \"null\"], \"format\":"
    " \"date-time\"}, \"lastExecution\": {\"type\": [\"string\", \"null\"], \"format\":"
    " \"date-time\"}}},"
    "\"WorkerStats\": {\"type\": \"object\", \"additionalProperties\": false, \"required\":"
    " [\"totalWorkers\", \"byStatus\", \"totalRuns\", \"totalFailures\", \"totalRssBytes\"],"
    " \"properties\": {\"totalWorkers\": {\"type\": \"integer\"}, \"byStatus\": {\"type\":"
    " \"object\", \"additionalProperties\": {\"type\": \"integer\"}}, \"totalRuns\": {\"type\":"
    " \"integer\"}, \"totalFailures\": {\"type\": \"integer\"}, \"totalRssBytes\": {\"type\":"
    " \"integer\"}}},"
    "\"SyncReport\": {\"type\": \"object\", \"additionalProperties\": false, \"required\":"
    " [\"added\", \"updated\", \"unchanged\", \"errors\"], \"properties\": {\"added\": {\"type\":"
    " \"array\", \"items\": {\"type\": \"string\"}}, \"updated\": {\"type\": \"array\","
    " \"items\": {\"type\": \"string\"}}, \"unchanged\": {\"type\": \"array\", \"items\":"
    " {\"type\": \"string\"}}, \"errors\": {\"type\": \"array\", \"items\": {\"type\":"
    " \"object\", \"required\": [\"path\", \"error\"], \"properties\": {\"path\": {\"type\":"
    " \"string\"}, \"error\": {\"type\": \"string\"}}}}}},"
    "\"ServiceInfo\": {\"type\": \"object\", \"required\": [\"service\", \"version\","
    " \"status\", \"endpoints\"], \"additionalProperties\": false, \"properties\": {\"service\":"
    " {\"type\": \"string\"}, \"version\": {\"type\": \"string\"}, \"status\": {\"type\":"
    " \"string\"}, \"node\": {\"type\": \"string\"}, \"endpoints\": {\"type\": \"object\","
    " \"additionalProperties\": {\"type\": \"string\"}}}},"
    "\"Health\": {\"type\": \"object\", \"additionalProperties\": false, \"required\":"
    " [\"status\", \"timestamp\", \"version\", \"uptimeSeconds\", \"store\"], \"properties\":"
    " {\"status\": {\"const\": \"healthy\"}, \"timestamp\": {\"type\": \"string\", \"format\":"
    " \"date-time\"}, \"version\": {\"type\": \"string\"}, \"uptimeSeconds\": {\"type\":"
    " \"integer\"}, \"store\": {\"enum\": [\"sqlite\", \"postgres\"]}}},"
    "\"Ready\": {\"type\": \"object\", \"additionalProperties\": false, \"required\":"
    " [\"status\", \"timestamp\", \"checks\"], \"properties\": {\"status\": {\"type\":"
    " \"string\"}, \"timestamp\": {\"type\": \"string\", \"format\": \"date-time\"},"
    " \"checks\": {\"type\": \"object\", \"additionalProperties\": {\"type\": \"object\","
    " \"required\": [\"ready\", \"message\"], \"properties\": {\"ready\": {\"type\":"
    " \"boolean\"}, \"message\": {\"type\": \"string\"}}}}}},"
    "\"Live\": {\"type\": \"object\", \"additionalProperties\": false, \"required\":"
    " [\"status\", \"timestamp\"], \"properties\": {\"status\": {\"const\": \"alive\"},"
    " \"timestamp\": {\"type\": \"string\", \"format\": \"date-time\"}}},"
    "\"FireTimes\": {\"type\": \"array\", \"items\": {\"type\": \"string\", \"format\":"
    " \"date-time\"}},"
    "\"JobArray\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/components/schemas/Job\"}},"
    "\"JobBulk\": {\"oneOf\": [{\"type\": \"array\", \"minItems\": 1, \"maxItems\": 1000,"
    " \"items\": {\"$ref\": \"#/components/schemas/JobCreate\"}}, {\"type\": \"object\","
    " \"required\": [\"jobs\"], \"properties\": {\"jobs\": {\"type\": \"array\", \"minItems\":"
    " 1, \"maxItems\": 1000, \"items\": {\"$ref\": \"#/components/schemas/JobCreate\"}}}}]}"
    "}";

/* ---- responses ---- */

static const struct {
    int status;
    const char *name;
    const char *doc;
} error_responses[] = {
    {400, "BadRequest",
     "A parameter or field is invalid (the message names it), or malformed "
     "JSON (with line and column)."},
    {401, "Unauthorized", "No API key, or an unknown, revoked or expired one."},
    {403, "Forbidden", "The API key's role is too low for this route."},
    {404, "NotFound", "No such thing."},
    {409, "Conflict",
     "The thing's state forbids this (e.g. a disabled task, a finished job), or "
     "a unique value is taken."},
    {413, "PayloadTooLarge", "The body is over server.max_body_bytes."},
    {415, "UnsupportedMediaType", "The body is not application/json."},
    {422, "Unprocessable",
     "A value fails a JSON Schema (details lists the errors), or the task "
     "failed."},
    {429, "TooManyRequests", "The client's rate limit is used up; see Retry-After."},
    {500, "ServerError", "An unexpected failure."},
    {503, "Unavailable", "The store or the workers are unavailable."},
    {504, "Timeout", "The run took longer than its timeout."},
};

static json_t *error_response(const char *doc, bool retry_after)
{
    json_t *r = json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", doc, "content",
                          "application/json", "schema", "$ref", "#/components/schemas/Error");
    json_t *h = json_pack("{s:{s:{s:s}}}", "X-Request-ID", "schema", "type", "string");
    if (retry_after)
        json_object_set_new(h, "Retry-After",
                            json_pack("{s:s, s:{s:s, s:i}}", "description",
                                      "seconds until a request is allowed again", "schema", "type",
                                      "integer", "minimum", 1));
    json_object_set_new(r, "headers", h);
    return r;
}

static const char *resp_name(int status)
{
    for (size_t i = 0; i < REST_N(error_responses); i++)
        if (error_responses[i].status == status)
            return error_responses[i].name;
    return NULL;
}

static void add_error(json_t *responses, int status)
{
    char code[8];
    snprintf(code, sizeof(code), "%d", status);
    char ref[96];
    snprintf(ref, sizeof(ref), "#/components/responses/%s", resp_name(status));
    json_object_set_new(responses, code, json_pack("{s:s}", "$ref", ref));
}

/* ---- parameters ---- */

static const char *const op_suffixes[] = {"_ne", "_like", "_gte", "_lte",
                                          "_gt", "_lt",   "_in",  NULL};

static json_t *filter_param(enum service_resource r)
{
    size_t n = 0;
    const struct store_field *f = service_resource_fields(r, &n);
    json_t *props = json_object();
    for (size_t i = 0; i < n; i++) {
        if (!(f[i].flags & STORE_F_FILTER) || (f[i].flags & STORE_F_HIDDEN))
            continue;
        char doc[256];
        snprintf(doc, sizeof(doc), "%s equals (repeat the parameter for any of several values)",
                 f[i].name);
        json_object_set_new(props, f[i].name,
                            json_pack("{s:s, s:s}", "type", "string", "description", doc));
        for (size_t k = 0; op_suffixes[k]; k++) {
            char name[128];
            snprintf(name, sizeof(name), "%s%s", f[i].name, op_suffixes[k]);
            const char *what = k == 0   ? "differs from"
                               : k == 1 ? "contains (any case)"
                               : k == 2 ? ">="
                               : k == 3 ? "<="
                               : k == 4 ? ">"
                               : k == 5 ? "<"
                                        : "is one of (comma-separated or repeated)";
            snprintf(doc, sizeof(doc), "%s %s", f[i].name, what);
            json_object_set_new(props, name,
                                json_pack("{s:s, s:s}", "type", "string", "description", doc));
        }
    }
    return json_pack("{s:s, s:s, s:s, s:b, s:s, s:{s:s, s:o, s:b}}", "name", "filters", "in",
                     "query", "style", "form", "explode", true, "description",
                     "Field filters: each property is a query parameter of its own (snake_case "
                     "names work too).",
                     "schema", "type", "object", "properties", props, "additionalProperties",
                     false);
}

static json_t *list_params(enum service_resource r)
{
    json_t *p = json_array();
    json_array_append_new(p, json_pack("{s:s}", "$ref", "#/components/parameters/start"));
    json_array_append_new(p, json_pack("{s:s}", "$ref", "#/components/parameters/end"));
    json_array_append_new(p, json_pack("{s:s}", "$ref", "#/components/parameters/page"));
    json_array_append_new(p, json_pack("{s:s}", "$ref", "#/components/parameters/limit"));
    json_array_append_new(p, json_pack("{s:s}", "$ref", "#/components/parameters/order"));
    json_array_append_new(p, json_pack("{s:s}", "$ref", "#/components/parameters/q"));
    size_t n = 0;
    const struct store_field *f = service_resource_fields(r, &n);
    json_t *sortable = json_array();
    for (size_t i = 0; i < n; i++)
        if ((f[i].flags & STORE_F_SORT) && !(f[i].flags & STORE_F_HIDDEN))
            json_array_append_new(sortable, json_string(f[i].name));
    json_array_append_new(
        p, json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "name", "_sort", "in", "query", "description",
                     "Fields to sort by, comma-separated (with _order). Sortable fields are "
                     "listed in x-sortable.",
                     "schema", "type", "string", "pattern", "^[A-Za-z_]+(,[A-Za-z_]+)*$"));
    json_object_set_new(json_array_get(p, json_array_size(p) - 1), "x-sortable", sortable);
    json_array_append_new(p, filter_param(r));
    return p;
}

static json_t *common_params(void)
{
    return json_pack(
        "{s:{s:s, s:s, s:s, s:{s:s, s:i}}, s:{s:s, s:s, s:s, s:{s:s, s:i}},"
        " s:{s:s, s:s, s:s, s:{s:s, s:i}}, s:{s:s, s:s, s:s, s:{s:s, s:i, s:i}},"
        " s:{s:s, s:s, s:s, s:{s:s}}, s:{s:s, s:s, s:s, s:{s:s, s:i}}}",
        "start", "name", "_start", "in", "query", "description",
        "Index of the first item (Refine simple-rest).", "schema", "type", "integer", "minimum", 0,
        "end", "name", "_end", "in", "query", "description",
        "Index after the last item; _end - _start is 1 to 1000.", "schema", "type", "integer",
        "minimum", 1, "page", "name", "page", "in", "query", "description",
        "Page number from 1 (with limit; instead of _start/_end).", "schema", "type", "integer",
        "minimum", 1, "limit", "name", "limit", "in", "query", "description",
        "Items per page (default 25 with page; 1000 without any paging).", "schema", "type",
        "integer", "minimum", 1, "maximum", 1000, "order", "name", "_order", "in", "query",
        "description", "asc or desc, one for all _sort fields or one each (comma-separated).",
        "schema", "type", "string", "q", "name", "q", "in", "query", "description",
        "Free text searched in the resource's text fields.", "schema", "type", "string",
        "maxLength", 200);
}

/* ---- operations ---- */

static void operation_id(const struct rest_route *rr, char *buf, size_t size)
{
    struct strbuf sb = STRBUF_INIT;
    const char *m = http_method_name(rr->route.method);
    for (const char *p = m; *p; p++)
        strbuf_addch(&sb, *p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    bool up = true;
    for (const char *p = rr->route.pattern; *p; p++) {
        if (*p == '/' || *p == '-' || *p == '.') {
            up = true;
            continue;
        }
        if (*p == '{') {
            strbuf_adds(&sb, "By");
            up = true;
            continue;
        }
        if (*p == '}')
            continue;
        strbuf_addch(&sb, up && *p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        up = false;
    }
    if (strcmp(rr->route.pattern, "/") == 0)
        strbuf_adds(&sb, "Root");
    snprintf(buf, size, "%s", sb.buf);
    strbuf_release(&sb);
}

static json_t *path_params(const struct rest_route *rr)
{
    json_t *p = json_array();
    for (const char *s = strchr(rr->route.pattern, '{'); s; s = strchr(s + 1, '{')) {
        const char *e = strchr(s, '}');
        if (!e)
            break;
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)(e - s - 1), s + 1);
        const char *doc = strcmp(name, "version") == 0                      ? "the version string"
                          : strncmp(rr->route.pattern, "/tasks", 6) == 0    ? "id, uuid or name"
                          : strncmp(rr->route.pattern, "/api-keys", 9) == 0 ? "id, name or prefix"
                          : strncmp(rr->route.pattern, "/nodes", 6) == 0    ? "id or node id"
                                                                            : "id or uuid";
        json_array_append_new(p, json_pack("{s:s, s:s, s:b, s:s, s:{s:s}}", "name", name, "in",
                                           "path", "required", true, "description", doc, "schema",
                                           "type", "string"));
    }
    for (size_t i = 0; rr->params && rr->params[i].name; i++)
        json_array_append_new(p, json_pack("{s:s, s:s, s:b, s:s, s:{s:s}}", "name",
                                           rr->params[i].name, "in", "query", "required",
                                           rr->params[i].required, "description", rr->params[i].doc,
                                           "schema", "type", rr->params[i].type));
    if (rr->list) {
        json_t *lp = list_params(rr->list_of);
        json_array_extend(p, lp);
        json_decref(lp);
    }
    return p;
}

static json_t *success_response(const struct rest_route *rr)
{
    json_t *r = json_object();
    const char *doc = rr->status == 204 ? "Done; no body." : rr->list ? "A page of items." : "OK.";
    if (rr->status == 201)
        doc = "Created.";
    if (rr->status == 202)
        doc = "Accepted: the work is queued.";
    json_object_set_new(r, "description", json_string(doc));
    json_t *h = json_pack("{s:{s:{s:s}}}", "X-Request-ID", "schema", "type", "string");
    if (rr->list) {
        json_object_set_new(h, "X-Total-Count",
                            json_pack("{s:s, s:{s:s}}", "description",
                                      "all matching items, whatever the page", "schema", "type",
                                      "integer"));
        json_object_set_new(h, "Content-Range",
                            json_pack("{s:s, s:{s:s}}", "description",
                                      "<resource> <first>-<last>/<total>", "schema", "type",
                                      "string"));
    }
    json_object_set_new(r, "headers", h);
    if (rr->status == 204)
        return r;
    json_t *schema;
    char ref[96];
    if (rr->response) {
        snprintf(ref, sizeof(ref), "#/components/schemas/%s", rr->response);
        schema = json_pack("{s:s}", "$ref", ref);
        if (rr->list)
            schema = json_pack("{s:s, s:o}", "type", "array", "items", schema);
    } else if (rr->content_type && strcmp(rr->content_type, "application/json") == 0) {
        schema = json_pack("{s:s}", "type", "object");
    } else {
        schema = json_pack("{s:s}", "type", "string");
    }
    json_object_set_new(r, "content",
                        json_pack("{s:{s:o}}",
                                  rr->content_type ? rr->content_type : "application/json",
                                  "schema", schema));
    return r;
}

static json_t *operation(const struct rest_route *rr)
{
    char opid[128];
    operation_id(rr, opid, sizeof(opid));
    json_t *op = json_pack("{s:s, s:s, s:[s], s:s}", "operationId", opid, "summary", rr->summary,
                           "tags", rr->tag, "x-ratchet-role", http_role_name(rr->route.role));
    char desc[512];
    snprintf(desc, sizeof(desc), "%s. Role needed: %s.", rr->summary,
             rr->route.role == HTTP_ROLE_NONE ? "none (public)" : http_role_name(rr->route.role));
    json_object_set_new(op, "description", json_string(desc));
    json_t *params = path_params(rr);
    if (json_array_size(params))
        json_object_set_new(op, "parameters", params);
    else
        json_decref(params);
    if (rr->request) {
        char ref[96];
        snprintf(ref, sizeof(ref), "#/components/schemas/%s", rr->request);
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b, s:{s:{s:{s:s}}}}", "required",
                                      strcmp(rr->request, "ExecuteRequest") != 0, "content",
                                      "application/json", "schema", "$ref", ref));
    }
    if (rr->route.role == HTTP_ROLE_NONE)
        json_object_set_new(op, "security", json_array());
    json_t *responses = json_object();
    char code[8];
    snprintf(code, sizeof(code), "%d", rr->status);
    json_object_set_new(responses, code, success_response(rr));
    if (rr->alt_status) {
        snprintf(code, sizeof(code), "%d", rr->alt_status);
        json_object_set_new(responses, code, success_response(rr));
    }
    add_error(responses, 400);
    if (rr->route.role != HTTP_ROLE_NONE) {
        add_error(responses, 401);
        add_error(responses, 403);
    }
    /* A thing named in the path, or a task named in the body, may not exist. */
    if (strchr(rr->route.pattern, '{') ||
        (rr->request &&
         (strncmp(rr->request, "Job", 3) == 0 || strncmp(rr->request, "Schedule", 8) == 0)))
        add_error(responses, 404);
    if (rr->route.method != HTTP_GET)
        add_error(responses, 409);
    if (rr->route.flags & HTTP_ROUTE_JSON) {
        add_error(responses, 413);
        add_error(responses, 415);
        add_error(responses, 422);
    }
    if (!(rr->route.flags & HTTP_ROUTE_NO_RATE_LIMIT))
        add_error(responses, 429);
    add_error(responses, 500);
    bool runs = strstr(rr->route.pattern, "/execute") != NULL;
    /* ... and a delivery retry needs this node's delivery queue, which may be full. */
    bool delivers =
        strncmp(rr->route.pattern, "/deliveries/", 12) == 0 && rr->route.method == HTTP_POST;
    if (runs || delivers || strcmp(rr->route.pattern, "/ready") == 0 ||
        strstr(rr->route.pattern, "/test"))
        add_error(responses, 503);
    if (runs)
        add_error(responses, 504);
    json_object_set_new(op, "responses", responses);
    return op;
}

static json_t *components(void)
{
    json_t *schemas = NULL;
    if (jsonx_parse(fixed_schemas, strlen(fixed_schemas), &schemas, NULL) < 0)
        schemas = json_object(); /* a bug: the unit test parses it */
    for (size_t i = 0; i < REST_N(entity_schemas); i++)
        json_object_set_new(schemas, entity_schemas[i].name, entity_schema(entity_schemas[i].r));
    for (size_t i = 0; i < REST_N(input_schemas); i++)
        json_object_set_new(schemas, input_schemas[i].name,
                            input_schema(input_schemas[i].op, input_schemas[i].doc));
    /* An API key as created: the row and, this once, its secret. */
    json_t *created = entity_schema(SERVICE_API_KEYS);
    json_object_set_new(json_object_get(created, "properties"), "key",
                        json_pack("{s:s, s:s}", "type", "string", "description",
                                  "the secret key: shown only in this answer"));
    json_array_append_new(json_object_get(created, "required"), json_string("key"));
    json_object_set_new(schemas, "ApiKeyCreated", created);

    json_t *responses = json_object();
    for (size_t i = 0; i < REST_N(error_responses); i++)
        json_object_set_new(
            responses, error_responses[i].name,
            error_response(error_responses[i].doc, error_responses[i].status == 429));
    json_t *sec =
        json_pack("{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}}", "bearerAuth", "type", "http", "scheme",
                  "bearer", "description", "An API key (rat_...) as a bearer token.",
                  "apiKeyHeader", "type", "apiKey", "in", "header", "name", "X-API-Key");
    json_object_set_new(json_object_get(sec, "apiKeyHeader"), "description",
                        json_string("The same API key in the X-API-Key header."));
    return json_pack("{s:o, s:o, s:o, s:o}", "schemas", schemas, "responses", responses,
                     "parameters", common_params(), "securitySchemes", sec);
}

json_t *rest_openapi(const char *server_url)
{
    json_t *paths = json_object();
    for (size_t t = 0; rest_tables[t]; t++)
        for (size_t i = 0; i < rest_tables[t]->n; i++) {
            const struct rest_route *rr = &rest_tables[t]->routes[i];
            char path[256];
            snprintf(path, sizeof(path), "%s%s", rr->prefix,
                     strcmp(rr->route.pattern, "/") == 0 && *rr->prefix ? "" : rr->route.pattern);
            json_t *item = json_object_get(paths, path);
            if (!item) {
                item = json_object();
                json_object_set_new(paths, path, item);
            }
            char m[16];
            const char *mn = http_method_name(rr->route.method);
            size_t k = 0;
            for (; mn[k] && k + 1 < sizeof(m); k++)
                m[k] = (char)(mn[k] >= 'A' && mn[k] <= 'Z' ? mn[k] + 32 : mn[k]);
            m[k] = '\0';
            json_object_set_new(item, m, operation(rr));
        }
    json_t *doc = json_pack(
        "{s:s, s:{s:s, s:s, s:s}, s:[{s:s}], s:[{s:[]}, {s:[]}], s:o, s:o}", "openapi", "3.1.0",
        "info", "title", "Ratchet", "version", RATCHET_VERSION, "description",
        "Ratchet runs JavaScript tasks (schema-validated functions) on demand, through a durable "
        "job queue with retries, and on cron schedules. Lists follow Refine simple-rest: a bare "
        "JSON array with X-Total-Count and Content-Range; errors are {statusCode, error, "
        "message}. Authenticate with an API key (Authorization: Bearer or X-API-Key) when auth "
        "is on; each operation says the role it needs (x-ratchet-role).",
        "servers", "url", server_url ? server_url : "/", "security", "bearerAuth", "apiKeyHeader",
        "paths", paths, "components", components());
    json_t *tags = json_array();
    static const char *const tag_docs[][2] = {
        {"tasks", "Tasks: code, schemas, versions; run them now or test them."},
        {"executions", "One row per run attempt, with console output and HTTP requests."},
        {"jobs", "The durable queue: priorities, retries, unique and concurrency keys."},
        {"schedules", "Cron schedules that queue jobs."},
        {"deliveries", "Every attempt to deliver a job's output to a webhook, file or stdout."},
        {"workers", "Worker processes and nodes."},
        {"api-keys", "API keys with roles (admin)."},
        {"operations", "Health, readiness, metrics."},
        {"docs", "This document and its page."},
    };
    for (size_t i = 0; i < REST_N(tag_docs); i++)
        json_array_append_new(
            tags, json_pack("{s:s, s:s}", "name", tag_docs[i][0], "description", tag_docs[i][1]));
    json_object_set_new(doc, "tags", tags);
    return doc;
}
