/*
 * The dispatcher's node-level duties (dispatch.h): the heartbeat (lease renewal, recovery of
 * expired leases of any node, this node's and its workers' records, queue gauges),
 * notifications from the store (enqueues and cancels made elsewhere), events on the bus,
 * metrics, the overhead trace, and the graceful drain.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "queue/events.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"
#include "util/version.h"
#include "util/xalloc.h"
#include "worker/dispatch.h"

/* ---- metrics ---- */

void dispatch_metrics_init(struct dispatcher *d)
{
    struct metrics *m = d->metrics;
    d->m_runs = metrics_counter(m, "ratchet_runs_total", "Runs finished, by kind and outcome.",
                                (const char *[]){"kind", "status", NULL}, NULL);
    d->m_depth =
        metrics_gauge(m, "ratchet_queue_depth", "Jobs waiting (queued or retrying), by priority.",
                      (const char *[]){"priority", NULL}, NULL);
    d->m_jobs =
        metrics_gauge(m, "ratchet_jobs", "Jobs by status.", (const char *[]){"status", NULL}, NULL);
    d->m_workers = metrics_gauge(m, "ratchet_workers", "Worker processes of this node, by state.",
                                 (const char *[]){"state", NULL}, NULL);
    d->m_duration = metric_with(
        metrics_histogram(m, "ratchet_run_duration_seconds", "Time a run took in its worker.", NULL,
                          metrics_latency_buckets, metrics_latency_buckets_count, NULL),
        NULL);
    d->m_overhead = metric_with(
        metrics_histogram(m, "ratchet_job_overhead_seconds",
                          "From a job's claim to its result committed, run time included.", NULL,
                          metrics_latency_buckets, metrics_latency_buckets_count, NULL),
        NULL);
    d->m_claimed = metric_with(
        metrics_counter(m, "ratchet_jobs_claimed_total", "Jobs claimed by this node.", NULL, NULL),
        NULL);
    d->m_restarts = metric_with(metrics_counter(m, "ratchet_worker_crashes_total",
                                                "Worker processes that died unasked.", NULL, NULL),
                                NULL);
    d->m_breaker_opens =
        metric_with(metrics_counter(m, "ratchet_circuit_breaker_opens_total",
                                    "Times a task's circuit breaker opened.", NULL, NULL),
                    NULL);
}

/* The outcome as metrics and events name it. */
static const char *run_status(const struct drun *r)
{
    if (r->rc == 0)
        return "completed";
    switch (err_code_of(r->rc)) {
    case E_TIMEOUT:
        return "timeout";
    case E_CANCELLED:
        return "cancelled";
    default:
        break;
    }
    const char *type = r->error ? jsonx_str(r->error, "type") : NULL;
    if (type && strcmp(type, "WorkerCrashed") == 0)
        return "crashed";
    return "failed";
}

void dispatch_count_run(struct dispatcher *d, const struct drun *r)
{
    metric_counter_inc(metric_with(d->m_runs, r->direct ? "direct" : "job", run_status(r), NULL));
    if (r->res.duration_ms >= 0)
        metric_histogram_observe(d->m_duration, (double)r->duration_ms / 1000.0);
    if (!r->direct && r->claimed_us)
        metric_histogram_observe(d->m_overhead, (double)(r->committed_us - r->claimed_us) / 1e6);
}

static void refresh_queue_gauges(struct dispatcher *d)
{
    struct store_queue_stats st;
    struct err err = {0};
    if (store_job_stats(d->store, 0, &st, &err) < 0)
        return;
    for (int p = 1; p <= 4; p++)
        metric_gauge_set(metric_with(d->m_depth, store_priority_name(p), NULL),
                         (double)st.depth_by_priority[p]);
    for (int s = 0; s < STORE_JOB__COUNT; s++)
        metric_gauge_set(metric_with(d->m_jobs, store_job_status_name(s), NULL),
                         (double)st.by_status[s]);
}

/* ---- the overhead trace (RATCHET_QUEUE_TRACE, for bench/queue) ---- */

void dispatch_trace(struct dispatcher *d, const struct drun *r)
{
    if (!d->trace)
        return;
    /* job claimed sent started result committed: CLOCK_MONOTONIC µs */
    fprintf(d->trace, "%lld %lld %lld %lld %lld %lld\n", (long long)r->job_id,
            (long long)r->claimed_us, (long long)r->pr.sent_at_us, (long long)r->started_us,
            (long long)r->result_us, (long long)r->committed_us);
}

/* ---- events ---- */

static void publish(struct dispatcher *d, enum event_kind kind, int64_t id, const char *status,
                    json_t *data)
{
    char upper[32];
    size_t i = 0;
    for (; status[i] && i < sizeof(upper) - 1; i++)
        upper[i] = (char)(status[i] >= 'a' && status[i] <= 'z' ? status[i] - 32 : status[i]);
    upper[i] = '\0';
    json_object_set_new(data, "status", json_string(upper));
    struct event ev = {kind, id, upper, data, time_now_ms()};
    event_bus_publish(d->bus, &ev);
    json_decref(data);
}

void dispatch_publish_claimed(struct dispatcher *d, const struct drun *r)
{
    if (!event_bus_active(d->bus))
        return;
    publish(d, EVENT_JOB, r->job_id, "processing",
            json_pack("{s:I, s:s, s:I, s:i, s:i, s:I, s:s}", "id", (json_int_t)r->job_id, "uuid",
                      r->pr.job_uuid, "taskId", (json_int_t)r->task_id, "attempt", r->attempt,
                      "maxAttempts", r->max_attempts, "executionId", (json_int_t)r->execution_id,
                      "nodeId", d->node_id));
    publish(d, EVENT_EXECUTION, r->execution_id, "running",
            json_pack("{s:I, s:s, s:I, s:I, s:s}", "id", (json_int_t)r->execution_id, "uuid",
                      r->pr.execution_uuid, "taskId", (json_int_t)r->task_id, "jobId",
                      (json_int_t)r->job_id, "nodeId", d->node_id));
}

static const char *exec_status(const struct drun *r)
{
    switch (r->res.outcome) {
    case STORE_OUTCOME_COMPLETED:
        return "completed";
    case STORE_OUTCOME_CANCELLED:
        return "cancelled";
    case STORE_OUTCOME_FAILED:
        break;
    }
    return "failed";
}

void dispatch_publish_committed(struct dispatcher *d, const struct drun *r)
{
    if (!event_bus_active(d->bus))
        return;
    json_t *exec =
        json_pack("{s:I, s:s, s:I, s:s?, s:s, s:I}", "id", (json_int_t)r->execution_id, "uuid",
                  r->pr.execution_uuid, "taskId", (json_int_t)r->task_id, "workerId", r->worker_id,
                  "nodeId", d->node_id, "durationMs", (json_int_t)r->duration_ms);
    json_object_set_new(exec, "jobId", r->direct ? json_null() : json_integer(r->job_id));
    if (r->error)
        json_object_set(exec, "error", r->error);
    publish(d, EVENT_EXECUTION, r->execution_id, exec_status(r), exec);
    if (r->direct || r->lease_lost || !r->job_status)
        return;
    json_t *job =
        json_pack("{s:I, s:s, s:I, s:i, s:i, s:I}", "id", (json_int_t)r->job_id, "uuid",
                  r->pr.job_uuid, "taskId", (json_int_t)r->task_id, "attempt", r->attempt,
                  "maxAttempts", r->max_attempts, "executionId", (json_int_t)r->execution_id);
    if (r->error)
        json_object_set(job, "error", r->error);
    if (r->res.retry_at && strcmp(r->job_status, "retrying") == 0) {
        char at[40];
        time_format_rfc3339_ms(r->res.retry_at, at, sizeof(at));
        json_object_set_new(job, "scheduledFor", json_string(at));
    }
    publish(d, EVENT_JOB, r->job_id, r->job_status, job);
}

/* ---- node and worker records ---- */

void dispatch_node_record(struct dispatcher *d, const char *status)
{
    json_t *f =
        json_pack("{s:s, s:s, s:i, s:s, s:{s:s, s:s, s:s, s:I, s:I, s:i}}", "nodeId", d->node_id,
                  "hostname", d->hostname, "pid", (int)getpid(), "status", status, "info", "kind",
                  d->node_kind, "version", RATCHET_VERSION, "store", store_backend_name(d->store),
                  "workers", (json_int_t)d->cfg->workers.count, "maxConcurrentRuns",
                  (json_int_t)d->cfg->workers.max_concurrent_runs, "running",
                  d->pool ? pool_running(d->pool) : 0);
    struct err err = {0};
    if (store_upsert(d->store, STORE_NODES, "nodeId", f, NULL, NULL, &err) < 0)
        log_warn("dispatcher: cannot record node %s: %s", d->node_id, err.msg);
    json_decref(f);
}

static void worker_record(struct dispatcher *d, const json_t *w, const char *status)
{
    json_t *f = json_object();
    json_object_set(f, "workerId", json_object_get(w, "id"));
    json_object_set_new(f, "nodeId", json_string(d->node_id));
    json_object_set(f, "pid", json_object_get(w, "pid"));
    json_object_set_new(f, "status", json_string(status ? status : jsonx_str(w, "status")));
    json_object_set(f, "runs", json_object_get(w, "runs"));
    json_object_set(f, "failures", json_object_get(w, "failures"));
    json_object_set(f, "rssBytes", json_object_get(w, "rssBytes"));
    json_object_set(f, "currentJobs", json_object_get(w, "currentJobs"));
    struct err err = {0};
    if (store_upsert(d->store, STORE_WORKERS, "workerId", f, NULL, NULL, &err) < 0)
        log_debug("dispatcher: cannot record worker: %s", err.msg);
    json_decref(f);
}

void dispatch_refresh_workers(struct dispatcher *d)
{
    d->workers_refreshed_mono = time_mono_ms();
    json_t *snap = d->pool ? pool_snapshot(d->pool) : json_array();
    int counts[4] = {0};
    static const char *const states[] = {"starting", "ready", "draining", "stopping"};
    size_t i;
    json_t *w;
    json_array_foreach(snap, i, w)
    {
        const char *s = jsonx_str(w, "status");
        for (int k = 0; k < 4; k++)
            if (s && strcmp(s, states[k]) == 0)
                counts[k]++;
    }
    for (int k = 0; k < 4; k++)
        metric_gauge_set(metric_with(d->m_workers, states[k], NULL), counts[k]);
    pthread_mutex_lock(&d->mu);
    json_decref(d->workers_json);
    d->workers_json = snap;
    pthread_mutex_unlock(&d->mu);
}

void dispatch_on_worker(void *ud, const struct pool_worker *pw, const char *status)
{
    struct dispatcher *d = ud;
    if (strcmp(status, "crashed") == 0)
        metric_counter_inc(d->m_restarts);
    json_t *w = pool_worker_json(pw);
    json_object_set_new(w, "status", json_string(status));
    worker_record(d, w, status);
    if (event_bus_active(d->bus))
        publish(d, EVENT_WORKER, 0, status, json_incref(w));
    json_decref(w);
    dispatch_refresh_workers(d);
}

/* ---- the heartbeat ---- */

static void renew_leases(struct dispatcher *d)
{
    size_t n = 0;
    for (struct drun *r = d->runs; r; r = r->next)
        n += !r->direct && !r->abandoned;
    if (!n)
        return;
    int64_t *ids = xcalloc(n, sizeof(*ids));
    struct drun **runs = xcalloc(n, sizeof(*runs));
    enum store_lease_state *states = xcalloc(n, sizeof(*states));
    size_t k = 0;
    for (struct drun *r = d->runs; r; r = r->next) {
        if (!r->direct && !r->abandoned) {
            runs[k] = r;
            ids[k++] = r->job_id;
        }
    }
    struct err err = {0};
    if (store_job_renew(d->store, d->node_id, ids, n, d->lease_ms, 0, states, &err) < 0) {
        log_warn("dispatcher: renewing %zu leases failed: %s", n, err.msg);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (runs[i]->state == DRUN_FINISHED)
                continue;
            if (states[i] == STORE_LEASE_LOST) {
                log_warn("job %lld: lease lost; stopping its run", (long long)ids[i]);
                runs[i]->lease_lost = true;
                dispatch_cancel_local(d, ids[i]);
            } else if (states[i] == STORE_LEASE_CANCEL_REQUESTED) {
                dispatch_cancel_local(d, ids[i]);
            }
        }
    }
    free(ids);
    free(runs);
    free(states);
}

static void recover_expired(struct dispatcher *d)
{
    struct store_recovered *rec = NULL;
    size_t n = 0;
    struct err err = {0};
    if (store_job_recover_expired(d->store, 0, &rec, &n, &err) < 0) {
        log_warn("dispatcher: recovering expired leases failed: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        log_warn("job %lld: its node stopped renewing the lease; %s", (long long)rec[i].job_id,
                 rec[i].status == STORE_JOB_QUEUED   ? "queued again"
                 : rec[i].status == STORE_JOB_FAILED ? "failed (no attempts left)"
                                                     : "cancelled");
        if (event_bus_active(d->bus))
            publish(d, EVENT_JOB, rec[i].job_id, store_job_status_name(rec[i].status),
                    json_pack("{s:I, s:I}", "id", (json_int_t)rec[i].job_id, "executionId",
                              (json_int_t)rec[i].execution_id));
    }
    if (n) {
        d->want_claim = true;
        dispatch_schedule_cycle(d);
    }
    free(rec);
}

/* Whether node id (another node) is gone: no row, stopped, or silent for two leases. */
static bool node_gone(struct dispatcher *d, const char *id)
{
    json_t *row = NULL;
    struct err err = {0};
    int rc = store_get_by(d->store, STORE_NODES, "nodeId", id, &row, &err);
    if (rc == -E_NOT_FOUND)
        return true;
    if (rc < 0)
        return false;
    const char *status = jsonx_str(row, "status");
    int64_t beat = 0;
    const char *at = jsonx_str(row, "heartbeatAt");
    if (at)
        time_parse_rfc3339(at, &beat);
    bool gone = (status && strcmp(status, "stopped") == 0) ||
                (beat && time_now_ms() - beat > 2 * d->lease_ms);
    json_decref(row);
    return gone;
}

/* Direct runs have no lease: an execution left pending or running by a node that died is
 * failed here (every minute, by any node). */
static void recover_orphan_directs(struct dispatcher *d)
{
    json_t *statuses = json_pack("[s, s]", "pending", "running");
    struct store_filter f[2] = {{"jobId", STORE_EQ, json_null()}, {"status", STORE_IN, statuses}};
    struct store_query q = {.filters = f, .nfilters = 2, .limit = 200};
    json_t *rows = NULL;
    struct err err = {0};
    int rc = store_list(d->store, STORE_EXECUTIONS, &q, &rows, NULL, &err);
    json_decref(statuses);
    if (rc < 0)
        return;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *node = jsonx_str(row, "nodeId");
        if (!node || strcmp(node, d->node_id) == 0 || !node_gone(d, node))
            continue;
        json_t *fields =
            json_pack("{s:s, s:s, s:s, s:I}", "status", "failed", "errorType", "NodeLost",
                      "errorMessage", "the node running it stopped before the run finished",
                      "completedAt", (json_int_t)time_now_ms());
        long long id = 0;
        jsonx_int(row, "id", &id);
        if (store_update(d->store, STORE_EXECUTIONS, id, fields, NULL, &err) == 0)
            log_warn("execution %lld: its node %s is gone; marked failed", id, node);
        json_decref(fields);
    }
    json_decref(rows);
}

void dispatch_on_heartbeat(uv_timer_t *t)
{
    struct dispatcher *d = t->data;
    renew_leases(d);
    recover_expired(d);
    if (++d->beats % (uint64_t)(60000 / d->heartbeat_ms + 1) == 0)
        recover_orphan_directs(d);
    if (d->state == D_RUNNING || d->state == D_DRAINING)
        dispatch_node_record(d, d->state == D_RUNNING ? "running" : "draining");
    if (d->pool) {
        json_t *snap = pool_snapshot(d->pool);
        size_t i;
        json_t *w;
        json_array_foreach(snap, i, w)
        {
            worker_record(d, w, NULL);
        }
        json_decref(snap);
        dispatch_refresh_workers(d);
    }
    refresh_queue_gauges(d);
}

void dispatch_heartbeat_start(struct dispatcher *d)
{
    recover_expired(d); /* a restarted node picks up what a dead one left at once */
    recover_orphan_directs(d);
    refresh_queue_gauges(d);
    uv_timer_start(&d->heartbeat, dispatch_on_heartbeat, (uint64_t)d->heartbeat_ms,
                   (uint64_t)d->heartbeat_ms);
}

/* ---- notifications from other processes and nodes ---- */

static void on_note(void *arg, const char *channel, const char *payload)
{
    struct dispatcher *d = arg;
    if (strcmp(channel, STORE_CHANNEL_JOBS) == 0) {
        dispatch_jobs_arrived(d);
        return;
    }
    if (strcmp(channel, STORE_CHANNEL_CANCEL) != 0 || !payload)
        return;
    json_t *o = json_loads(payload, 0, NULL);
    long long job = 0, exec = 0;
    const char *node = jsonx_str(o, "node");
    bool here = !node || strcmp(node, d->node_id) == 0;
    if (here && jsonx_int(o, "jobId", &job) == 0)
        dispatch_cancel_local(d, job);
    else if (here && jsonx_int(o, "executionId", &exec) == 0)
        dispatcher_cancel_execution(d, exec); /* a direct run */
    json_decref(o);
}

static void on_listen(uv_poll_t *h, int status, int events);

static void listen_arm(struct dispatcher *d)
{
    int fd = store_listener_fd(d->listener);
    uv_poll_init(d->loop, &d->listen_poll, fd);
    d->listen_poll.data = d;
    uv_poll_start(&d->listen_poll, UV_READABLE, on_listen);
    d->listen_active = true;
}

static void on_listen_closed(uv_handle_t *h)
{
    struct dispatcher *d = h->data;
    d->open_handles--;
    if (d->listener && !d->freeing)
        listen_arm(d);
}

static void on_listen(uv_poll_t *h, int status, int events)
{
    struct dispatcher *d = h->data;
    (void)status;
    (void)events;
    bool changed = false;
    struct err err = {0};
    if (store_listener_drain(d->listener, on_note, d, &changed, &err) < 0)
        log_warn("dispatcher: the store listener failed: %s", err.msg);
    if (changed) {
        /* reconnected: a new fd, and notifications may have been missed */
        d->want_claim = true;
        dispatch_schedule_cycle(d);
        d->listen_active = false;
        d->open_handles++; /* dispatcher_free waits for it */
        uv_close((uv_handle_t *)&d->listen_poll, on_listen_closed);
    }
}

void dispatch_listen_start(struct dispatcher *d)
{
    const char *channels[] = {STORE_CHANNEL_JOBS, STORE_CHANNEL_CANCEL};
    struct err err = {0};
    if (store_listener_open(d->store, channels, 2, &d->listener, &err) < 0) {
        log_warn("dispatcher: no store notifications (%s); polling every %lld ms", err.msg,
                 (long long)d->poll_ms);
        d->listener = NULL;
        return;
    }
    listen_arm(d);
}

/* ---- the graceful drain ---- */

static void publish_requeued(struct dispatcher *d, const struct drun *r);

static void on_pool_stopped(void *ud)
{
    struct dispatcher *d = ud;
    dispatch_commit_now(d);
    uv_timer_stop(&d->heartbeat);
    uv_timer_stop(&d->poll_timer);
    uv_timer_stop(&d->due_timer);
    uv_timer_stop(&d->drain_timer);
    uv_timer_stop(&d->retry_timer);
    dispatch_node_record(d, "stopped");
    dispatch_refresh_workers(d);
    d->state = D_STOPPED;
    log_info("dispatcher: node %s stopped", d->node_id);
    if (d->drain_done)
        d->drain_done(d->drain_ud);
}

/* Requeues the jobs whose runs are still going after the grace period, and stops them. */
static void abandon_running(struct dispatcher *d)
{
    size_t n = 0;
    for (struct drun *r = d->runs; r; r = r->next)
        n += !r->direct && r->state == DRUN_RUNNING;
    int64_t *jobs = xcalloc(n ? n : 1, sizeof(*jobs));
    int64_t *execs = xcalloc(n ? n : 1, sizeof(*execs));
    size_t k = 0;
    for (struct drun *r = d->runs; r; r = r->next) {
        if (r->direct || r->state != DRUN_RUNNING)
            continue;
        jobs[k] = r->job_id;
        execs[k++] = r->execution_id;
        r->abandoned = true;
        publish_requeued(d, r);
        pool_cancel(d->pool, &r->pr, 1000);
    }
    struct err err = {0};
    size_t moved = 0;
    if (n && store_job_requeue(d->store, d->node_id, jobs, execs, n,
                               "the node shut down before the run finished; the job was "
                               "requeued",
                               0, &moved, &err) < 0)
        log_warn("dispatcher: requeueing %zu jobs failed (%s); their leases will expire", n,
                 err.msg);
    else if (n)
        log_info("dispatcher: requeued %zu jobs still running after the grace period", moved);
    for (struct drun *r = d->runs; r; r = r->next)
        if (r->direct && r->state == DRUN_RUNNING)
            pool_cancel(d->pool, &r->pr, 1000);
    free(jobs);
    free(execs);
}

/* A job given back to the queue (its attempt not counted) and its cancelled execution. */
static void publish_requeued(struct dispatcher *d, const struct drun *r)
{
    if (!event_bus_active(d->bus))
        return;
    publish(d, EVENT_EXECUTION, r->execution_id, "cancelled",
            json_pack("{s:I, s:s, s:I, s:I, s:s}", "id", (json_int_t)r->execution_id, "uuid",
                      r->pr.execution_uuid, "taskId", (json_int_t)r->task_id, "jobId",
                      (json_int_t)r->job_id, "nodeId", d->node_id));
    publish(d, EVENT_JOB, r->job_id, "queued",
            json_pack("{s:I, s:s, s:I}", "id", (json_int_t)r->job_id, "uuid", r->pr.job_uuid,
                      "taskId", (json_int_t)r->task_id));
}

void dispatch_requeue_waiting(struct dispatcher *d, int64_t task_id, const char *why)
{
    size_t n = d->waiting_jobs.n, k = 0, kept = 0;
    if (!n)
        return;
    int64_t *jobs = xcalloc(n, sizeof(*jobs));
    int64_t *execs = xcalloc(n, sizeof(*execs));
    struct drun **gone = xcalloc(n, sizeof(*gone));
    for (size_t i = 0; i < n; i++) {
        struct drun *r = d->waiting_jobs.v[i];
        if (task_id && r->task_id != task_id) {
            d->waiting_jobs.v[kept++] = r;
            continue;
        }
        jobs[k] = r->job_id;
        execs[k] = r->execution_id;
        gone[k++] = r;
    }
    d->waiting_jobs.n = kept;
    struct err err = {0};
    char *msg = xasprintf("%s before the run started; the job was requeued", why);
    if (k && store_job_requeue(d->store, d->node_id, jobs, execs, k, msg, 0, NULL, &err) < 0)
        log_warn("dispatcher: requeueing %zu jobs failed (%s); their leases will expire", k,
                 err.msg);
    free(msg);
    for (size_t i = 0; i < k; i++) {
        publish_requeued(d, gone[i]);
        dispatch_free_run(d, gone[i]);
    }
    free(gone);
    free(jobs);
    free(execs);
}

void dispatch_check_drained(struct dispatcher *d)
{
    if (d->state != D_DRAINING)
        return;
    for (struct drun *r = d->runs; r; r = r->next)
        if (r->state == DRUN_RUNNING && !r->abandoned)
            return;
    dispatch_commit_now(d);
    d->state = D_STOPPING;
    uv_timer_stop(&d->drain_timer);
    pool_stop(d->pool, d->drain_timed_out ? 1000 : 5000, on_pool_stopped, d);
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct dispatcher *d = t->data;
    if (d->state != D_DRAINING)
        return;
    d->drain_timed_out = true;
    log_warn("dispatcher: the grace period ended with %d runs going; requeueing them",
             pool_running(d->pool));
    abandon_running(d);
    dispatch_check_drained(d);
}

void dispatcher_drain(struct dispatcher *d, int64_t grace_ms, void (*done)(void *ud), void *ud)
{
    d->drain_done = done;
    d->drain_ud = ud;
    if (d->state == D_STOPPED || d->state == D_NEW) {
        d->state = D_STOPPED;
        if (done)
            done(ud);
        return;
    }
    if (d->state != D_RUNNING) {
        /* a second signal: do not wait for the rest of the grace period */
        if (d->state == D_DRAINING)
            on_drain_timeout(&d->drain_timer);
        return;
    }
    log_info("dispatcher: draining node %s (%d runs going, grace %lld ms)", d->node_id,
             pool_running(d->pool), (long long)grace_ms);
    d->state = D_DRAINING;
    atomic_store(&d->accepting, false);
    uv_timer_stop(&d->poll_timer);
    uv_timer_stop(&d->due_timer);
    dispatch_node_record(d, "draining");
    dispatch_requeue_waiting(d, 0, "the node shut down");
    while (d->waiting_direct.n) {
        struct drun *r = d->waiting_direct.v[--d->waiting_direct.n];
        json_t *e =
            json_pack("{s:s, s:s}", "type", "Unavailable", "message", "the node is shutting down");
        r->rc = -E_UNAVAILABLE;
        r->state = DRUN_FINISHED;
        r->error = e;
        r->res = (struct store_job_result){.execution_id = r->execution_id,
                                           .outcome = STORE_OUTCOME_CANCELLED,
                                           .error_type = "Unavailable",
                                           .error_message = "the node is shutting down",
                                           .duration_ms = 0};
        vec_push(&d->finished, r);
    }
    uv_timer_start(&d->drain_timer, on_drain_timeout, (uint64_t)(grace_ms > 0 ? grace_ms : 0), 0);
    dispatch_check_drained(d);
}
