/*
 * Output delivery, the service core (delivery.h): turns a completed job into one item per
 * destination, runs items with bounded concurrency on the loop (webhooks) and the thread pool
 * (files, stdio), schedules webhook retries, records every attempt in delivery_results
 * (written in batches on the thread pool), and drains on shutdown.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "queue/delivery_internal.h"
#include "store/store.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"
#include "util/utf8.h"
#include "util/uuid.h"
#include "util/xalloc.h"

/* ---- jobs and items ---- */

static void dl_job_unref(struct dl_job *j)
{
    if (!j || --j->refs > 0)
        return;
    free(j->job_uuid);
    free(j->task_uuid);
    free(j->task_name);
    free(j->task_version);
    free(j->execution_uuid);
    json_decref(j->output);
    free(j);
}

static struct dl_job *dl_job_new(const struct delivery_job *src, json_t *output)
{
    struct dl_job *j = xcalloc(1, sizeof(*j));
    j->job_id = src->job_id;
    j->task_id = src->task_id;
    j->execution_id = src->execution_id;
    j->schedule_id = src->schedule_id;
    j->started_at = src->started_at;
    j->completed_at = src->completed_at ? src->completed_at : time_now_ms();
    j->duration_ms = src->duration_ms >= 0 ? src->duration_ms
                     : src->started_at     ? j->completed_at - src->started_at
                                           : 0;
    j->created_at = time_now_ms();
    j->job_uuid = xstrdup(src->job_uuid);
    j->task_uuid = xstrdup(src->task_uuid);
    j->task_name = xstrdup(src->task_name);
    j->task_version = xstrdup(src->task_version);
    j->execution_uuid = xstrdup(src->execution_uuid);
    j->output = output;
    return j;
}

static void item_free(struct dl_item *it)
{
    dest_release(&it->dest);
    dl_job_unref(it->job);
    json_decref(it->work_out.info);
    free(it->work_out.error);
    free(it);
}

/* An item for dest (moved in) of job j; attempts numbered from first_attempt. */
static struct dl_item *item_new(struct dl_job *j, struct dest *dest, int index, int first_attempt,
                                const char *delivery_id)
{
    struct dl_item *it = xcalloc(1, sizeof(*it));
    it->job = j;
    j->refs++;
    j->open++;
    it->dest = *dest;
    memset(dest, 0, sizeof(*dest));
    it->index = index;
    it->attempt = first_attempt - 1;
    int attempts = it->dest.type == DEST_WEBHOOK ? it->dest.webhook.retry.max_attempts : 1;
    it->last_attempt = first_attempt - 1 + (attempts > 0 ? attempts : 1);
    if (delivery_id && uuid_is_valid(delivery_id))
        snprintf(it->delivery_id, sizeof(it->delivery_id), "%s", delivery_id);
    else
        uuid_v4(it->delivery_id);
    it->work_out.retry_after_ms = -1;
    return it;
}

/* ---- records ---- */

struct rec_parts {
    int64_t job_id, execution_id;
    int index;
    const char *type;
    int attempt;
    bool success;
    int status_code;
    int64_t duration_ms, size_bytes;
    const char *error;
    json_t *info; /* stolen */
};

static json_t *record_new(const struct rec_parts *p)
{
    json_t *r = json_object();
    json_object_set_new(r, "jobId", json_integer(p->job_id));
    if (p->execution_id > 0)
        json_object_set_new(r, "executionId", json_integer(p->execution_id));
    json_object_set_new(r, "destinationIndex", json_integer(p->index));
    json_object_set_new(r, "destinationType", json_string(p->type));
    json_object_set_new(r, "attempt", json_integer(p->attempt));
    json_object_set_new(r, "success", json_boolean(p->success));
    if (p->status_code > 0)
        json_object_set_new(r, "statusCode", json_integer(p->status_code));
    json_object_set_new(r, "durationMs", json_integer(p->duration_ms));
    json_object_set_new(r, "sizeBytes", json_integer(p->size_bytes));
    if (p->error) {
        struct strbuf sb = STRBUF_INIT;
        size_t n = strnlen(p->error, 2000);
        utf8_sanitize(&sb, p->error, n);
        json_object_set_new(r, "errorMessage", json_stringn(sb.buf, sb.len));
        strbuf_release(&sb);
    }
    if (p->info)
        json_object_set_new(r, "responseInfo", p->info);
    return r;
}

/* A failed record without an attempt having run (bad destination, queue full, shutdown). */
static json_t *record_refusal(const struct dl_job *j, int index, const char *type, int attempt,
                              const char *delivery_id, const char *error)
{
    json_t *info = delivery_id ? json_pack("{s:s, s:b}", "deliveryId", delivery_id, "attempted", 0)
                               : json_pack("{s:b}", "attempted", 0);
    struct rec_parts p = {j->job_id, j->execution_id, index, type, attempt, false, 0, 0,
                          0,         error,           info};
    return record_new(&p);
}

static json_t *item_refusal(const struct dl_item *it, const char *error)
{
    return record_refusal(it->job, it->index, dest_type_name(it->dest.type), it->attempt + 1,
                          it->delivery_id, error);
}

static void flush_cb(uv_work_t *w)
{
    struct delivery *d = w->data;
    for (size_t i = 0; i < d->flushing.n; i++) {
        struct err err = {0};
        int rc = store_create(d->opt.store, STORE_DELIVERIES, d->flushing.v[i], NULL, &err);
        if (rc == -E_NOT_FOUND)
            log_debug("delivery: not recorded (the job is gone): %s", err.msg);
        else if (rc < 0)
            log_warn("delivery: cannot record a delivery attempt: %s", err.msg);
    }
}

static void maybe_finish(struct delivery *d);

static void flush(struct delivery *d);

static void flush_after(uv_work_t *w, int status)
{
    struct delivery *d = w->data;
    (void)status;
    for (size_t i = 0; i < d->flushing.n; i++)
        json_decref(d->flushing.v[i]);
    d->flushing.n = 0;
    d->flush_busy = false;
    flush(d);
    maybe_finish(d);
}

/* Writes pending records on the thread pool, one batch at a time. */
static void flush(struct delivery *d)
{
    if (d->flush_busy || d->records.n == 0)
        return;
    for (size_t i = 0; i < d->records.n; i++)
        vec_push(&d->flushing, d->records.v[i]);
    d->records.n = 0;
    d->flush_busy = true;
    d->flush_work.data = d;
    uv_queue_work(d->loop, &d->flush_work, flush_cb, flush_after);
}

/* ---- running items ---- */

static void start(struct delivery *d, struct dl_item *it);

/* A tracked job's item ended: final (delivered or failed for good) or stopped by a drain. */
static void item_settle(struct delivery *d, struct dl_item *it, bool final)
{
    struct dl_job *j = it->job;
    if (!j->track)
        return;
    if (!final)
        j->abandoned = true;
    if (--j->open == 0 && !j->abandoned && d->opt.on_settled)
        d->opt.on_settled(d->opt.ud, j->job_id);
}

static void item_done(struct delivery *d, struct dl_item *it, bool success, bool final)
{
    item_settle(d, it, final);
    pthread_mutex_lock(&d->mu);
    d->live--;
    d->stats.pending = (int64_t)d->live;
    if (success)
        d->stats.delivered++;
    else
        d->stats.failed++;
    size_t live = d->live;
    pthread_mutex_unlock(&d->mu);
    metric_gauge_set(d->m_pending, (double)live);
    item_free(it);
}

static void push_ready(struct delivery *d, struct dl_item *it)
{
    it->state = DL_READY;
    it->next = NULL;
    if (d->ready_tail)
        d->ready_tail->next = it;
    else
        d->ready = it;
    d->ready_tail = it;
}

static void pump(struct delivery *d)
{
    while (!d->hard_stop && d->ready && d->running < d->max_running) {
        struct dl_item *it = d->ready;
        d->ready = it->next;
        if (!d->ready)
            d->ready_tail = NULL;
        it->next = NULL;
        start(d, it);
    }
}

static void local_work(uv_work_t *w)
{
    struct dl_item *it = w->data;
    struct delivery *d = it->d;
    struct dl_outcome *out = &it->work_out;
    struct err err = {0};
    if (it->dest.type == DEST_FILE) {
        struct file_result res;
        int rc = file_deliver(&it->dest.file, it->job, it->delivery_id, d->base_dir, d->env,
                              d->hostname, &res, &err);
        out->success = rc == 0;
        out->size_bytes = res.size_bytes;
        out->info = json_pack("{s:s, s:s?}", "deliveryId", it->delivery_id, "path", res.path);
        if (rc < 0)
            out->error = xstrdup(err.msg);
        free(res.path);
        return;
    }
    size_t len = 0;
    char *line = stdio_line(&it->dest.stdio, it->job, it->delivery_id, &len);
    int fd = it->dest.stdio.to_stderr ? d->opt.stderr_fd : d->opt.stdout_fd;
    pthread_mutex_lock(&d->io_mu);
    ssize_t done = 0;
    const char *p = line;
    size_t left = len;
    while (left > 0) {
        done = write(fd, p, left);
        if (done < 0 && errno == EINTR)
            continue;
        if (done < 0)
            break;
        p += done;
        left -= (size_t)done;
    }
    pthread_mutex_unlock(&d->io_mu);
    out->success = left == 0;
    out->size_bytes = (int64_t)(len - left);
    if (!out->success)
        out->error = xasprintf("cannot write to %s: %s",
                               it->dest.stdio.to_stderr ? "stderr" : "stdout", strerror(errno));
    out->info = json_pack("{s:s, s:s}", "deliveryId", it->delivery_id, "stream",
                          it->dest.stdio.to_stderr ? "stderr" : "stdout");
    free(line);
}

static void local_after(uv_work_t *w, int status)
{
    struct dl_item *it = w->data;
    struct delivery *d = it->d;
    (void)status;
    struct dl_outcome out = it->work_out;
    memset(&it->work_out, 0, sizeof(it->work_out));
    dl_attempt_done(d, it, &out);
}

static void nothing(uv_work_t *w)
{
    (void)w;
}

void dl_attempt_done_later(struct delivery *d, struct dl_item *it)
{
    it->work.data = it;
    uv_queue_work(d->loop, &it->work, nothing, local_after);
}

static void start(struct delivery *d, struct dl_item *it)
{
    it->d = d;
    it->state = DL_RUNNING;
    it->attempt++;
    it->made++;
    it->started_us = time_mono_ns() / 1000;
    d->running++;
    pthread_mutex_lock(&d->mu);
    d->stats.running = (int64_t)d->running;
    d->stats.attempts++;
    pthread_mutex_unlock(&d->mu);
    if (it->dest.type == DEST_WEBHOOK) {
        webhook_start(d, it);
        return;
    }
    memset(&it->work_out, 0, sizeof(it->work_out));
    it->work_out.retry_after_ms = -1;
    it->work.data = it;
    uv_queue_work(d->loop, &it->work, local_work, local_after);
}

/* The delay before the next attempt of it (after it->made attempts). */
static int64_t backoff_ms(const struct dl_item *it, int64_t retry_after_ms)
{
    if (retry_after_ms >= 0)
        return retry_after_ms < DELIVERY_RETRY_AFTER_MAX_MS ? retry_after_ms
                                                            : DELIVERY_RETRY_AFTER_MAX_MS;
    const struct dest_retry *r = &it->dest.webhook.retry;
    double delay = (double)r->initial_delay_ms * pow(r->multiplier, it->made - 1);
    if (delay > (double)r->max_delay_ms)
        delay = (double)r->max_delay_ms;
    delay *= 0.9 + 0.2 * (double)(random_u64() % 1000) / 1000.0; /* +-10% jitter */
    if (delay > (double)r->max_delay_ms)
        delay = (double)r->max_delay_ms;
    return (int64_t)delay;
}

static void on_retry_timer(uv_timer_t *t);

static void arm_retry_timer(struct delivery *d)
{
    int64_t first = 0;
    for (struct dl_item *w = d->waiting; w; w = w->next)
        if (!first || w->due_ms < first)
            first = w->due_ms;
    if (!first) {
        uv_timer_stop(&d->retry_timer);
        return;
    }
    int64_t delay = first - time_mono_ms();
    uv_update_time(d->loop);
    uv_timer_start(&d->retry_timer, on_retry_timer, (uint64_t)(delay > 0 ? delay : 0), 0);
}

static void on_retry_timer(uv_timer_t *t)
{
    struct delivery *d = t->data;
    int64_t now = time_mono_ms();
    struct dl_item **pp = &d->waiting;
    while (*pp) {
        struct dl_item *it = *pp;
        if (it->due_ms <= now) {
            *pp = it->next;
            push_ready(d, it);
        } else {
            pp = &it->next;
        }
    }
    arm_retry_timer(d);
    pump(d);
}

void dl_attempt_done(struct delivery *d, struct dl_item *it, struct dl_outcome *out)
{
    d->running--;
    int64_t took_us = time_mono_ns() / 1000 - it->started_us;
    const char *type = dest_type_name(it->dest.type);
    bool retry = !out->success && out->retryable && it->attempt < it->last_attempt && !d->hard_stop;
    if (!out->info)
        out->info = json_object();
    json_object_set_new(out->info, "retryable", json_boolean(!out->success && out->retryable));
    if (retry) {
        int64_t delay = backoff_ms(it, out->retry_after_ms);
        it->due_ms = time_mono_ms() + delay;
        char when[40];
        json_object_set_new(
            out->info, "nextAttemptAt",
            json_string(time_format_rfc3339_ms(time_now_ms() + delay, when, sizeof(when))));
    }
    struct rec_parts p = {it->job->job_id,  it->job->execution_id,
                          it->index,        type,
                          it->attempt,      out->success,
                          out->status_code, took_us / 1000,
                          out->size_bytes,  out->error,
                          out->info};
    out->info = NULL;
    if (!d->closing)
        vec_push(&d->records, record_new(&p));
    else
        json_decref(p.info);
    metric_counter_inc(metric_with(d->m_total, type,
                                   out->success ? "success"
                                   : retry      ? "retry"
                                                : "failure",
                                   NULL));
    metric_histogram_observe(metric_with(d->m_seconds, type, NULL), (double)took_us / 1e6);
    if (!out->success)
        log_fields(
            retry ? LOG_DEBUG : LOG_WARN,
            (struct log_field[]){LF_NUM("job_id", it->job->job_id),
                                 LF_NUM("destination", it->index), LF_NUM("attempt", it->attempt)},
            3, "delivery: %s delivery of job %lld failed%s: %s", type, (long long)it->job->job_id,
            retry ? " (will retry)" : "", out->error ? out->error : "?");
    pthread_mutex_lock(&d->mu);
    d->stats.running = (int64_t)d->running;
    pthread_mutex_unlock(&d->mu);
    if (d->opt.on_result) {
        struct delivery_result r = {it->job->job_id,  it->index,    type,
                                    it->attempt,      out->success, retry,
                                    out->status_code, out->error};
        d->opt.on_result(d->opt.ud, &r);
    }
    free(out->error);
    out->error = NULL;
    if (retry) {
        it->state = DL_WAITING;
        it->next = d->waiting;
        d->waiting = it;
        arm_retry_timer(d);
    } else {
        /* during a hard stop a failure may be the cancellation itself: not final */
        item_done(d, it, out->success, out->success || !d->hard_stop);
    }
    pump(d);
    flush(d);
    maybe_finish(d);
}

/* ---- taking work in ---- */

/* Appends items (a list) and records to the loop's queues. Loop thread. */
static void take(struct delivery *d, struct dl_item *items, json_t **records, size_t nrec)
{
    while (items) {
        struct dl_item *next = items->next;
        push_ready(d, items);
        items = next;
    }
    for (size_t i = 0; i < nrec; i++) {
        if (d->closing)
            json_decref(records[i]);
        else
            vec_push(&d->records, records[i]);
    }
    pump(d);
    flush(d);
}

static void on_async(uv_async_t *a)
{
    struct delivery *d = a->data;
    pthread_mutex_lock(&d->mu);
    struct dl_item *items = d->inbox;
    d->inbox = d->inbox_tail = NULL;
    json_t **recs = d->inbox_records.v;
    size_t nrec = d->inbox_records.n;
    d->inbox_records.v = NULL;
    d->inbox_records.n = d->inbox_records.cap = 0;
    int64_t *settled = d->inbox_settled.v;
    size_t nsettled = d->inbox_settled.n;
    d->inbox_settled.v = NULL;
    d->inbox_settled.n = d->inbox_settled.cap = 0;
    pthread_mutex_unlock(&d->mu);
    take(d, items, recs, nrec);
    free(recs);
    for (size_t i = 0; i < nsettled && d->opt.on_settled; i++)
        d->opt.on_settled(d->opt.ud, settled[i]);
    free(settled);
    maybe_finish(d);
}

/* Queues items (a list of n) and records, or refuses the items (recorded) when the queue is
 * full or closed. Any thread. */
static int enqueue(struct delivery *d, struct dl_item *items, size_t n, json_t **records,
                   size_t nrec, int64_t settled_job, struct err *err)
{
    int rc = 0;
    VEC(json_t *) all = {0};
    for (size_t i = 0; i < nrec; i++)
        vec_push(&all, records[i]);
    pthread_mutex_lock(&d->mu);
    if (n > 0 && !d->accepting) {
        rc = err_set(err, E_UNAVAILABLE, "the delivery service is shutting down");
    } else if (n > 0 && d->live + n > d->max_queue) {
        rc = err_set(err, E_BUSY, "the delivery queue is full (%zu deliveries pending)", d->live);
    }
    if (rc < 0) {
        char *why = xasprintf("not delivered: %s", err ? err->msg : "refused");
        while (items) {
            struct dl_item *next = items->next;
            vec_push(&all, item_refusal(items, why));
            item_free(items);
            items = next;
            d->stats.failed++;
        }
        free(why);
        n = 0;
    }
    d->live += n;
    d->stats.pending = (int64_t)d->live;
    size_t live = d->live;
    bool here = pthread_equal(pthread_self(), d->loop_thread) && !d->closing;
    if (!here && !d->closing) {
        for (struct dl_item *it = items; it;) {
            struct dl_item *next = it->next;
            it->next = NULL;
            if (d->inbox_tail)
                d->inbox_tail->next = it;
            else
                d->inbox = it;
            d->inbox_tail = it;
            it = next;
        }
        for (size_t i = 0; i < all.n; i++)
            vec_push(&d->inbox_records, all.v[i]);
        all.n = 0;
        if (settled_job && rc == 0)
            vec_push(&d->inbox_settled, settled_job);
        uv_async_send(&d->async);
    }
    pthread_mutex_unlock(&d->mu);
    metric_gauge_set(d->m_pending, (double)live);
    if (here) {
        take(d, items, all.v, all.n);
        all.n = 0;
        if (settled_job && rc == 0 && d->opt.on_settled)
            d->opt.on_settled(d->opt.ud, settled_job);
    }
    for (size_t i = 0; i < all.n; i++) { /* closed: nowhere to record them */
        log_warn("delivery: not recorded (the delivery service is closed): %s",
                 jsonx_str(all.v[i], "errorMessage"));
        json_decref(all.v[i]);
    }
    vec_free(&all);
    return rc;
}

/* "null", "[]" or nothing: no destinations of the job's own. */
static bool no_destinations(const char *s)
{
    if (!s)
        return true;
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    if (strcmp(s, "null") == 0 || !*s)
        return true;
    if (*s != '[')
        return false;
    s++;
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    return *s == ']';
}

bool delivery_owed(const char *destinations_json, const struct config *cfg)
{
    return !no_destinations(destinations_json) || (cfg && cfg->output.global_destinations.n > 0);
}

int delivery_submit(struct delivery *d, const struct delivery_job *job, struct err *err)
{
    json_t *dests = NULL;
    size_t ndest = 0, nglob = d->cfg->output.global_destinations.n;
    VEC(json_t *) recs = {0};
    bool dests_bad = false;
    if (job->destinations_json && *job->destinations_json) {
        struct err perr = {0};
        if (jsonx_parse(job->destinations_json, strlen(job->destinations_json), &dests, &perr) <
                0 ||
            (!json_is_array(dests) && !json_is_null(dests)))
            dests_bad = true;
        else
            ndest = json_array_size(dests);
    }
    if (ndest == 0 && nglob == 0 && !dests_bad) {
        json_decref(dests);
        /* owed when completed, nothing to deliver now (global destinations were removed) */
        return job->track ? enqueue(d, NULL, 0, NULL, 0, job->job_id, err) : 0;
    }
    json_t *output = NULL;
    struct err oerr = {0};
    bool output_bad = !job->output_json || strlen(job->output_json) > DELIVERY_BODY_MAX ||
                      jsonx_parse(job->output_json, strlen(job->output_json), &output, &oerr) < 0;
    struct dl_job *j = dl_job_new(job, output ? output : json_null());
    j->refs = 1;
    j->track = job->track;
    if (dests_bad)
        vec_push(&recs, record_refusal(j, 0, "unknown", 1, NULL,
                                       "not delivered: the job's outputDestinations is not a JSON "
                                       "array"));
    struct dl_item *items = NULL, **tail = &items;
    size_t n = 0;
    for (size_t i = 0; i < ndest + nglob; i++) {
        const struct delivery_prior *prior = job->prior && i < job->nprior ? &job->prior[i] : NULL;
        if (prior && prior->delivered)
            continue; /* recovery: this one already got through */
        int first = prior ? prior->last_attempt + 1 : 1;
        const json_t *v = i < ndest ? json_array_get(dests, i)
                                    : d->cfg->output.global_destinations.v[i - ndest].destination;
        char where[80];
        if (i < ndest)
            snprintf(where, sizeof(where), "outputDestinations[%zu]", i);
        else
            snprintf(where, sizeof(where), "output.global_destinations[%zu]", i - ndest);
        struct dest dest;
        struct err derr = {0};
        if (output_bad) {
            char *why = xasprintf("not delivered: the output is not deliverable JSON (%s)",
                                  job->output_json ? oerr.msg : "none");
            vec_push(&recs, record_refusal(j, (int)i, dest_type_guess(v), first, NULL, why));
            free(why);
            continue;
        }
        if (dest_parse(v, d->cfg, where, &dest, &derr) < 0) {
            char *why = xasprintf("not delivered: invalid destination: %s", derr.msg);
            vec_push(&recs, record_refusal(j, (int)i, dest_type_guess(v), first, NULL, why));
            free(why);
            continue;
        }
        *tail = item_new(j, &dest, (int)i, first, prior ? prior->delivery_id : NULL);
        tail = &(*tail)->next;
        n++;
    }
    json_decref(dests);
    /* a tracked job with nothing to attempt is settled at once */
    int rc = enqueue(d, items, n, recs.v, recs.n, job->track && n == 0 ? job->job_id : 0, err);
    vec_free(&recs);
    dl_job_unref(j);
    return rc;
}

/* ---- retry by hand ---- */

static int64_t row_i(const json_t *row, const char *key)
{
    json_t *v = json_object_get(row, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static int64_t row_t(const json_t *row, const char *key)
{
    int64_t ms = 0;
    const char *s = jsonx_str(row, key);
    if (s)
        time_parse_rfc3339(s, &ms);
    return ms;
}

/* The last attempt number recorded for (job, destination index). */
static int last_attempt(struct delivery *d, int64_t job_id, int index, struct err *err)
{
    json_t *jv = json_integer(job_id), *iv = json_integer(index);
    struct store_filter f[] = {{"jobId", STORE_EQ, jv}, {"destinationIndex", STORE_EQ, iv}};
    struct store_sort so[] = {{"attempt", true}};
    struct store_query q = {.filters = f, .nfilters = 2, .sorts = so, .nsorts = 1, .limit = 1};
    json_t *rows = NULL;
    int rc = store_list(d->opt.store, STORE_DELIVERIES, &q, &rows, NULL, err);
    json_decref(jv);
    json_decref(iv);
    if (rc < 0)
        return rc;
    int last = (int)row_i(json_array_get(rows, 0), "attempt");
    json_decref(rows);
    return last;
}

int delivery_retry(struct delivery *d, int64_t id, struct err *err)
{
    json_t *rec = NULL, *job = NULL, *exec = NULL, *task = NULL;
    struct dl_job *j = NULL;
    struct dest dest;
    memset(&dest, 0, sizeof(dest));
    int rc = store_get(d->opt.store, STORE_DELIVERIES, id, &rec, err);
    if (rc < 0)
        goto out;
    int64_t job_id = row_i(rec, "jobId");
    int index = (int)row_i(rec, "destinationIndex");
    if ((rc = store_get(d->opt.store, STORE_JOBS, job_id, &job, err)) < 0)
        goto out;
    const char *status = jsonx_str(job, "status");
    if (!status || strcmp(status, "COMPLETED") != 0) {
        rc = err_set(err, E_CONFLICT, "job %lld is %s: only a completed job's output is delivered",
                     (long long)job_id, status ? status : "unknown");
        goto out;
    }
    int64_t exec_id = row_i(rec, "executionId");
    if (!exec_id)
        exec_id = row_i(job, "executionId");
    if ((rc = store_get(d->opt.store, STORE_EXECUTIONS, exec_id, &exec, err)) < 0)
        goto out;
    if ((rc = store_get(d->opt.store, STORE_TASKS, row_i(job, "taskId"), &task, err)) < 0)
        goto out;
    const json_t *dests = json_object_get(job, "outputDestinations");
    size_t ndest = json_is_array(dests) ? json_array_size(dests) : 0;
    const json_t *v = NULL;
    char where[80];
    if (index >= 0 && (size_t)index < ndest) {
        v = json_array_get(dests, (size_t)index);
        snprintf(where, sizeof(where), "outputDestinations[%d]", index);
    } else if (index >= 0 && (size_t)index - ndest < d->cfg->output.global_destinations.n) {
        v = d->cfg->output.global_destinations.v[(size_t)index - ndest].destination;
        snprintf(where, sizeof(where), "output.global_destinations[%zu]", (size_t)index - ndest);
    } else {
        rc = err_set(err, E_CONFLICT, "destination %d of job %lld no longer exists", index,
                     (long long)job_id);
        goto out;
    }
    struct err derr = {0};
    if (dest_parse(v, d->cfg, where, &dest, &derr) < 0) {
        rc = err_set(err, E_CONFLICT, "the destination no longer validates: %s", derr.msg);
        goto out;
    }
    int last = last_attempt(d, job_id, index, err);
    if (last < 0) {
        rc = last;
        goto out;
    }
    json_t *output = json_object_get(exec, "output");
    struct delivery_job src = {.job_id = job_id,
                               .job_uuid = jsonx_str(job, "uuid"),
                               .task_id = row_i(job, "taskId"),
                               .task_uuid = jsonx_str(task, "uuid"),
                               .task_name = jsonx_str(task, "name"),
                               .task_version = jsonx_str(exec, "taskVersion"),
                               .execution_id = exec_id,
                               .execution_uuid = jsonx_str(exec, "uuid"),
                               .schedule_id = row_i(job, "scheduleId"),
                               .started_at = row_t(exec, "startedAt"),
                               .completed_at = row_t(exec, "completedAt"),
                               .duration_ms = json_is_integer(json_object_get(exec, "durationMs"))
                                                  ? row_i(exec, "durationMs")
                                                  : -1};
    if (!src.task_version)
        src.task_version = jsonx_str(task, "version");
    j = dl_job_new(&src, output ? json_incref(output) : json_null());
    j->refs = 1;
    struct dl_item *it = item_new(j, &dest, index, last + 1,
                                  jsonx_str(json_object_get(rec, "responseInfo"), "deliveryId"));
    rc = enqueue(d, it, 1, NULL, 0, 0, err);
out:
    dest_release(&dest);
    dl_job_unref(j);
    json_decref(rec);
    json_decref(job);
    json_decref(exec);
    json_decref(task);
    return rc;
}

/* ---- lifecycle ---- */

static void call_done(struct delivery *d)
{
    if (d->drain_done) {
        void (*done)(void *) = d->drain_done;
        d->drain_done = NULL;
        done(d->drain_ud);
    }
}

void dl_handle_gone(struct delivery *d)
{
    if (--d->open_handles == 0 && d->closing)
        call_done(d);
}

void dl_handle_closed(uv_handle_t *h)
{
    dl_handle_gone(h->data);
}

/* Ends the drain once nothing is left: closes every handle, then calls done. */
static void maybe_finish(struct delivery *d)
{
    if (!d->draining || d->closing)
        return;
    pthread_mutex_lock(&d->mu);
    bool inbox = d->inbox || d->inbox_records.n;
    pthread_mutex_unlock(&d->mu);
    if (inbox || d->ready || d->waiting || d->running || d->records.n || d->flush_busy)
        return;
    d->closing = true;
    d->open_handles++; /* held while closing, so done comes after the last close */
    uv_close((uv_handle_t *)&d->async, dl_handle_closed);
    uv_close((uv_handle_t *)&d->retry_timer, dl_handle_closed);
    uv_close((uv_handle_t *)&d->drain_timer, dl_handle_closed);
    d->open_handles += 3;
    webhook_close(d);
    if (--d->open_handles == 0)
        call_done(d);
}

/* The drain's grace period is over: cancel what is left. */
static void hard_stop(struct delivery *d)
{
    d->hard_stop = true;
    while (d->ready || d->waiting) {
        struct dl_item *it = d->ready ? d->ready : d->waiting;
        if (it == d->ready) {
            d->ready = it->next;
            if (!d->ready)
                d->ready_tail = NULL;
        } else {
            d->waiting = it->next;
        }
        vec_push(&d->records,
                 item_refusal(it, "not delivered: the server stopped before this attempt; "
                                  "retry it by hand"));
        item_done(d, it, false, false);
    }
    uv_timer_stop(&d->retry_timer);
    webhook_cancel_all(d);
    flush(d);
    maybe_finish(d);
}

static void on_drain_timer(uv_timer_t *t)
{
    hard_stop(t->data);
}

void delivery_drain(struct delivery *d, int64_t grace_ms, void (*done)(void *ud), void *ud)
{
    pthread_mutex_lock(&d->mu);
    d->accepting = false;
    pthread_mutex_unlock(&d->mu);
    if (d->draining) {
        /* again with no grace (a second signal): the grace period ends now */
        if (grace_ms <= 0 && !d->hard_stop && !d->closing) {
            uv_timer_stop(&d->drain_timer);
            hard_stop(d);
        }
        return;
    }
    d->draining = true;
    d->drain_done = done;
    d->drain_ud = ud;
    on_async(&d->async); /* take what other threads queued */
    if (grace_ms <= 0) {
        hard_stop(d);
        return;
    }
    uv_timer_start(&d->drain_timer, on_drain_timer, (uint64_t)grace_ms, 0);
    maybe_finish(d);
}

int delivery_new(uv_loop_t *loop, const struct delivery_options *opt, struct delivery **out,
                 struct err *err)
{
    *out = NULL;
    if (!opt || !opt->store || !opt->cfg)
        return err_set(err, E_INVALID, "delivery: a store and a configuration are required");
    const struct config *cfg = opt->cfg;
    for (size_t i = 0; i < cfg->output.global_destinations.n; i++) {
        const struct config_destination *g = &cfg->output.global_destinations.v[i];
        char where[200];
        snprintf(where, sizeof(where), "output.global_destinations[%zu] (\"%.100s\").destination",
                 i, g->name ? g->name : "");
        struct dest dest;
        struct err derr = {0};
        if (dest_parse(g->destination, cfg, where, &dest, &derr) < 0)
            return err_set(err, E_CONFIG, "%s", derr.msg);
        dest_release(&dest);
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return err_set(err, E_INTERNAL, "delivery: curl_global_init failed");
    struct delivery *d = xcalloc(1, sizeof(*d));
    d->loop = loop;
    d->loop_thread = pthread_self();
    d->opt = *opt;
    d->cfg = cfg;
    d->base_dir = xstrdup(opt->file_base_dir);
    d->env = xstrdup(opt->environment ? opt->environment : "production");
    d->opt.file_base_dir = d->base_dir;
    d->opt.environment = d->env;
    if (d->opt.stdout_fd <= 0)
        d->opt.stdout_fd = 1;
    if (d->opt.stderr_fd <= 0)
        d->opt.stderr_fd = 2;
    size_t nres = 0;
    while (opt->resolve && opt->resolve[nres])
        nres++;
    d->resolve = xcalloc(nres + 1, sizeof(char *));
    for (size_t i = 0; i < nres; i++)
        d->resolve[i] = xstrdup(opt->resolve[i]);
    d->opt.resolve = (const char *const *)d->resolve;
    if (gethostname(d->hostname, sizeof(d->hostname) - 1) != 0)
        snprintf(d->hostname, sizeof(d->hostname), "localhost");
    d->max_queue = opt->max_queue ? opt->max_queue : DELIVERY_QUEUE_MAX;
    d->max_running = cfg->output.max_concurrent_deliveries > 0
                         ? (size_t)cfg->output.max_concurrent_deliveries
                         : 10;
    d->accepting = true;
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->io_mu, NULL);
    int rc = webhook_init(d, err);
    if (rc < 0) {
        delivery_free(d);
        return rc;
    }
    uv_async_init(loop, &d->async, on_async);
    uv_unref((uv_handle_t *)&d->async);
    uv_timer_init(loop, &d->retry_timer);
    uv_timer_init(loop, &d->drain_timer);
    d->async.data = d->retry_timer.data = d->drain_timer.data = d;
    if (opt->metrics) {
        d->m_total = metrics_counter(opt->metrics, "ratchet_deliveries_total",
                                     "Delivery attempts by destination type and outcome "
                                     "(success, retry, failure).",
                                     (const char *[]){"type", "outcome", NULL}, NULL);
        d->m_seconds =
            metrics_histogram(opt->metrics, "ratchet_delivery_duration_seconds",
                              "Time one delivery attempt took.", (const char *[]){"type", NULL},
                              metrics_latency_buckets, metrics_latency_buckets_count, NULL);
        d->m_pending = metric_with(metrics_gauge(opt->metrics, "ratchet_deliveries_pending",
                                                 "Deliveries queued, waiting to retry or running.",
                                                 NULL, NULL),
                                   NULL);
    }
    *out = d;
    return 0;
}

void delivery_free(struct delivery *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->records.n; i++)
        json_decref(d->records.v[i]);
    vec_free(&d->records);
    vec_free(&d->flushing);
    for (size_t i = 0; i < d->inbox_records.n; i++)
        json_decref(d->inbox_records.v[i]);
    vec_free(&d->inbox_records);
    vec_free(&d->inbox_settled);
    if (d->multi)
        curl_multi_cleanup(d->multi);
    pthread_mutex_destroy(&d->mu);
    pthread_mutex_destroy(&d->io_mu);
    for (size_t i = 0; d->resolve && d->resolve[i]; i++)
        free(d->resolve[i]);
    free(d->resolve);
    free(d->base_dir);
    free(d->env);
    free(d);
    curl_global_cleanup();
}

void delivery_get_stats(struct delivery *d, struct delivery_stats *out)
{
    pthread_mutex_lock(&d->mu);
    *out = d->stats;
    pthread_mutex_unlock(&d->mu);
}
