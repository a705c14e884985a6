/*
 * The in-process event bus: job, execution, worker and schedule status changes, published
 * by the dispatcher and scheduler, consumed by the APIs (GraphQL subscriptions, SSE, MCP
 * progress, metrics).
 *
 * CONTRACT between issue 6 (implements and publishes) and the API work (subscribes).
 * Thread-safe: publish from any thread; each subscriber is called synchronously on the
 * publishing thread and must be quick (copy what it needs and hand it off). A callback must
 * not subscribe or unsubscribe (the bus holds its lock while calling); once
 * event_bus_unsubscribe returns, that callback is not running and never runs again.
 *
 * What the dispatcher publishes (src/worker/dispatcher.c; docs/queue.md "Events"):
 *   EVENT_JOB        id = job id, status PROCESSING, COMPLETED, RETRYING, FAILED, CANCELLED,
 *                    QUEUED (requeued); data {id, uuid, taskId, status, attempt, maxAttempts,
 *                    executionId, error?}
 *   EVENT_EXECUTION  id = execution id, status RUNNING, COMPLETED, FAILED, CANCELLED;
 *                    data {id, uuid, taskId, jobId, status, workerId, nodeId, durationMs,
 *                    error?}
 *   EVENT_WORKER     id = 0, status STARTING, READY, DRAINING, STOPPED, CRASHED; data
 *                    {id, pid, status, runs, failures, rssBytes}
 * What every node publishes for its scheduler (src/cli/node_services.c; docs/scheduling.md):
 *   EVENT_SCHEDULE   id = schedule id, status FIRED, MISSED, EXHAUSTED, ENDED, BROKEN; data
 *                    {scheduleId, event, fireTime, nextRun, catchUp, jobId?, jobUuid?,
 *                    message?}
 * Events are published after the change is committed to the store.
 */
#ifndef RATCHET_QUEUE_EVENTS_H
#define RATCHET_QUEUE_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum event_kind { EVENT_JOB, EVENT_EXECUTION, EVENT_WORKER, EVENT_SCHEDULE };

struct event {
    enum event_kind kind;
    int64_t id;         /* job / execution / schedule id; worker: 0 */
    const char *status; /* new status, upper case as the API shows it ("COMPLETED") */
    const json_t *data; /* the entity as the API shows it, or a partial object; borrowed */
    int64_t ts_ms;
};

typedef void (*event_fn)(void *ud, const struct event *ev);

struct event_bus;

/* Never fails; free with event_bus_free (no publisher may be running then). Accepts NULL. */
struct event_bus *event_bus_new(void);
void event_bus_free(struct event_bus *bus);
/* Returns a subscription id (> 0). */
int event_bus_subscribe(struct event_bus *bus, event_fn fn, void *ud);
void event_bus_unsubscribe(struct event_bus *bus, int id);
/* Calls every subscriber with ev (borrowed for the call). bus may be NULL (no-op). */
void event_bus_publish(struct event_bus *bus, const struct event *ev);
/* Whether anyone is subscribed: publishers skip building events nobody receives. Cheap (an
 * atomic read), may be stale by one subscription. NULL: false. */
bool event_bus_active(const struct event_bus *bus);

#endif
