/*
 * The in-process event bus (events.h): a list of subscribers behind a read-write lock.
 * Publishing takes the read lock, so publishers on several threads run their callbacks at
 * once; subscribing and unsubscribing take the write lock, so once event_bus_unsubscribe
 * returns its callback is not running and will not run again.
 */
#include "queue/events.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "util/vec.h"
#include "util/xalloc.h"

struct subscriber {
    int id;
    event_fn fn;
    void *ud;
};

struct event_bus {
    pthread_rwlock_t lock;
    VEC(struct subscriber) subs;
    int next_id;
    atomic_size_t count; /* subscribers, read without the lock by event_bus_active */
};

struct event_bus *event_bus_new(void)
{
    struct event_bus *bus = xcalloc(1, sizeof(*bus));
    pthread_rwlock_init(&bus->lock, NULL);
    atomic_init(&bus->count, 0);
    return bus;
}

void event_bus_free(struct event_bus *bus)
{
    if (!bus)
        return;
    vec_free(&bus->subs);
    pthread_rwlock_destroy(&bus->lock);
    free(bus);
}

int event_bus_subscribe(struct event_bus *bus, event_fn fn, void *ud)
{
    pthread_rwlock_wrlock(&bus->lock);
    int id = ++bus->next_id;
    struct subscriber s = {id, fn, ud};
    vec_push(&bus->subs, s);
    atomic_store(&bus->count, bus->subs.n);
    pthread_rwlock_unlock(&bus->lock);
    return id;
}

void event_bus_unsubscribe(struct event_bus *bus, int id)
{
    pthread_rwlock_wrlock(&bus->lock);
    for (size_t i = 0; i < bus->subs.n; i++) {
        if (bus->subs.v[i].id == id) {
            for (size_t k = i + 1; k < bus->subs.n; k++)
                bus->subs.v[k - 1] = bus->subs.v[k];
            bus->subs.n--;
            break;
        }
    }
    atomic_store(&bus->count, bus->subs.n);
    pthread_rwlock_unlock(&bus->lock);
}

bool event_bus_active(const struct event_bus *bus)
{
    return bus && atomic_load(&((struct event_bus *)bus)->count) > 0;
}

void event_bus_publish(struct event_bus *bus, const struct event *ev)
{
    if (!bus)
        return;
    pthread_rwlock_rdlock(&bus->lock);
    for (size_t i = 0; i < bus->subs.n; i++)
        bus->subs.v[i].fn(bus->subs.v[i].ud, ev);
    pthread_rwlock_unlock(&bus->lock);
}
