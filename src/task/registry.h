/*
 * The task registry: task folders and zips on disk, saved into the store so every node and
 * worker runs the same code. A sync loads each task found under the configured paths and
 * saves it by name (store_task_save keeps one version row per version and notices changed
 * content). Problems with one task never stop the others; they are reported.
 */
#ifndef RATCHET_TASK_REGISTRY_H
#define RATCHET_TASK_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct err;
struct store;
struct task;

/* The fields store_task_save takes for a loaded task (source "registry", its path). Owned. */
json_t *registry_task_fields(const struct task *t, const char *path);

/* Loads the task at path (a folder or .zip) and saves it; *row (may be NULL) gets the stored
 * task, *changed (may be NULL) whether anything was written. Errors as task_load and
 * store_task_save. */
int registry_sync_one(struct store *st, const char *path, json_t **row, bool *changed,
                      struct err *err);

/* Syncs every task under each path: the path itself when it is a task (a folder holding
 * metadata.json, or a .zip), else each folder-with-metadata.json and .zip directly inside
 * it. *report (owned) = {"added": [names], "updated": [names], "unchanged": [names],
 * "errors": [{"path", "error"}]}. Returns 0 even when some tasks failed (see errors), or a
 * negative code when the store itself failed. */
int registry_sync_paths(struct store *st, const char *const *paths, size_t npaths, json_t **report,
                        struct err *err);

/* True if path looks like a task (folder with metadata.json, or a file ending in .zip). */
bool registry_is_task_path(const char *path);

/* The task a stored row (the API shape of a task) stands for, with its tests: a registry
 * task from its folder (path), else one built from sourceCode, metadata and the schemas
 * with the "tests" array of its metadata as its test files. */
int registry_task_for_tests(const json_t *row, struct task **out, struct err *err);

#endif
