/*
 * The in-process event bus: job, execution, worker and schedule status changes, published
 * by the dispatcher and scheduler, consumed by the APIs (GraphQL subscriptions, SSE, MCP
 * progress, metrics).
 *
 * CONTRACT between issue 6 (implements and publishes) and the API work (subscribes).
 * Thread-safe: publish from any thread; each subscriber is called synchronously on the
 * publishing thread and must be quick (copy what it needs and hand it off).
 */
#ifndef RATCHET_QUEUE_EVENTS_H
#define RATCHET_QUEUE_EVENTS_H

#include <jansson.h>
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

struct event_bus *event_bus_new(void);
void event_bus_free(struct event_bus *bus);
/* Returns a subscription id (> 0). */
int event_bus_subscribe(struct event_bus *bus, event_fn fn, void *ud);
void event_bus_unsubscribe(struct event_bus *bus, int id);
void event_bus_publish(struct event_bus *bus, const struct event *ev);

#endif
