/*
 * The worker process: `ratchet __worker`, started by a node's pool with fork+exec, one
 * JavaScriptCore VM on its own libuv loop, talking frames (ipc.h) with its node over two
 * sockets (fds 3 and 4). docs/worker-protocol.md is the protocol; this is the process's entry
 * point.
 */
#ifndef RATCHET_WORKER_WORKER_H
#define RATCHET_WORKER_WORKER_H

struct err;

/* The fds a worker process finds its node's sockets on: data (init, task, run, shutdown in;
 * ready, result out) and control (ping, cancel in; pong out). */
#define WORKER_IPC_FD 3
#define WORKER_CTL_FD 4

/* Runs the worker on data socket fd (and WORKER_CTL_FD) until the node sends shutdown or goes away.
 * Returns 0 after a clean shutdown, or a negative code with err set (the socket broke, the engine
 * could not start). Call from main's thread of a fresh process (it starts a VM). */
int worker_main(int fd, const char *worker_id, struct err *err);

#endif
