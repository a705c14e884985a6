/*
 * A task as loaded from a folder or a .zip: metadata, code, schemas and test files, all read
 * into memory at load time (so a run never touches the task's files again, and a zip needs no
 * temporary directory). The task layer sits above util, engine and schema.
 *
 *     struct task *t;
 *     if (task_load("sample/tasks/addition", &t, &err) < 0) ... err.msg names file and problem
 *     ... t->code, t->input_schema ...
 *     task_free(t);
 *
 * A loaded task is immutable; several threads may read it at once.
 */
#ifndef RATCHET_TASK_TASK_H
#define RATCHET_TASK_TASK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

/* Limits on what a task may contain; every file is read with a cap. */
#define TASK_MAX_CODE_BYTES (5u << 20)
#define TASK_MAX_JSON_BYTES (1u << 20) /* metadata.json, each schema, each test file */
#define TASK_MAX_TESTS      1000
#define TASK_MAX_ZIP_BYTES  (64u << 20) /* total uncompressed bytes read from a .zip */

enum task_fetch_mode {
    TASK_FETCH_AUTO,     /* sync form unless the code uses async constructs */
    TASK_FETCH_SYNC,     /* metadata "fetch": "sync" */
    TASK_FETCH_STANDARD, /* metadata "fetch": "standard" */
};

struct task_file {
    char *name; /* base name, e.g. "test-001.json" */
    char *data; /* NUL-terminated */
    size_t len;
};

struct task {
    char *source; /* the folder or .zip it was loaded from; NULL if built from parts */
    bool from_zip;

    /* From metadata.json (every dialect: name/label/uuid/version/description). */
    char *name;                  /* `name`, else `label` */
    char *label;                 /* `label`, else `name` */
    char *version;               /* required */
    char *uuid;                  /* `uuid`, else UUIDv5(RATCHET_TASK_NAMESPACE, name) */
    char *description;           /* may be "" */
    json_t *metadata;            /* the whole object, unknown keys kept */
    int64_t timeout_ms;          /* `timeout` (ms); 0 when not set */
    uint64_t memory_limit_bytes; /* `memory_limit` ("128MB"); 0 when not set */
    enum task_fetch_mode fetch_mode;

    char *code; /* main.js, NUL-terminated */
    size_t code_len;
    json_t *input_schema;    /* input.schema.json, or NULL */
    json_t *output_schema;   /* output.schema.json, or NULL */
    struct task_file *tests; /* tests/ *.json in file-name order */
    size_t ntests;
    char checksum[65]; /* SHA-256 (hex) of the files above; identifies a version */
};

/* Loads a task from a folder or a .zip (the files at the archive root, or in the one
 * folder inside it that holds metadata.json). Errors name the file and the problem:
 * -E_NOT_FOUND (no such task or required file), -E_INVALID (bad metadata, unsafe zip entry),
 * -E_JSON (malformed JSON, with line and column), -E_TOO_LARGE, -E_IO. */
int task_load(const char *path, struct task **out, struct err *err);

/* The parts of a task that do not come from files (e.g. created over the API). metadata is
 * borrowed; schemas may be NULL. */
struct task_parts {
    const json_t *metadata;
    const char *code;
    size_t code_len;
    const json_t *input_schema;
    const json_t *output_schema;
};
int task_from_parts(const struct task_parts *parts, struct task **out, struct err *err);

/* Applies metadata.json's object to t's metadata fields (the rules above). `file` names the
 * source in messages ("metadata.json"). */
int task_apply_metadata(struct task *t, const json_t *meta, const char *file, struct err *err);

void task_free(struct task *t);

#endif
