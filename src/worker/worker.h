/*
 * The worker process: `ratchet __worker`, started by a node's pool with fork+exec, one
 * JavaScriptCore VM on its own libuv loop, talking frames (ipc.h) with its node over the
 * socket on fd 3. docs/worker-protocol.md is the protocol; this is the process's entry point.
 */
#ifndef RATCHET_WORKER_WORKER_H
#define RATCHET_WORKER_WORKER_H

struct err;

/* The fd a worker process finds its node's socket on. */
#define WORKER_IPC_FD 3

/* Runs the worker on socket fd until the node sends shutdown or goes away. Returns 0 after
 * a clean shutdown, or a negative code with err set (the socket broke, the engine could not
 * start). Call from main's thread of a fresh process (it starts a VM). */
int worker_main(int fd, const char *worker_id, struct err *err);

#endif
