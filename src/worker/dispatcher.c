/*
 * The dispatcher (dispatcher.h): the job pipeline of one node, on its loop thread.
 *
 * Its heart is the cycle: results that came back from workers and the jobs that fit the free
 * worker slots go through ONE store transaction (store_job_finish_and_claim), so a busy node
 * pays one commit per batch and an idle one reacts to a wake-up within the same loop turn.
 * Claimed jobs go to the pool at once; results wait in d->finished for the next cycle, which
 * the pool's callbacks schedule (a uv_idle, so every result that arrived in one loop turn is
 * committed together). Leases, node records, events, metrics and shutdown are in
 * dispatch_node.c.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "queue/delivery.h"
#include "queue/events.h"
#include "task/run.h"
#include "task/task.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/uuid.h"
#include "util/xalloc.h"
#include "worker/dispatch.h"
#include "worker/ipc.h"

#define TASK_RECHECK_MS   1000 /* a cached task definition is compared with the store */
#define CANCEL_GRACE_MS   2000 /* a cancelled run that has not stopped by then: kill */
#define KILL_GRACE_MS     2000 /* past a run's timeout: kill its worker */
#define STORE_BACKOFF_MAX 5000
#define FINISH_BATCH_MAX  512                             /* results per cycle */
#define INPUT_MAX         (WORKER_FRAME_MAX - (1u << 20)) /* a run's input, in one frame */

/* Timestamps of a run's stages (trace, metrics) are monotonic microseconds: one clock for
 * the node and its workers. */
static int64_t mono_us(void)
{
    return time_mono_ns() / 1000;
}

/* ---- runs ---- */

static struct drun *run_new(struct dispatcher *d)
{
    struct drun *r = xcalloc(1, sizeof(*r));
    r->d = d;
    r->pr.id = ++d->next_run_id;
    r->pr.ud = r;
    r->prev = NULL;
    r->next = d->runs;
    if (d->runs)
        d->runs->prev = r;
    d->runs = r;
    d->nruns++;
    return r;
}

static void run_release_result(struct drun *r)
{
    free(r->output);
    json_decref(r->error);
    json_decref(r->logs);
    json_decref(r->http);
    free(r->error_details);
    free(r->log_lines);
    free(r->http_entries);
    for (size_t i = 0; r->http_texts && i < r->res.nhttp; i++)
        free(r->http_texts[i]);
    free(r->http_texts);
}

void dispatch_free_run(struct dispatcher *d, struct drun *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        d->runs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    d->nruns--;
    run_release_result(r);
    pool_task_unref(r->pr.task);
    free(r->pr.input);
    free(r->retry_policy);
    free(r->output_destinations);
    free(r->concurrency_key);
    free(r->worker_id);
    free(r);
}

static struct drun *run_by_job(struct dispatcher *d, int64_t job_id)
{
    for (struct drun *r = d->runs; r; r = r->next)
        if (!r->direct && r->job_id == job_id)
            return r;
    return NULL;
}

/* ---- task definitions ---- */

static char *task_stamp(const json_t *row)
{
    const char *v = jsonx_str(row, "version"), *c = jsonx_str(row, "checksum"),
               *u = jsonx_str(row, "updatedAt");
    return xasprintf("%s|%s|%s", v ? v : "", c ? c : "", u ? u : "");
}

/* The metadata a worker builds the task from: the stored metadata.json with the row's name,
 * version, uuid and description (the row is authoritative). */
static json_t *task_metadata(const json_t *row)
{
    const json_t *m = json_object_get(row, "metadata");
    json_t *meta = json_is_object(m) ? json_deep_copy(m) : json_object();
    static const char *const keys[][2] = {
        {"name", "name"}, {"version", "version"}, {"uuid", "uuid"}, {"description", "description"}};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *v = jsonx_str(row, keys[i][0]);
        if (v)
            json_object_set_new(meta, keys[i][1], json_string(v));
    }
    json_object_del(meta, "label"); /* name wins over a differing label */
    return meta;
}

static struct pool_task *task_build(struct dispatcher *d, int64_t task_id, const json_t *row)
{
    struct pool_task *t = xcalloc(1, sizeof(*t));
    t->refs = 1;
    t->key = ++d->next_task_key;
    t->task_id = task_id;
    const char *version = jsonx_str(row, "version");
    t->version = xstrdup(version ? version : "");
    const char *checksum = jsonx_str(row, "checksum");
    snprintf(t->checksum, sizeof(t->checksum), "%s", checksum ? checksum : "");
    const char *code = jsonx_str(row, "sourceCode");
    if (!code)
        code = "";
    json_t *meta = task_metadata(row);
    /* the timeout the worker will apply, for the pool's kill deadline */
    struct task *parsed = NULL;
    struct task_parts parts = {.metadata = meta, .code = code, .code_len = strlen(code)};
    if (task_from_parts(&parts, &parsed, NULL) == 0)
        t->timeout_ms = parsed->timeout_ms;
    task_free(parsed);
    json_t *h = json_object();
    json_object_set_new(h, "type", json_string("task"));
    json_object_set_new(h, "key", json_integer(t->key));
    json_object_set_new(h, "taskId", json_integer(task_id));
    json_object_set_new(h, "metadata", meta);
    json_object_set(h, "inputSchema", json_object_get(row, "inputSchema") ?: json_null());
    json_object_set(h, "outputSchema", json_object_get(row, "outputSchema") ?: json_null());
    struct strbuf sb = STRBUF_INIT;
    ipc_frame_append_json(&sb, h, code, strlen(code));
    json_decref(h);
    t->frame = strbuf_detach(&sb, &t->frame_len);
    return t;
}

static struct task_entry *task_entry_of(struct dispatcher *d, int64_t task_id)
{
    for (size_t i = 0; i < d->tasks.n; i++)
        if (d->tasks.v[i].task_id == task_id)
            return &d->tasks.v[i];
    return NULL;
}

/* The current definition of task_id, from the cache or (re)built from row (NULL: read it).
 * Returns a new reference, or NULL with err set. */
static struct pool_task *task_get(struct dispatcher *d, int64_t task_id, const char *version,
                                  const json_t *row, struct err *err)
{
    struct task_entry *e = task_entry_of(d, task_id);
    int64_t now = time_mono_ms();
    if (e && !row && now - e->checked_mono < TASK_RECHECK_MS &&
        (!version || strcmp(version, e->pt->version) == 0)) {
        e->pt->refs++;
        return e->pt;
    }
    json_t *owned = NULL;
    if (!row) {
        int rc = store_get(d->store, STORE_TASKS, task_id, &owned, err);
        if (rc < 0)
            return NULL;
        row = owned;
    }
    char *stamp = task_stamp(row);
    if (!e) {
        struct task_entry fresh = {.task_id = task_id};
        vec_push(&d->tasks, fresh);
        e = &d->tasks.v[d->tasks.n - 1];
    }
    if (!e->stamp || strcmp(e->stamp, stamp) != 0) {
        pool_task_unref(e->pt);
        e->pt = task_build(d, task_id, row);
        free(e->stamp);
        e->stamp = stamp;
    } else {
        free(stamp);
    }
    e->checked_mono = now;
    json_decref(owned);
    e->pt->refs++;
    return e->pt;
}

/* ---- results ---- */

/* "2" → 2 etc.: the error's details for the store, without type and message. */
static char *error_details_text(const json_t *error)
{
    json_t *copy = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)error, key, v)
    {
        if (strcmp(key, "type") != 0 && strcmp(key, "message") != 0)
            json_object_set(copy, key, v);
    }
    char *text = json_object_size(copy) ? json_dumps(copy, JSON_COMPACT) : NULL;
    json_decref(copy);
    return text;
}

static void convert_logs(struct drun *r)
{
    size_t n = json_array_size(r->logs);
    if (!n)
        return;
    r->log_lines = xcalloc(n, sizeof(*r->log_lines));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *l = json_array_get(r->logs, i);
        const char *level = json_string_value(json_array_get(l, 1));
        const char *msg = json_string_value(json_array_get(l, 2));
        if (!level || !msg)
            continue;
        r->log_lines[k++] =
            (struct store_log_line){json_integer_value(json_array_get(l, 0)), level, msg};
    }
    r->res.logs = r->log_lines;
    r->res.nlogs = k;
}

static void convert_http(struct drun *r)
{
    size_t n = json_array_size(r->http);
    if (!n)
        return;
    r->http_entries = xcalloc(n, sizeof(*r->http_entries));
    r->http_texts = xcalloc(n, sizeof(*r->http_texts));
    for (size_t i = 0; i < n; i++) {
        const json_t *h = json_array_get(r->http, i);
        const char *method = jsonx_str(h, "method"), *url = jsonx_str(h, "url");
        long long status = 0, dur = 0;
        jsonx_int(h, "status", &status);
        jsonx_int(h, "durationMs", &dur);
        const json_t *entry = json_object_get(h, "entry");
        r->http_texts[i] = entry ? json_dumps(entry, JSON_COMPACT) : NULL;
        r->http_entries[i] = (struct store_http_entry){method ? method : "GET", url ? url : "",
                                                       (int)status, dur, r->http_texts[i]};
    }
    r->res.http = r->http_entries;
    r->res.nhttp = n;
}

/* The job's status after this result, as the store will decide it. */
static const char *predict_status(const struct drun *r)
{
    switch (r->res.outcome) {
    case STORE_OUTCOME_COMPLETED:
        return "completed";
    case STORE_OUTCOME_CANCELLED:
        return "cancelled";
    case STORE_OUTCOME_FAILED:
        break;
    }
    if (r->cancel_requested)
        return "cancelled";
    return r->res.retry_at > 0 && r->attempt < r->max_attempts ? "retrying" : "failed";
}

/* Turns a pool result into the run's store result (owned copies; the pool's are borrowed). */
static void take_result(struct dispatcher *d, struct drun *r, const struct pool_result *pr)
{
    r->state = DRUN_FINISHED;
    r->result_us = mono_us();
    r->started_us = pr->start_mono_us;
    r->rc = pr->rc;
    r->duration_ms = (pr->duration_us + 500) / 1000;
    struct store_job_result *s = &r->res;
    *s = (struct store_job_result){
        .job_id = r->direct ? 0 : r->job_id,
        .execution_id = r->execution_id,
        .completed_at = time_now_ms(),
        .duration_ms = pr->duration_us ? r->duration_ms : -1,
    };
    if (r->direct && pr->duration_us) /* a job keeps its claim time */
        s->started_at = s->completed_at - r->duration_ms;
    free(r->worker_id);
    r->worker_id = pr->worker_id ? xstrdup(pr->worker_id) : NULL;
    s->worker_id = r->worker_id;
    if (pr->rc == 0) {
        s->outcome = STORE_OUTCOME_COMPLETED;
        r->output = xmemdup(pr->output, pr->output_len + 1);
        s->output = r->output;
        /* the job-done hook is where deliveries happen: owed ones are recorded with the
         * completion, so a crash before they finish leaves them to another node */
        s->deliver = !r->direct && d->job_done && delivery_owed(r->output_destinations, d->cfg);
    } else {
        r->error = pr->error ? json_deep_copy(pr->error)
                             : json_pack("{s:s, s:s}", "type", "InternalError", "message",
                                         "the run failed without an error");
        const char *type = jsonx_str(r->error, "type");
        bool cancelled = pr->rc == -E_CANCELLED && r->cancel_requested;
        s->outcome = cancelled ? STORE_OUTCOME_CANCELLED : STORE_OUTCOME_FAILED;
        s->error_type = type ? type : "Error";
        s->error_message = jsonx_str(r->error, "message");
        r->error_details = error_details_text(r->error);
        s->error_details = r->error_details;
        if (!r->direct && !cancelled && r->attempt < r->max_attempts &&
            queue_failure_retryable(type, jsonx_str(r->error, "phase"))) {
            struct queue_retry_policy p = d->retry_default;
            queue_retry_policy_apply(&p, r->retry_policy, NULL);
            double u = (double)(random_u64() >> 11) / 9007199254740992.0;
            s->retry_at = time_now_ms() + queue_backoff_ms(&p, r->attempt, u);
        }
    }
    if (pr->logs)
        r->logs = json_incref((json_t *)pr->logs);
    if (pr->http)
        r->http = json_incref((json_t *)pr->http);
    convert_logs(r);
    convert_http(r);
    r->job_status = r->direct ? NULL : predict_status(r);
}

static void on_pool_result(void *ud, struct pool_run *pr, const struct pool_result *res)
{
    struct dispatcher *d = ud;
    struct drun *r = pr->ud;
    if (r->abandoned) {
        dispatch_free_run(d, r);
        dispatch_check_drained(d);
        return;
    }
    take_result(d, r, res);
    vec_push(&d->finished, r);
    dispatch_schedule_cycle(d);
}

/* ---- placing runs on workers ---- */

static void submit_waiting(struct dispatcher *d)
{
    struct err err = {0};
    while (d->waiting_direct.n && pool_free_slots(d->pool) > 0) {
        struct drun *r = d->waiting_direct.v[0];
        if (pool_submit(d->pool, &r->pr, &err) < 0)
            break;
        memmove(d->waiting_direct.v, d->waiting_direct.v + 1,
                (--d->waiting_direct.n) * sizeof(*d->waiting_direct.v));
        r->state = DRUN_RUNNING;
    }
    size_t taken = 0;
    while (taken < d->waiting_jobs.n && pool_free_slots(d->pool) > 0) {
        struct drun *r = d->waiting_jobs.v[taken];
        if (pool_submit(d->pool, &r->pr, &err) < 0)
            break;
        r->state = DRUN_RUNNING;
        taken++;
    }
    if (taken) {
        memmove(d->waiting_jobs.v, d->waiting_jobs.v + taken,
                (d->waiting_jobs.n - taken) * sizeof(*d->waiting_jobs.v));
        d->waiting_jobs.n -= taken;
    }
    pool_flush(d->pool);
}

/* How many jobs a claim may take now: the free slots, plus a little ahead of them (d->prefetch)
 * so runs wait here rather than in the store while a commit is on its way, and batches (so
 * commits) grow under load; minus what already waits. */
static int claim_room(const struct dispatcher *d)
{
    if (!d->pool)
        return 0;
    int slots = pool_free_slots(d->pool);
    if (slots == 0 && pool_running(d->pool) == 0)
        return 0; /* no worker ready: do not claim what nothing can run */
    return slots + d->prefetch - (int)d->waiting_jobs.n - (int)d->waiting_direct.n;
}

static void on_pool_capacity(void *ud)
{
    struct dispatcher *d = ud;
    submit_waiting(d);
    if (d->state == D_RUNNING && d->want_claim && claim_room(d) > 0)
        dispatch_schedule_cycle(d);
}

/* A claimed job that cannot run here (its task vanished): fail it like a run would. */
static void fail_claimed(struct dispatcher *d, struct drun *r, const char *type, const char *msg)
{
    json_t *e = json_pack("{s:s, s:s}", "type", type, "message", msg);
    struct pool_result res = {.rc = -E_TASK, .error = e};
    take_result(d, r, &res);
    json_decref(e);
    vec_push(&d->finished, r);
}

static void accept_claimed(struct dispatcher *d, struct store_claimed_job *j, bool probe,
                           int64_t claimed_us)
{
    struct drun *r = run_new(d);
    r->job_id = j->job_id;
    r->execution_id = j->execution_id;
    r->task_id = j->task_id;
    r->attempt = j->attempt;
    r->max_attempts = j->max_attempts;
    r->probe = probe;
    r->claimed_us = claimed_us;
    r->retry_policy = j->retry_policy;
    r->output_destinations = j->output_destinations;
    r->concurrency_key = j->concurrency_key;
    j->retry_policy = j->output_destinations = j->concurrency_key = NULL;
    r->pr.input = j->input ? j->input : xstrdup("{}");
    r->pr.input_len = strlen(r->pr.input);
    j->input = NULL;
    memcpy(r->pr.execution_uuid, j->execution_uuid, sizeof(r->pr.execution_uuid));
    memcpy(r->pr.job_uuid, j->job_uuid, sizeof(r->pr.job_uuid));
    r->pr.timeout_ms = j->timeout_ms;
    r->state = DRUN_WAITING;
    dispatch_publish_claimed(d, r);
    struct err err = {0};
    if (r->pr.input_len > INPUT_MAX) {
        char msg[128];
        snprintf(msg, sizeof(msg), "the input is %zu bytes, over the %u a worker takes",
                 r->pr.input_len, INPUT_MAX);
        fail_claimed(d, r, "InputError", msg); /* not retried: it would fail the same way */
        return;
    }
    r->pr.task = task_get(d, j->task_id, j->task_version, NULL, &err);
    if (!r->pr.task) {
        fail_claimed(d, r, "TaskError", err.msg);
        return;
    }
    vec_push(&d->waiting_jobs, r);
}

/* ---- the cycle ---- */

static void on_cycle_idle(uv_idle_t *h);
static void on_due_timer(uv_timer_t *t);

void dispatch_schedule_cycle(struct dispatcher *d)
{
    if (d->cycle_scheduled || d->state == D_STOPPED || d->state == D_NEW)
        return;
    d->cycle_scheduled = true;
    uv_idle_start(&d->cycle_idle, on_cycle_idle);
}

void dispatch_jobs_arrived(struct dispatcher *d)
{
    d->want_claim = true;
    for (size_t i = 0; i < d->breakers.n; i++)
        d->breakers.v[i].next_probe_try = 0; /* maybe one of them is a probe now */
    dispatch_schedule_cycle(d);
}

struct breaker_entry *dispatch_breaker(struct dispatcher *d, int64_t task_id)
{
    for (size_t i = 0; i < d->breakers.n; i++)
        if (d->breakers.v[i].task_id == task_id)
            return &d->breakers.v[i];
    struct breaker_entry e = {.task_id = task_id};
    vec_push(&d->breakers, e);
    return &d->breakers.v[d->breakers.n - 1];
}

void dispatch_arm_due(struct dispatcher *d, int64_t at_ms)
{
    if (at_ms <= 0 || d->state != D_RUNNING)
        return;
    if (d->due_at && d->due_at <= at_ms)
        return;
    d->due_at = at_ms;
    int64_t delay = at_ms - time_now_ms();
    uv_timer_start(&d->due_timer, on_due_timer, (uint64_t)(delay > 0 ? delay : 0), 0);
}

/* Tasks whose breaker keeps them out of this claim, and the ones that may send one probe. */
struct idvec {
    int64_t *v;
    size_t n, cap;
};

static void breaker_filter(struct dispatcher *d, struct idvec *exclude, struct idvec *probes)
{
    int64_t now = time_now_ms();
    for (size_t i = 0; i < d->breakers.n; i++) {
        struct breaker_entry *e = &d->breakers.v[i];
        enum queue_breaker_admit a = queue_breaker_admit(&e->b, &d->breaker_cfg, now);
        if (a == QUEUE_ADMIT_ALL)
            continue;
        vec_push(exclude, e->task_id);
        if (a == QUEUE_ADMIT_PROBE && now >= e->next_probe_try)
            vec_push(probes, e->task_id);
        else
            dispatch_arm_due(d, queue_breaker_reopen_at(&e->b, &d->breaker_cfg));
    }
}

/* After a commit: what each result did, for events, the breaker, metrics and callbacks. */
static void after_commit(struct dispatcher *d, struct drun **runs, const bool *applied, size_t n)
{
    int64_t now_us = mono_us();
    for (size_t i = 0; i < n; i++) {
        struct drun *r = runs[i];
        r->committed_us = now_us;
        dispatch_count_run(d, r);
        if (r->direct) {
            if (!r->delivered && r->done) {
                struct dispatcher_run_result out = {0};
                json_t *logs = json_array();
                for (size_t k = 0; k < r->res.nlogs; k++) {
                    char ts[40];
                    time_format_rfc3339_ms(r->res.logs[k].ts, ts, sizeof(ts));
                    json_array_append_new(logs, json_pack("{s:s, s:s, s:s}", "timestamp", ts,
                                                          "level", r->res.logs[k].level, "message",
                                                          r->res.logs[k].message));
                }
                out.status = r->rc;
                out.output_json = r->rc == 0 ? r->output : NULL;
                out.error = r->error;
                out.logs = logs;
                out.execution_id = r->execution_id;
                out.execution_uuid = r->pr.execution_uuid;
                out.duration_ms = r->duration_ms;
                r->delivered = true;
                r->done(r->done_ud, &out);
                json_decref(logs);
            }
            dispatch_publish_committed(d, r);
            continue;
        }
        r->lease_lost = !applied[i];
        if (r->lease_lost)
            log_info("job %lld: its lease was lost before the result was recorded; another "
                     "node runs it",
                     (long long)r->job_id);
        if (r->job_status && strcmp(r->job_status, "retrying") == 0)
            dispatch_arm_due(d, r->res.retry_at);
        struct breaker_entry *be = dispatch_breaker(d, r->task_id);
        bool success = r->res.outcome == STORE_OUTCOME_COMPLETED;
        if (r->res.outcome != STORE_OUTCOME_CANCELLED &&
            queue_breaker_record(&be->b, &d->breaker_cfg, success, r->probe, time_now_ms())) {
            log_warn("task %lld: circuit breaker %s", (long long)r->task_id,
                     queue_breaker_state_name(be->b.state));
            if (be->b.state == QUEUE_BREAKER_OPEN) {
                metric_counter_inc(d->m_breaker_opens);
                dispatch_requeue_waiting(d, r->task_id, "the task's circuit breaker opened");
                dispatch_arm_due(d, queue_breaker_reopen_at(&be->b, &d->breaker_cfg));
            } else {
                d->want_claim = true;
            }
        } else if (r->probe && r->res.outcome == STORE_OUTCOME_CANCELLED) {
            queue_breaker_probe_lost(&be->b);
        }
        if (r->concurrency_key || r->probe)
            d->want_claim = true; /* a slot of its key (or its task) opened */
        dispatch_publish_committed(d, r);
        dispatch_trace(d, r);
        if (d->job_done && applied[i]) {
            struct dispatcher_job_done info = {
                .job_id = r->job_id,
                .job_uuid = r->pr.job_uuid,
                .execution_id = r->execution_id,
                .execution_uuid = r->pr.execution_uuid,
                .task_id = r->task_id,
                .status = r->job_status,
                .output_json = r->output,
                .output_destinations = r->output_destinations,
                .attempt = r->attempt,
                .duration_ms = r->duration_ms,
            };
            d->job_done(d->job_done_ud, &info);
        }
    }
    if (d->trace)
        fflush(d->trace); /* one write per commit: the benchmark reads it as it grows */
}

/* A result the store refuses even alone: record a failure in its place, so the job moves. */
static void replace_unrecordable(struct drun *r, const struct err *why)
{
    log_error("execution %lld: its result could not be recorded (%s); recording a failure",
              (long long)r->execution_id, why->msg);
    char *msg = xasprintf("the run's result could not be recorded: %s", why->msg);
    run_release_result(r);
    r->output = NULL;
    r->logs = r->http = NULL;
    r->log_lines = NULL;
    r->http_entries = NULL;
    r->http_texts = NULL;
    r->error_details = NULL;
    r->error = json_pack("{s:s, s:s}", "type", "InternalError", "message", msg);
    free(msg);
    const char *worker = r->res.worker_id;
    r->res = (struct store_job_result){
        .job_id = r->direct ? 0 : r->job_id,
        .execution_id = r->execution_id,
        .outcome = STORE_OUTCOME_FAILED,
        .error_type = "InternalError",
        .error_message = jsonx_str(r->error, "message"),
        .duration_ms = r->duration_ms,
        .worker_id = worker,
    };
    r->rc = -E_INTERNAL;
    r->job_status = r->direct ? NULL : predict_status(r);
}

static bool transient(int rc)
{
    return rc == -E_BUSY || rc == -E_UNAVAILABLE;
}

/* The store failed a batch: record results one by one so a bad one does not hold up the
 * others. Returns how many were recorded (from the front of runs). */
static size_t finish_one_by_one(struct dispatcher *d, struct drun **runs, bool *applied, size_t n,
                                int *last_rc)
{
    size_t done = 0;
    for (; done < n; done++) {
        struct err err = {0};
        int rc = store_job_finish(d->store, d->node_id, &runs[done]->res, 1, &applied[done], &err);
        if (rc < 0 && !transient(rc)) {
            replace_unrecordable(runs[done], &err);
            rc = store_job_finish(d->store, d->node_id, &runs[done]->res, 1, &applied[done], &err);
        }
        if (rc < 0) {
            *last_rc = rc;
            log_warn("dispatcher: recording results failed: %s", err.msg);
            break;
        }
    }
    return done;
}

static void on_retry_timer(uv_timer_t *t)
{
    dispatch_schedule_cycle(t->data);
}

static void store_failed(struct dispatcher *d)
{
    d->store_backoff_ms = d->store_backoff_ms ? d->store_backoff_ms * 2 : 50;
    if (d->store_backoff_ms > STORE_BACKOFF_MAX)
        d->store_backoff_ms = STORE_BACKOFF_MAX;
    uv_timer_start(&d->retry_timer, on_retry_timer, (uint64_t)d->store_backoff_ms, 0);
}

static void claim_probes(struct dispatcher *d, const int64_t *probes, size_t n)
{
    for (size_t i = 0; i < n && claim_room(d) > 0; i++) {
        struct store_claim c = {.node_id = d->node_id,
                                .max_jobs = 1,
                                .lease_ms = d->lease_ms,
                                .only_task_id = probes[i]};
        struct store_claimed_job *jobs = NULL;
        size_t nj = 0;
        struct err err = {0};
        if (store_job_claim(d->store, &c, &jobs, &nj, &err) < 0) {
            log_warn("dispatcher: claiming a probe of task %lld failed: %s", (long long)probes[i],
                     err.msg);
            continue;
        }
        int64_t now_us = mono_us();
        if (!nj) /* none of its jobs is due: look again in a second, or when woken */
            dispatch_breaker(d, probes[i])->next_probe_try = time_now_ms() + 1000;
        if (nj) {
            queue_breaker_probe_claimed(&dispatch_breaker(d, probes[i])->b);
            log_info("task %lld: circuit breaker half-open; job %lld is the probe",
                     (long long)probes[i], (long long)jobs[0].job_id);
            accept_claimed(d, &jobs[0], true, now_us);
        }
        store_claimed_free(jobs, nj);
    }
}

static void cycle(struct dispatcher *d)
{
    size_t n = d->finished.n < FINISH_BATCH_MAX ? d->finished.n : FINISH_BATCH_MAX;
    int free_slots = claim_room(d);
    size_t want = 0;
    if (d->state == D_RUNNING && d->want_claim && free_slots > 0)
        want = (size_t)(free_slots < d->claim_batch ? free_slots : d->claim_batch);
    if (n == 0 && want == 0)
        return;

    struct idvec exclude = {0}, probes = {0};
    if (want)
        breaker_filter(d, &exclude, &probes);
    struct drun **runs = xcalloc(n ? n : 1, sizeof(*runs));
    struct store_job_result *results = xcalloc(n ? n : 1, sizeof(*results));
    bool *applied = xcalloc(n ? n : 1, sizeof(*applied));
    for (size_t i = 0; i < n; i++) {
        runs[i] = d->finished.v[i];
        results[i] = runs[i]->res;
    }
    struct store_claim c = {
        .node_id = d->node_id,
        .max_jobs = want,
        .lease_ms = d->lease_ms,
        .exclude_task_ids = exclude.v,
        .n_exclude = exclude.n,
    };
    struct store_claimed_job *jobs = NULL;
    size_t njobs = 0;
    struct err err = {0};
    int rc = store_job_finish_and_claim(d->store, results, n, applied, &c, &jobs, &njobs, &err);
    int64_t claimed_us = mono_us();
    size_t committed = rc == 0 ? n : 0;
    if (rc < 0) {
        log_warn("dispatcher: store cycle failed: %s", err.msg);
        if (n > 0) {
            int last = 0;
            committed = finish_one_by_one(d, runs, applied, n, &last);
        }
    }
    if (rc == 0 || committed == n)
        d->store_backoff_ms = 0;
    else
        store_failed(d);

    /* drop the committed results from the queue, then act on them */
    if (committed) {
        memmove(d->finished.v, d->finished.v + committed,
                (d->finished.n - committed) * sizeof(*d->finished.v));
        d->finished.n -= committed;
        after_commit(d, runs, applied, committed);
        for (size_t i = 0; i < committed; i++)
            dispatch_free_run(d, runs[i]);
    }
    if (rc == 0 && want) {
        d->want_claim = njobs == want;
        if (njobs)
            metric_counter_add(d->m_claimed, (double)njobs);
        for (size_t i = 0; i < njobs; i++)
            accept_claimed(d, &jobs[i], false, claimed_us);
        if (probes.n)
            claim_probes(d, probes.v, probes.n);
    }
    store_claimed_free(jobs, njobs);
    vec_free(&exclude);
    vec_free(&probes);
    free(runs);
    free(results);
    free(applied);
    submit_waiting(d);
    if (time_mono_ms() - d->workers_refreshed_mono >= 250)
        dispatch_refresh_workers(d); /* GET /workers shows what runs now */
    if (d->finished.n && d->store_backoff_ms == 0)
        dispatch_schedule_cycle(d); /* more results than one batch, or failed claims */
    else if (d->want_claim && d->state == D_RUNNING && claim_room(d) > 0 &&
             d->store_backoff_ms == 0)
        dispatch_schedule_cycle(d);
    dispatch_check_drained(d);
}

static void on_cycle_idle(uv_idle_t *h)
{
    struct dispatcher *d = h->data;
    uv_idle_stop(h);
    d->cycle_scheduled = false;
    cycle(d);
}

void dispatch_commit_now(struct dispatcher *d)
{
    while (d->finished.n) {
        size_t before = d->finished.n;
        cycle(d);
        if (d->finished.n >= before)
            break; /* the store is failing; give up for now */
    }
}

static void on_poll_timer(uv_timer_t *t)
{
    struct dispatcher *d = t->data;
    d->want_claim = true;
    if (claim_room(d) > 0)
        dispatch_schedule_cycle(d);
}

static void on_due_timer(uv_timer_t *t)
{
    struct dispatcher *d = t->data;
    d->due_at = 0;
    on_poll_timer(t);
}

/* ---- other threads: wake, cancel, direct runs ---- */

static void direct_refuse(struct dispatcher *d, struct drun *r, int code, const char *msg)
{
    json_t *e = json_pack("{s:s, s:s}", "type", code == E_UNAVAILABLE ? "Unavailable" : "Error",
                          "message", msg);
    struct pool_result res = {.rc = -code, .error = e};
    take_result(d, r, &res);
    json_decref(e);
    if (code == E_UNAVAILABLE)
        r->res.outcome = STORE_OUTCOME_CANCELLED; /* it never ran */
    vec_push(&d->finished, r);
    dispatch_schedule_cycle(d);
}

static void accept_direct(struct dispatcher *d, struct direct_req *q)
{
    struct drun *r = q->run;
    /* link it now: until here it was private to the calling thread */
    r->pr.id = ++d->next_run_id;
    r->next = d->runs;
    if (d->runs)
        d->runs->prev = r;
    d->runs = r;
    d->nruns++;
    if (d->state != D_RUNNING) {
        direct_refuse(d, r, E_UNAVAILABLE, "the node is shutting down");
        return;
    }
    struct err err = {0};
    if (r->pr.input_len > INPUT_MAX) {
        direct_refuse(d, r, E_TOO_LARGE, "the input is over the size a worker takes");
        return;
    }
    r->pr.task = task_get(d, r->task_id, NULL, q->task_row, &err);
    if (!r->pr.task) {
        direct_refuse(d, r, E_INTERNAL, err.msg);
        return;
    }
    vec_push(&d->waiting_direct, r);
}

static void cancel_job(struct dispatcher *d, int64_t job_id)
{
    struct drun *r = run_by_job(d, job_id);
    if (!r || r->cancel_requested)
        return;
    r->cancel_requested = true;
    if (r->state == DRUN_RUNNING) {
        pool_cancel(d->pool, &r->pr, CANCEL_GRACE_MS);
    } else if (r->state == DRUN_WAITING) {
        for (size_t i = 0; i < d->waiting_jobs.n; i++) {
            if (d->waiting_jobs.v[i] == r) {
                memmove(d->waiting_jobs.v + i, d->waiting_jobs.v + i + 1,
                        (d->waiting_jobs.n - i - 1) * sizeof(*d->waiting_jobs.v));
                d->waiting_jobs.n--;
                break;
            }
        }
        json_t *e = json_pack("{s:s, s:s}", "type", "CancelledError", "message",
                              "cancelled before it started");
        struct pool_result res = {.rc = -E_CANCELLED, .error = e};
        take_result(d, r, &res);
        json_decref(e);
        vec_push(&d->finished, r);
        dispatch_schedule_cycle(d);
    } else if (r->state == DRUN_FINISHED) {
        /* the result is in but not committed: the store cancels a failed attempt rather than
         * retrying it; say so in the events */
        r->job_status = predict_status(r);
    }
}

/* Stops a direct run (its client hung up, or a cancel came over the API): removed from the
 * waiting list if it has not started, else cancelled in its worker. */
static void cancel_execution(struct dispatcher *d, int64_t execution_id)
{
    struct drun *r = NULL;
    for (struct drun *x = d->runs; x && !r; x = x->next)
        if (x->direct && x->execution_id == execution_id)
            r = x;
    if (!r || r->cancel_requested)
        return;
    r->cancel_requested = true;
    if (r->state == DRUN_RUNNING) {
        pool_cancel(d->pool, &r->pr, CANCEL_GRACE_MS);
        return;
    }
    if (r->state != DRUN_WAITING)
        return;
    for (size_t i = 0; i < d->waiting_direct.n; i++) {
        if (d->waiting_direct.v[i] == r) {
            memmove(d->waiting_direct.v + i, d->waiting_direct.v + i + 1,
                    (d->waiting_direct.n - i - 1) * sizeof(*d->waiting_direct.v));
            d->waiting_direct.n--;
            break;
        }
    }
    json_t *e =
        json_pack("{s:s, s:s}", "type", "CancelledError", "message", "cancelled before it started");
    struct pool_result res = {.rc = -E_CANCELLED, .error = e};
    take_result(d, r, &res); /* recorded CANCELLED: cancel_requested is set */
    json_decref(e);
    vec_push(&d->finished, r);
    dispatch_schedule_cycle(d);
}

static void on_async(uv_async_t *a)
{
    struct dispatcher *d = a->data;
    pthread_mutex_lock(&d->mu);
    VEC(int64_t) cancels = {d->cancel_in.v, d->cancel_in.n, d->cancel_in.cap};
    VEC(int64_t) exec_cancels = {d->cancel_exec_in.v, d->cancel_exec_in.n, d->cancel_exec_in.cap};
    VEC(struct direct_req) directs = {d->direct_in.v, d->direct_in.n, d->direct_in.cap};
    memset(&d->cancel_in, 0, sizeof(d->cancel_in));
    memset(&d->cancel_exec_in, 0, sizeof(d->cancel_exec_in));
    memset(&d->direct_in, 0, sizeof(d->direct_in));
    pthread_mutex_unlock(&d->mu);
    if (atomic_exchange(&d->wake, false))
        dispatch_jobs_arrived(d);
    for (size_t i = 0; i < cancels.n; i++)
        cancel_job(d, cancels.v[i]);
    for (size_t i = 0; i < directs.n; i++) {
        accept_direct(d, &directs.v[i]);
        json_decref(directs.v[i].task_row);
    }
    /* after the direct runs: a client may hang up before its run was accepted */
    for (size_t i = 0; i < exec_cancels.n; i++)
        cancel_execution(d, exec_cancels.v[i]);
    vec_free(&cancels);
    vec_free(&exec_cancels);
    vec_free(&directs);
    submit_waiting(d);
}

void dispatcher_wake(struct dispatcher *d)
{
    if (!d)
        return;
    if (!atomic_exchange(&d->wake, true))
        uv_async_send(&d->async);
}

void dispatcher_cancel_job(struct dispatcher *d, int64_t job_id)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    vec_push(&d->cancel_in, job_id);
    pthread_mutex_unlock(&d->mu);
    uv_async_send(&d->async);
}

void dispatcher_cancel_execution(struct dispatcher *d, int64_t execution_id)
{
    if (!d || execution_id <= 0)
        return;
    pthread_mutex_lock(&d->mu);
    vec_push(&d->cancel_exec_in, execution_id);
    pthread_mutex_unlock(&d->mu);
    uv_async_send(&d->async);
}

void dispatch_cancel_local(struct dispatcher *d, int64_t job_id)
{
    cancel_job(d, job_id);
}

int dispatcher_execute(struct dispatcher *d, const struct dispatcher_run_request *req,
                       dispatcher_result_fn done, void *ud, struct err *err)
{
    if (!d || !req || !done)
        return err_set(err, E_INVALID, "dispatcher_execute needs a request and a callback");
    if (!atomic_load(&d->accepting))
        return err_set(err, E_UNAVAILABLE, "the node is not running tasks (%s)",
                       d->state == D_NEW ? "not started" : "shutting down");
    json_t *task = NULL, *input = NULL, *row = NULL;
    int rc = store_get(d->store, STORE_TASKS, req->task_id, &task, err);
    if (rc < 0)
        return rc;
    const char *text = req->input_json ? req->input_json : "{}";
    rc = jsonx_parse(text, strlen(text), &input, err);
    if (rc < 0) {
        json_decref(task);
        return rc;
    }
    json_t *fields = json_object();
    json_object_set_new(fields, "taskId", json_integer(req->task_id));
    json_object_set(fields, "taskVersion", json_object_get(task, "version"));
    json_object_set_new(fields, "input", input);
    /* running from the caller's point of view: it takes the next free worker slot, before
     * any queued job; its startedAt becomes the worker's start when the result comes in */
    json_object_set_new(fields, "status", json_string("running"));
    json_object_set_new(fields, "startedAt", json_integer(time_now_ms()));
    json_object_set_new(fields, "nodeId", json_string(d->node_id));
    rc = store_create(d->store, STORE_EXECUTIONS, fields, &row, err);
    json_decref(fields);
    if (rc < 0) {
        json_decref(task);
        return rc;
    }
    struct drun *r = xcalloc(1, sizeof(*r));
    r->d = d;
    r->direct = true;
    r->pr.ud = r;
    r->task_id = req->task_id;
    r->execution_id = json_integer_value(json_object_get(row, "id"));
    const char *uuid = jsonx_str(row, "uuid");
    snprintf(r->pr.execution_uuid, sizeof(r->pr.execution_uuid), "%s", uuid ? uuid : "");
    json_decref(row);
    if (req->execution_id)
        *req->execution_id = r->execution_id;
    r->pr.input = xstrdup(text);
    r->pr.input_len = strlen(text);
    r->pr.timeout_ms = req->timeout_ms;
    r->done = done;
    r->done_ud = ud;
    r->claimed_us = mono_us();
    r->state = DRUN_WAITING;
    struct direct_req q = {r, task};
    pthread_mutex_lock(&d->mu);
    vec_push(&d->direct_in, q);
    pthread_mutex_unlock(&d->mu);
    uv_async_send(&d->async);
    return 0;
}

json_t *dispatcher_workers(struct dispatcher *d)
{
    pthread_mutex_lock(&d->mu);
    json_t *copy = d->workers_json ? json_deep_copy(d->workers_json) : json_array();
    pthread_mutex_unlock(&d->mu);
    return copy;
}

/* ---- lifecycle ---- */

static void on_handle_closed(uv_handle_t *h)
{
    struct dispatcher *d = h->data;
    d->open_handles--;
}

int dispatcher_new(uv_loop_t *loop, struct store *store, const struct config *cfg,
                   struct event_bus *bus, struct dispatcher **out, struct err *err)
{
    return dispatcher_new_with(loop, store, cfg, bus, NULL, out, err);
}

int dispatcher_new_with(uv_loop_t *loop, struct store *store, const struct config *cfg,
                        struct event_bus *bus, const struct dispatcher_options *opts,
                        struct dispatcher **out, struct err *err)
{
    *out = NULL;
    if (!loop || !store || !cfg)
        return err_set(err, E_INVALID, "the dispatcher needs a loop, a store and a config");
    struct dispatcher *d = xcalloc(1, sizeof(*d));
    d->loop = loop;
    d->store = store;
    d->cfg = cfg;
    d->bus = bus;
    d->started_at_ms = time_now_ms();
    if (gethostname(d->hostname, sizeof(d->hostname) - 1) < 0)
        snprintf(d->hostname, sizeof(d->hostname), "localhost");
    if (opts && opts->node_id && *opts->node_id) {
        snprintf(d->node_id, sizeof(d->node_id), "%s", opts->node_id);
    } else {
        snprintf(d->node_id, sizeof(d->node_id), "%.80s-%d-%04x", d->hostname, (int)getpid(),
                 (unsigned)(random_u64() & 0xffff));
    }
    snprintf(d->node_kind, sizeof(d->node_kind), "%s",
             opts && opts->node_kind ? opts->node_kind : "worker");
    d->poll_ms = opts && opts->poll_interval_ms > 0 ? opts->poll_interval_ms : 500;
    d->metrics = opts ? opts->metrics : NULL;
    if (!d->metrics) {
        d->metrics = metrics_new();
        d->own_metrics = true;
    }
    d->claim_batch = cfg->job_queue.claim_batch > 0 ? cfg->job_queue.claim_batch : 32;
    d->lease_ms = cfg->job_queue.lease_ms > 0 ? cfg->job_queue.lease_ms : 30000;
    d->heartbeat_ms = cfg->job_queue.heartbeat_ms > 0 ? cfg->job_queue.heartbeat_ms : 10000;
    d->breaker_cfg = (struct queue_breaker_config){cfg->job_queue.circuit_breaker.failure_threshold,
                                                   cfg->job_queue.circuit_breaker.cooldown_ms};
    queue_retry_policy_default(cfg, &d->retry_default);
    pthread_mutex_init(&d->mu, NULL);
    atomic_init(&d->wake, false);
    atomic_init(&d->accepting, false);
    const char *trace = getenv("RATCHET_QUEUE_TRACE");
    if (trace && *trace) {
        d->trace = fopen(trace, "a");
        if (!d->trace)
            log_warn("dispatcher: cannot open RATCHET_QUEUE_TRACE %s", trace);
    }

    uv_async_init(loop, &d->async, on_async);
    uv_idle_init(loop, &d->cycle_idle);
    uv_timer_init(loop, &d->poll_timer);
    uv_timer_init(loop, &d->due_timer);
    uv_timer_init(loop, &d->heartbeat);
    uv_timer_init(loop, &d->retry_timer);
    uv_timer_init(loop, &d->drain_timer);
    uv_handle_t *handles[] = {(uv_handle_t *)&d->async,      (uv_handle_t *)&d->cycle_idle,
                              (uv_handle_t *)&d->poll_timer, (uv_handle_t *)&d->due_timer,
                              (uv_handle_t *)&d->heartbeat,  (uv_handle_t *)&d->retry_timer,
                              (uv_handle_t *)&d->drain_timer};
    for (size_t i = 0; i < sizeof(handles) / sizeof(handles[0]); i++)
        handles[i]->data = d;
    d->open_handles = (int)(sizeof(handles) / sizeof(handles[0]));
    uv_idle_start(&d->cycle_idle, on_cycle_idle);
    uv_idle_stop(&d->cycle_idle);
    dispatch_metrics_init(d);

    struct engine_options eo;
    task_engine_options(cfg, &eo);
    json_t *engine = task_engine_options_json(&eo);
    json_object_set_new(engine, "prewarm", json_true());
    d->workers_json = json_array();
    d->init = json_pack("{s:o, s:I, s:b}", "engine", engine, "maxConcurrentRuns",
                        (json_int_t)cfg->workers.max_concurrent_runs, "validateSchemas",
                        cfg->execution.validate_schemas);
    *out = d;
    return 0;
}

int dispatcher_start(struct dispatcher *d, const char *self_exe, struct err *err)
{
    if (d->state != D_NEW)
        return err_set(err, E_CONFLICT, "the dispatcher was already started");
    /* A worker that dies leaves a socket whose next write raises SIGPIPE: the node must see
     * EPIPE instead (libuv writes with write(2)). Process-wide, as every server does. */
    signal(SIGPIPE, SIG_IGN);
    const struct config *cfg = d->cfg;
    int64_t count = cfg->workers.count;
    if (count <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        count = cores > 0 ? cores : 1;
    }
    struct pool_options po = {
        .self_exe = self_exe,
        .node_id = d->node_id,
        .workers = (int)count,
        .max_concurrent_runs = (int)cfg->workers.max_concurrent_runs,
        .recycle_after_runs = cfg->workers.recycle_after_runs,
        .max_rss_bytes = cfg->workers.max_rss_mb << 20,
        .health_interval_ms = cfg->workers.health_check_interval_ms,
        .restart_backoff_ms = cfg->workers.restart_backoff_ms,
        .default_timeout_ms = cfg->execution.max_execution_duration_ms,
        .kill_grace_ms = KILL_GRACE_MS,
        .init = d->init,
        .max_frame_bytes = (size_t)cfg->execution.max_output_bytes + WORKER_FRAME_MAX,
    };
    struct pool_callbacks cb = {on_pool_result, on_pool_capacity, dispatch_on_worker, d};
    d->prefetch = (int)(count * cfg->workers.max_concurrent_runs / 2);
    int rc = pool_new(d->loop, &po, &cb, &d->pool, err);
    if (rc < 0)
        return rc;
    d->state = D_RUNNING;
    atomic_store(&d->accepting, true);
    dispatch_node_record(d, "running");
    rc = pool_start(d->pool, err);
    if (rc < 0) {
        d->state = D_STOPPED;
        return rc;
    }
    dispatch_listen_start(d);
    uv_timer_start(&d->poll_timer, on_poll_timer, (uint64_t)d->poll_ms, (uint64_t)d->poll_ms);
    dispatch_heartbeat_start(d);
    d->want_claim = true;
    log_info("dispatcher: node %s started %lld workers x %lld runs (%s store)", d->node_id,
             (long long)count, (long long)cfg->workers.max_concurrent_runs,
             store_backend_name(d->store));
    return 0;
}

void dispatcher_on_job_done(struct dispatcher *d, dispatcher_job_done_fn fn, void *ud)
{
    d->job_done = fn;
    d->job_done_ud = ud;
}

struct metrics *dispatcher_metrics(struct dispatcher *d)
{
    return d->metrics;
}

const char *dispatcher_node_id(const struct dispatcher *d)
{
    return d->node_id;
}

/* The one answer a direct run's caller gets when the node goes away under it. */
static void deliver_unavailable(struct drun *r)
{
    json_t *e = json_pack("{s:s, s:s}", "type", "Unavailable", "message",
                          "the node shut down before the run finished");
    json_t *logs = json_array();
    struct dispatcher_run_result out = {.status = -E_UNAVAILABLE,
                                        .error = e,
                                        .logs = logs,
                                        .execution_id = r->execution_id,
                                        .execution_uuid = r->pr.execution_uuid};
    r->delivered = true;
    r->done(r->done_ud, &out);
    json_decref(e);
    json_decref(logs);
}

void dispatcher_free(struct dispatcher *d)
{
    if (!d)
        return;
    d->freeing = true;
    atomic_store(&d->accepting, false);
    /* the pool first: it forgets the runs it holds without reporting them */
    if (d->pool) {
        struct pool *p = d->pool;
        d->pool = NULL;
        pool_free(p);
    }
    /* runs still held are dropped: their jobs' leases expire and they run again; a direct run's
     * caller still gets its one answer */
    while (d->runs) {
        struct drun *r = d->runs;
        if (r->direct && !r->delivered && r->done)
            deliver_unavailable(r);
        dispatch_free_run(d, r);
    }
    vec_free(&d->waiting_jobs);
    vec_free(&d->waiting_direct);
    vec_free(&d->finished);
    if (d->listener) {
        if (d->listen_active) {
            d->open_handles++;
            uv_close((uv_handle_t *)&d->listen_poll, on_handle_closed);
        }
        store_listener_free(d->listener);
        d->listener = NULL;
    }
    uv_handle_t *handles[] = {(uv_handle_t *)&d->async,      (uv_handle_t *)&d->cycle_idle,
                              (uv_handle_t *)&d->poll_timer, (uv_handle_t *)&d->due_timer,
                              (uv_handle_t *)&d->heartbeat,  (uv_handle_t *)&d->retry_timer,
                              (uv_handle_t *)&d->drain_timer};
    for (size_t i = 0; i < sizeof(handles) / sizeof(handles[0]); i++)
        uv_close(handles[i], on_handle_closed);
    /* the close callbacks (and the pool's) need the loop: one turn at a time, which never
     * blocks while handles are closing */
    while (d->open_handles > 0)
        uv_run(d->loop, UV_RUN_ONCE);
    for (size_t i = 0; i < d->tasks.n; i++) {
        pool_task_unref(d->tasks.v[i].pt);
        free(d->tasks.v[i].stamp);
    }
    vec_free(&d->tasks);
    vec_free(&d->breakers);
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->direct_in.n; i++) {
        struct drun *r = d->direct_in.v[i].run;
        json_decref(d->direct_in.v[i].task_row);
        deliver_unavailable(r);
        free(r->pr.input);
        free(r);
    }
    vec_free(&d->direct_in);
    vec_free(&d->cancel_in);
    vec_free(&d->cancel_exec_in);
    pthread_mutex_unlock(&d->mu);
    json_decref(d->workers_json);
    json_decref(d->init);
    pthread_mutex_destroy(&d->mu);
    if (d->trace)
        fclose(d->trace);
    if (d->own_metrics)
        metrics_free(d->metrics);
    free(d);
}
