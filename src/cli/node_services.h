/*
 * What every node (`ratchet serve`, `ratchet worker`) runs beside its dispatcher: the cron
 * scheduler (one leader among all nodes, by store lock) and output delivery (a completed
 * job's output to its destinations), wired to the dispatcher, the event bus and the node's
 * record, with one shutdown order for both commands:
 *
 *     scheduler_stop -> dispatcher_drain -> (job lookups finish) -> delivery_drain -> done
 *
 * so no schedule fires into a draining node, and jobs that complete while the node drains
 * still have their output delivered. docs/cluster.md describes the result.
 *
 * Everything here is on the node's loop thread unless said otherwise.
 */
#ifndef RATCHET_CLI_NODE_SERVICES_H
#define RATCHET_CLI_NODE_SERVICES_H

#include <stdint.h>
#include <uv.h>

struct config;
struct delivery;
struct dispatcher;
struct err;
struct event_bus;
struct metrics;
struct scheduler;
struct store;
struct tz_db;
struct node_services;

struct node_services_options {
    uv_loop_t *loop;               /* the node's loop; required */
    struct store *store;           /* required; must outlive the services */
    const struct config *cfg;      /* required; output.*, scheduler.*, job_queue.* */
    struct dispatcher *dispatcher; /* required; not started yet (the job-done hook is set) */
    struct metrics *metrics;       /* the node's one registry; NULL: none */
    struct event_bus *bus;         /* EVENT_SCHEDULE is published here; NULL: none */
    const char *node_id;           /* the dispatcher's node id (for logs and the node row) */
};

/*
 * Creates the time zone cache (shared with the service layer), the delivery service (its file
 * destinations rooted at output.file_base_dir, which must be an absolute path by now: see
 * node_services_base_dir) and, when scheduler.enabled, the scheduler (not started), and hooks
 * delivery into dispatcher_on_job_done. Errors: -E_CONFIG (a bad global destination), the
 * scheduler's lock errors.
 */
int node_services_new(const struct node_services_options *opt, struct node_services **out,
                      struct err *err);

/* Borrowed pointers for the service layer (valid until node_services_free). The scheduler is
 * NULL when scheduler.enabled is false on this node. */
struct tz_db *node_services_zones(struct node_services *ns);
struct scheduler *node_services_scheduler(struct node_services *ns);
struct delivery *node_services_delivery(struct node_services *ns);

/* Starts the scheduler (if any). Call after dispatcher_start. */
int node_services_start(struct node_services *ns, struct err *err);

/*
 * The graceful stop: stops the scheduler (releasing its lock: another node takes over),
 * drains the dispatcher for up to grace_ms, waits for deliveries of the jobs that completed
 * meanwhile to be queued, drains delivery for up to grace_ms, then calls done(ud). Called
 * again while stopping (a second signal), every grace period still running ends at once.
 */
void node_services_shutdown(struct node_services *ns, int64_t grace_ms, void (*done)(void *ud),
                            void *ud);

/* Frees everything (loop thread, after dispatcher_free). What never stopped is stopped now
 * with no grace, turning the loop until it has (startup failures, a third signal). Accepts
 * NULL. */
void node_services_free(struct node_services *ns);

/* Turns a relative output.file_base_dir into an absolute path (from the working directory)
 * in cfg, so that absolute destination paths under it are accepted and every node reports
 * the same directory. Call once after loading the configuration. */
int node_services_base_dir(struct config *cfg, struct err *err);

#endif
