/*
 * The scheduler and output delivery of a node, wired to its dispatcher (node_services.h).
 *
 * Two hooks do the wiring. The dispatcher's job-done hook hands completed jobs that have
 * destinations (or when global destinations exist) to delivery: what the envelope needs
 * beyond the hook's data (task name and version, schedule, run times) is read from the store
 * on the libuv thread pool, never on the loop, then delivery_submit queues it. The scheduler's
 * events wake the dispatcher when a job was fired, are published on the event bus, and keep
 * the node row's isScheduler up to date.
 *
 * Deliveries are durable (docs/delivery.md "Durability"): the dispatcher commits a completed
 * job owing deliveries as 'pending', owned by this node; when delivery reports the job
 * settled, it becomes 'done'. A timer (at start, then every job_queue.heartbeat_ms) adopts
 * pending jobs whose owner node is gone and delivers what they still miss.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/node_services.h"
#include "config/config.h"
#include "queue/delivery.h"
#include "queue/events.h"
#include "queue/scheduler.h"
#include "queue/tz.h"
#include "store/store.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "worker/dispatcher.h"

enum phase {
    PH_RUNNING,
    PH_SCHEDULER, /* scheduler_stop in progress */
    PH_DISPATCHER,
    PH_LOOKUPS, /* the dispatcher drained; deliveries of its last jobs are being queued */
    PH_DELIVERY,
    PH_DONE,
};

struct node_services {
    uv_loop_t *loop;
    struct store *store;
    const struct config *cfg;
    struct dispatcher *dispatcher;
    struct event_bus *bus;
    char *node_id;
    struct tz_db *zones;
    struct delivery *delivery;
    struct scheduler *scheduler;
    bool scheduler_started, scheduler_stopped;
    bool delivery_drained;
    bool freeing; /* node_services_free runs: stop callbacks go no further */

    /* shutdown */
    enum phase phase;
    int64_t grace_ms;
    void (*done)(void *ud);
    void *done_ud;

    int lookups; /* job-done lookups on the thread pool */
    int settles; /* delivery_status 'done' writes on the thread pool */

    /* recovery of deliveries owed by nodes that are gone (docs/delivery.md "Durability") */
    uv_timer_t recover_timer;
    bool recover_timer_open;
    bool recover_busy;
    bool recovered_own; /* the first pass also took this node id's own (a restart) */
    uv_work_t recover_work;

    /* the node row's status while deliveries drain after the dispatcher stopped */
    int status_writes;
    bool drain_marked; /* recorded draining after the dispatcher stopped */

    /* the node row's isScheduler: one write at a time, the latest wish wins */
    int leader_wanted; /* -1: nothing to write */
    int leader_written;
    bool leader_busy;
    uv_work_t leader_work;
    int leader_value; /* what leader_work writes */
};

/* ---- delivery of completed jobs ---- */

/* What the thread pool needs to build a delivery_job. */
struct lookup {
    uv_work_t work;
    struct node_services *ns;
    int64_t job_id, execution_id, task_id, duration_ms;
    char *job_uuid, *execution_uuid, *output, *destinations;
};

static void lookup_release(struct lookup *l)
{
    free(l->job_uuid);
    free(l->execution_uuid);
    free(l->output);
    free(l->destinations);
}

static int64_t row_time(const json_t *row, const char *key)
{
    int64_t ms = 0;
    const char *s = jsonx_str(row, key);
    if (s && time_parse_rfc3339(s, &ms) < 0)
        ms = 0;
    return ms;
}

/* Builds the delivery_job of l from the store and submits it, tracked: the job's deliveries
 * are owed in the store (prior: what earlier attempts did, for a recovered job). Thread pool. */
static void submit_job(struct node_services *ns, const struct lookup *l,
                       const struct delivery_prior *prior, size_t nprior)
{
    json_t *exec = NULL, *job = NULL, *task = NULL;
    struct err err = {0};
    /* Best effort: a row that cannot be read leaves its fields empty in the envelope. */
    if (store_get(ns->store, STORE_EXECUTIONS, l->execution_id, &exec, &err) < 0)
        log_debug("delivery: execution %lld: %s", (long long)l->execution_id, err.msg);
    if (store_get(ns->store, STORE_JOBS, l->job_id, &job, &err) < 0)
        log_debug("delivery: job %lld: %s", (long long)l->job_id, err.msg);
    if (store_get(ns->store, STORE_TASKS, l->task_id, &task, &err) < 0)
        log_debug("delivery: task %lld: %s", (long long)l->task_id, err.msg);
    json_t *dur = json_object_get(exec, "durationMs");
    const char *version = jsonx_str(exec, "taskVersion");
    struct delivery_job dj = {
        .job_id = l->job_id,
        .job_uuid = l->job_uuid,
        .task_id = l->task_id,
        .task_uuid = jsonx_str(task, "uuid"),
        .task_name = jsonx_str(task, "name") ? jsonx_str(task, "name") : "",
        .task_version =
            version ? version : (jsonx_str(task, "version") ? jsonx_str(task, "version") : ""),
        .execution_id = l->execution_id,
        .execution_uuid = l->execution_uuid,
        .schedule_id = (int64_t)json_integer_value(json_object_get(job, "scheduleId")),
        .started_at = row_time(exec, "startedAt"),
        .completed_at = row_time(exec, "completedAt"),
        .duration_ms = json_is_integer(dur) ? (int64_t)json_integer_value(dur) : l->duration_ms,
        .output_json = l->output,
        .destinations_json = l->destinations,
        .track = true,
        .prior = prior,
        .nprior = nprior,
    };
    if (!dj.completed_at)
        dj.completed_at = time_now_ms();
    int rc = delivery_submit(ns->delivery, &dj, &err);
    if (rc == -E_BUSY)
        log_warn("delivery: job %lld: %s (recorded as failed deliveries; retry them by hand)",
                 (long long)l->job_id, err.msg);
    else if (rc < 0)
        log_info("delivery: job %lld: not delivered: %s", (long long)l->job_id, err.msg);
    json_decref(exec);
    json_decref(job);
    json_decref(task);
}

static void lookup_work(uv_work_t *w)
{
    struct lookup *l = w->data;
    submit_job(l->ns, l, NULL, 0);
}

static void maybe_drain_delivery(struct node_services *ns);

static void lookup_after(uv_work_t *w, int status)
{
    struct lookup *l = w->data;
    struct node_services *ns = l->ns;
    (void)status;
    lookup_release(l);
    free(l);
    ns->lookups--;
    if (ns->phase == PH_LOOKUPS)
        maybe_drain_delivery(ns);
}

/* The dispatcher's hook (loop thread): after a job result was committed. */
static void on_job_done(void *ud, const struct dispatcher_job_done *info)
{
    struct node_services *ns = ud;
    if (!info->status || strcmp(info->status, "completed") != 0)
        return;
    if (!delivery_owed(info->output_destinations, ns->cfg))
        return;
    struct lookup *l = xcalloc(1, sizeof(*l));
    l->ns = ns;
    l->job_id = info->job_id;
    l->execution_id = info->execution_id;
    l->task_id = info->task_id;
    l->duration_ms = info->duration_ms;
    l->job_uuid = info->job_uuid ? xstrdup(info->job_uuid) : NULL;
    l->execution_uuid = info->execution_uuid ? xstrdup(info->execution_uuid) : NULL;
    l->output = info->output_json ? xstrdup(info->output_json) : NULL;
    l->destinations = info->output_destinations ? xstrdup(info->output_destinations) : NULL;
    l->work.data = l;
    ns->lookups++;
    uv_queue_work(ns->loop, &l->work, lookup_work, lookup_after);
}

/* ---- durable delivery: settling and recovering owed deliveries ---- */

struct settle {
    uv_work_t work;
    struct node_services *ns;
    int64_t job_id;
};

static void settle_work(uv_work_t *w)
{
    struct settle *st = w->data;
    struct err err = {0};
    if (store_job_delivery_done(st->ns->store, st->job_id, st->ns->node_id, NULL, &err) < 0)
        log_warn("delivery: job %lld: cannot record its deliveries as done (another node will "
                 "deliver them again once this one stops): %s",
                 (long long)st->job_id, err.msg);
}

static void settle_after(uv_work_t *w, int status)
{
    struct settle *st = w->data;
    (void)status;
    st->ns->settles--;
    free(st);
}

/* delivery's on_settled (loop thread): every destination of job_id reached a final state. */
static void on_settled(void *ud, int64_t job_id)
{
    struct node_services *ns = ud;
    struct settle *st = xcalloc(1, sizeof(*st));
    st->ns = ns;
    st->job_id = job_id;
    st->work.data = st;
    ns->settles++;
    uv_queue_work(ns->loop, &st->work, settle_work, settle_after);
}

/* What earlier attempts did for each destination of job_id, from its delivery_results rows:
 * (*out)[i] for index i (owned); its deliveryId strings are borrowed from *rows_out (owned).
 * Returns the number of entries. Thread pool. */
static size_t read_prior(struct node_services *ns, int64_t job_id, struct delivery_prior **out,
                         json_t **rows_out)
{
    json_t *jv = json_integer(job_id);
    struct store_filter f[] = {{"jobId", STORE_EQ, jv}};
    struct store_query q = {.filters = f, .nfilters = 1};
    json_t *rows = NULL;
    struct err err = {0};
    *out = NULL;
    *rows_out = NULL;
    int rc = store_list(ns->store, STORE_DELIVERIES, &q, &rows, NULL, &err);
    json_decref(jv);
    if (rc < 0) {
        log_warn("delivery: job %lld: cannot read its earlier deliveries: %s", (long long)job_id,
                 err.msg);
        return 0;
    }
    size_t n = 0, i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        long long index = -1;
        if (jsonx_int(row, "destinationIndex", &index) < 0 || index < 0 || index >= 10000)
            continue;
        if ((size_t)index >= n) {
            *out = xrealloc(*out, ((size_t)index + 1) * sizeof(**out));
            memset(*out + n, 0, ((size_t)index + 1 - n) * sizeof(**out));
            n = (size_t)index + 1;
        }
        struct delivery_prior *p = &(*out)[index];
        long long attempt = 0;
        jsonx_int(row, "attempt", &attempt);
        if (json_is_true(json_object_get(row, "success")))
            p->delivered = true;
        if (attempt > p->last_attempt)
            p->last_attempt = (int)attempt;
        const char *id = jsonx_str(json_object_get(row, "responseInfo"), "deliveryId");
        if (id && !p->delivery_id)
            p->delivery_id = id; /* borrowed from rows */
    }
    *rows_out = rows;
    return n;
}

/* Delivers again what job_id still owes (adopted by this node). Thread pool. */
static void redeliver(struct node_services *ns, int64_t job_id)
{
    json_t *job = NULL, *rows = NULL;
    struct delivery_prior *prior = NULL;
    struct err err = {0};
    if (store_get(ns->store, STORE_JOBS, job_id, &job, &err) < 0) {
        log_warn("delivery: job %lld: cannot read it to deliver its output: %s", (long long)job_id,
                 err.msg);
        return;
    }
    long long task_id = 0, exec_id = 0;
    jsonx_int(job, "taskId", &task_id);
    jsonx_int(job, "executionId", &exec_id);
    json_t *dests = json_object_get(job, "outputDestinations");
    json_t *output = json_object_get(job, "output");
    struct lookup l = {
        .ns = ns,
        .job_id = job_id,
        .execution_id = exec_id,
        .task_id = task_id,
        .duration_ms = -1,
        .job_uuid = xstrdup(jsonx_str(job, "uuid")),
        .output = output ? jsonx_dumps(output) : NULL,
        .destinations = dests && !json_is_null(dests) ? jsonx_dumps(dests) : NULL,
    };
    json_t *exec = NULL;
    if (store_get(ns->store, STORE_EXECUTIONS, exec_id, &exec, &err) == 0)
        l.execution_uuid = xstrdup(jsonx_str(exec, "uuid"));
    json_decref(exec);
    size_t nprior = read_prior(ns, job_id, &prior, &rows);
    submit_job(ns, &l, prior, nprior);
    lookup_release(&l);
    free(prior);
    json_decref(rows);
    json_decref(job);
}

static void recover_work(uv_work_t *w)
{
    struct node_services *ns = w->data;
    struct store_delivery_orphan *o = NULL;
    size_t n = 0;
    struct err err = {0};
    int64_t stale_before = time_now_ms() - 2 * ns->cfg->job_queue.lease_ms;
    /* the first pass also takes this node id's own: a node restarted under a fixed id has
     * lost what its predecessor held in memory */
    const char *self = ns->recovered_own ? NULL : ns->node_id;
    if (store_job_delivery_orphans(ns->store, self, stale_before, 0, &o, &n, &err) < 0) {
        log_warn("delivery: cannot look for deliveries of stopped nodes: %s", err.msg);
        return;
    }
    ns->recovered_own = true;
    for (size_t i = 0; i < n; i++) {
        bool adopted = false;
        if (store_job_delivery_adopt(ns->store, o[i].job_id, o[i].owner, ns->node_id, &adopted,
                                     &err) < 0) {
            log_warn("delivery: job %lld: cannot adopt its deliveries: %s", (long long)o[i].job_id,
                     err.msg);
            continue;
        }
        if (!adopted)
            continue; /* another node was faster */
        log_warn("delivery: job %lld: its deliveries were owed by node %s, which is gone; "
                 "delivering them here",
                 (long long)o[i].job_id, o[i].owner ? o[i].owner : "(none)");
        redeliver(ns, o[i].job_id);
    }
    store_delivery_orphans_free(o, n);
}

static void recover_after(uv_work_t *w, int status)
{
    struct node_services *ns = w->data;
    (void)status;
    ns->recover_busy = false;
}

/* At start and on every heartbeat (job_queue.heartbeat_ms): one pass at a time. */
static void on_recover_timer(uv_timer_t *t)
{
    struct node_services *ns = t->data;
    if (ns->recover_busy || ns->phase != PH_RUNNING)
        return;
    ns->recover_busy = true;
    ns->recover_work.data = ns;
    uv_queue_work(ns->loop, &ns->recover_work, recover_work, recover_after);
}

struct status_write {
    uv_work_t work;
    struct node_services *ns;
    const char *status;
};

static void status_write_work(uv_work_t *w)
{
    struct status_write *sw = w->data;
    struct node_services *ns = sw->ns;
    json_t *row = NULL;
    struct err err = {0};
    int rc = store_get_by(ns->store, STORE_NODES, "nodeId", ns->node_id, &row, &err);
    if (rc == 0) {
        json_t *f = json_pack("{s:s}", "status", sw->status);
        rc = store_update(ns->store, STORE_NODES,
                          (int64_t)json_integer_value(json_object_get(row, "id")), f, NULL, &err);
        json_decref(f);
    }
    if (rc < 0)
        log_debug("delivery: cannot record node %s as %s: %s", ns->node_id, sw->status, err.msg);
    json_decref(row);
}

static void status_write_after(uv_work_t *w, int status)
{
    struct status_write *sw = w->data;
    (void)status;
    sw->ns->status_writes--;
    free(sw);
}

/* Records the node row's status (draining while deliveries finish, then stopped). The writes
 * go in order: one thread-pool item at a time would be stricter, but the second is only
 * queued once the drain ended, long after the first. */
static void write_node_status(struct node_services *ns, const char *status)
{
    struct status_write *sw = xcalloc(1, sizeof(*sw));
    sw->ns = ns;
    sw->status = status;
    sw->work.data = sw;
    ns->status_writes++;
    uv_queue_work(ns->loop, &sw->work, status_write_work, status_write_after);
}

/* ---- scheduler events ---- */

static void leader_write_work(uv_work_t *w)
{
    struct node_services *ns = w->data;
    json_t *row = NULL;
    struct err err = {0};
    int rc = store_get_by(ns->store, STORE_NODES, "nodeId", ns->node_id, &row, &err);
    if (rc == 0) {
        json_t *f = json_pack("{s:b}", "isScheduler", ns->leader_value);
        rc = store_update(ns->store, STORE_NODES,
                          (int64_t)json_integer_value(json_object_get(row, "id")), f, NULL, &err);
        json_decref(f);
    }
    if (rc < 0)
        log_debug("scheduler: cannot record node %s as %s: %s", ns->node_id,
                  ns->leader_value ? "the scheduler" : "not the scheduler", err.msg);
    json_decref(row);
}

static void leader_write_next(struct node_services *ns);

static void leader_write_after(uv_work_t *w, int status)
{
    struct node_services *ns = w->data;
    ns->leader_busy = false;
    ns->leader_written = ns->leader_value;
    leader_write_next(ns);
}

static void leader_write_next(struct node_services *ns)
{
    if (ns->leader_busy || ns->leader_wanted < 0 || ns->leader_wanted == ns->leader_written)
        return;
    ns->leader_busy = true;
    ns->leader_value = ns->leader_wanted;
    ns->leader_work.data = ns;
    uv_queue_work(ns->loop, &ns->leader_work, leader_write_work, leader_write_after);
}

static const char *const event_names[] = {
    [SCHEDULER_FIRED] = "FIRED",         [SCHEDULER_MISSED] = "MISSED",
    [SCHEDULER_EXHAUSTED] = "EXHAUSTED", [SCHEDULER_ENDED] = "ENDED",
    [SCHEDULER_BROKEN] = "BROKEN",       [SCHEDULER_LEADER] = "LEADER",
    [SCHEDULER_FOLLOWER] = "FOLLOWER",
};

static json_t *time_json(int64_t ms)
{
    char ts[40];
    return ms ? json_string(time_format_rfc3339_ms(ms, ts, sizeof(ts))) : json_null();
}

static void publish_schedule_event(struct node_services *ns, const struct scheduler_event *ev)
{
    if (!event_bus_active(ns->bus))
        return;
    const char *kind = event_names[ev->kind];
    json_t *data = json_pack("{s:I, s:s, s:o, s:o, s:b}", "scheduleId", (json_int_t)ev->schedule_id,
                             "event", kind, "fireTime", time_json(ev->fire_time), "nextRun",
                             time_json(ev->next_run_at), "catchUp", ev->catch_up);
    if (ev->kind == SCHEDULER_FIRED) {
        json_object_set_new(data, "jobId", json_integer(ev->job_id));
        json_object_set_new(data, "jobUuid",
                            ev->job_uuid ? json_string(ev->job_uuid) : json_null());
    }
    if (ev->message)
        json_object_set_new(data, "message", json_string(ev->message));
    struct event e = {EVENT_SCHEDULE, ev->schedule_id, kind, data, time_now_ms()};
    event_bus_publish(ns->bus, &e);
    json_decref(data);
}

static void on_scheduler_event(void *ud, const struct scheduler_event *ev)
{
    struct node_services *ns = ud;
    switch (ev->kind) {
    case SCHEDULER_FIRED:
        /* this node may run it at once; other nodes hear the store's notification */
        dispatcher_wake(ns->dispatcher);
        break;
    case SCHEDULER_LEADER:
    case SCHEDULER_FOLLOWER:
        /* (the scheduler logs it) */
        ns->leader_wanted = ev->kind == SCHEDULER_LEADER;
        leader_write_next(ns);
        return; /* not about a schedule: nothing on the bus */
    default:
        break;
    }
    publish_schedule_event(ns, ev);
}

/* ---- lifecycle ---- */

int node_services_new(const struct node_services_options *opt, struct node_services **out,
                      struct err *err)
{
    *out = NULL;
    if (!opt || !opt->loop || !opt->store || !opt->cfg || !opt->dispatcher)
        return err_set(err, E_INTERNAL, "node services need a loop, store, config and dispatcher");
    struct node_services *ns = xcalloc(1, sizeof(*ns));
    ns->loop = opt->loop;
    ns->store = opt->store;
    ns->cfg = opt->cfg;
    ns->dispatcher = opt->dispatcher;
    ns->bus = opt->bus;
    ns->node_id = xstrdup(opt->node_id ? opt->node_id : dispatcher_node_id(opt->dispatcher));
    ns->zones = tz_db_new(NULL);
    ns->leader_wanted = -1;
    ns->leader_written = 0; /* a node row starts with isScheduler false */
    struct delivery_options dopt = {
        .store = opt->store,
        .cfg = opt->cfg,
        .metrics = opt->metrics,
        .file_base_dir = opt->cfg->output.file_base_dir,
        .on_settled = on_settled,
        .ud = ns,
    };
    int rc = delivery_new(opt->loop, &dopt, &ns->delivery, err);
    if (rc < 0) {
        ns->delivery_drained = true; /* nothing to drain */
        node_services_free(ns);
        return rc;
    }
    if (opt->cfg->scheduler.enabled) {
        struct scheduler_options so = {
            .store = opt->store,
            .zones = ns->zones,
            .metrics = opt->metrics,
            .node_id = ns->node_id,
            .on_event = on_scheduler_event,
            .ud = ns,
        };
        rc = scheduler_new(opt->loop, &so, &ns->scheduler, err);
        if (rc < 0) {
            err_prefix(err, "cannot start the scheduler");
            node_services_free(ns);
            return rc;
        }
    }
    dispatcher_on_job_done(opt->dispatcher, on_job_done, ns);
    uv_timer_init(opt->loop, &ns->recover_timer);
    ns->recover_timer.data = ns;
    ns->recover_timer_open = true;
    *out = ns;
    return 0;
}

struct tz_db *node_services_zones(struct node_services *ns)
{
    return ns ? ns->zones : NULL;
}

struct scheduler *node_services_scheduler(struct node_services *ns)
{
    return ns ? ns->scheduler : NULL;
}

struct delivery *node_services_delivery(struct node_services *ns)
{
    return ns ? ns->delivery : NULL;
}

int node_services_start(struct node_services *ns, struct err *err)
{
    int64_t every = ns->cfg->job_queue.heartbeat_ms > 0 ? ns->cfg->job_queue.heartbeat_ms : 1000;
    uv_timer_start(&ns->recover_timer, on_recover_timer, 0, (uint64_t)every);
    if (!ns->scheduler)
        return 0;
    int rc = scheduler_start(ns->scheduler, err);
    if (rc == 0)
        ns->scheduler_started = true;
    return rc;
}

static void delivery_drained(void *ud)
{
    struct node_services *ns = ud;
    ns->delivery_drained = true;
    ns->phase = PH_DONE;
    if (ns->freeing)
        return;
    if (ns->drain_marked)
        write_node_status(ns, "stopped"); /* what is still owed is adopted from now on */
    log_info("node: deliveries drained");
    if (ns->done) {
        void (*done)(void *) = ns->done;
        ns->done = NULL;
        done(ns->done_ud);
    }
}

static void maybe_drain_delivery(struct node_services *ns)
{
    if (ns->lookups > 0 || ns->freeing)
        return;
    ns->phase = PH_DELIVERY;
    struct delivery_stats st;
    delivery_get_stats(ns->delivery, &st);
    if (st.pending) {
        log_info("node: %lld deliveries still pending; they get up to %lld ms",
                 (long long)st.pending, (long long)ns->grace_ms);
        /* the dispatcher recorded this node stopped: while its deliveries finish, say it is
         * draining, so other nodes do not adopt them meanwhile */
        if (ns->grace_ms > 0) {
            ns->drain_marked = true;
            write_node_status(ns, "draining");
        }
    }
    delivery_drain(ns->delivery, ns->grace_ms, delivery_drained, ns);
}

static void dispatcher_drained(void *ud)
{
    struct node_services *ns = ud;
    if (ns->freeing)
        return;
    ns->phase = PH_LOOKUPS;
    maybe_drain_delivery(ns);
}

static void scheduler_stopped(void *ud)
{
    struct node_services *ns = ud;
    ns->scheduler_stopped = true;
    if (ns->freeing)
        return;
    ns->phase = PH_DISPATCHER;
    dispatcher_drain(ns->dispatcher, ns->grace_ms, dispatcher_drained, ns);
}

void node_services_shutdown(struct node_services *ns, int64_t grace_ms, void (*done)(void *ud),
                            void *ud)
{
    if (ns->phase != PH_RUNNING) {
        /* again: no more waiting */
        ns->grace_ms = 0;
        if (ns->phase == PH_DISPATCHER)
            dispatcher_drain(ns->dispatcher, 0, dispatcher_drained, ns);
        else if (ns->phase == PH_DELIVERY)
            delivery_drain(ns->delivery, 0, delivery_drained, ns);
        return;
    }
    ns->grace_ms = grace_ms;
    ns->done = done;
    ns->done_ud = ud;
    ns->phase = PH_SCHEDULER;
    uv_timer_stop(&ns->recover_timer);
    if (ns->scheduler && ns->scheduler_started)
        scheduler_stop(ns->scheduler, scheduler_stopped, ns);
    else
        scheduler_stopped(ns);
}

static void recover_timer_closed(uv_handle_t *h)
{
    struct node_services *ns = h->data;
    ns->recover_timer_open = false;
}

void node_services_free(struct node_services *ns)
{
    if (!ns)
        return;
    /* What never stopped stops now, without grace (the dispatcher is gone by now). */
    ns->freeing = true;
    ns->done = NULL;
    if (ns->scheduler && ns->scheduler_started && !ns->scheduler_stopped) {
        if (ns->phase == PH_RUNNING)
            scheduler_stop(ns->scheduler, scheduler_stopped, ns);
        while (!ns->scheduler_stopped)
            uv_run(ns->loop, UV_RUN_ONCE);
    }
    if (ns->recover_timer_open)
        uv_timer_stop(&ns->recover_timer);
    while (ns->lookups > 0 || ns->leader_busy || ns->recover_busy)
        uv_run(ns->loop, UV_RUN_ONCE);
    if (ns->delivery && !ns->delivery_drained) {
        delivery_drain(ns->delivery, 0, delivery_drained, ns);
        while (!ns->delivery_drained)
            uv_run(ns->loop, UV_RUN_ONCE);
    }
    while (ns->settles > 0 || ns->status_writes > 0)
        uv_run(ns->loop, UV_RUN_ONCE);
    if (ns->recover_timer_open) {
        uv_close((uv_handle_t *)&ns->recover_timer, recover_timer_closed);
        while (ns->recover_timer_open)
            uv_run(ns->loop, UV_RUN_ONCE);
    }
    scheduler_free(ns->scheduler);
    delivery_free(ns->delivery);
    tz_db_free(ns->zones);
    free(ns->node_id);
    free(ns);
}

/* "a/./b/../c" -> "a/c" (lexically, on an absolute path). */
static char *normalize_path(const char *abs)
{
    size_t n = strlen(abs);
    char *out = xmalloc(n + 2);
    size_t o = 0;
    const char *p = abs;
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = p;
        while (*end && *end != '/')
            end++;
        size_t len = (size_t)(end - p);
        if (len == 0)
            break;
        if (len == 1 && p[0] == '.') {
            /* skip */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p = end;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

int node_services_base_dir(struct config *cfg, struct err *err)
{
    const char *dir = cfg->output.file_base_dir;
    if (!dir || !*dir)
        return 0; /* paths as given */
    struct strbuf sb = STRBUF_INIT;
    if (dir[0] != '/') {
        char *cwd = getcwd(NULL, 0);
        if (!cwd)
            return err_set(err, E_IO, "output.file_base_dir: cannot read the working directory");
        strbuf_addf(&sb, "%s/%s", cwd, dir);
        free(cwd);
    } else {
        strbuf_adds(&sb, dir);
    }
    char *abs = normalize_path(sb.buf);
    strbuf_release(&sb);
    free(cfg->output.file_base_dir);
    cfg->output.file_base_dir = abs;
    return 0;
}
