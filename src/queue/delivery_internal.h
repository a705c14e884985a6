/*
 * Private to output delivery (delivery*.c): parsed destinations, path/header templates,
 * address checks (SSRF), and the pieces the service core (delivery.c) drives: webhook
 * attempts on curl multi (delivery_webhook.c) and file/stdio writes (delivery_file.c).
 */
#ifndef RATCHET_QUEUE_DELIVERY_INTERNAL_H
#define RATCHET_QUEUE_DELIVERY_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <pthread.h>
#include <uv.h>

#include "queue/delivery.h"
#include "util/curl_uv.h"
#include "util/strbuf.h"
#include "util/vec.h"

struct config;
struct err;
struct strbuf;

/* ---- destinations (delivery_dest.c) ---- */

enum dest_type { DEST_WEBHOOK, DEST_FILE, DEST_STDIO };
enum dest_auth { AUTH_NONE, AUTH_BEARER, AUTH_BASIC, AUTH_API_KEY };
enum dest_format { FORMAT_JSON, FORMAT_JSON_COMPACT, FORMAT_RAW };

struct dest_retry {
    int max_attempts;
    int64_t initial_delay_ms;
    int64_t max_delay_ms;
    double multiplier;
};

struct dest_webhook {
    char *url;
    char *method; /* GET, POST, PUT, PATCH */
    int64_t timeout_ms;
    char *content_type;
    json_t *headers; /* object of template strings, or NULL */
    enum dest_auth auth;
    char *token; /* bearer token or api key */
    char *username, *password;
    char *api_key_header;
    char *secret; /* HMAC-SHA256 signing secret, or NULL */
    struct dest_retry retry;
};

struct dest_file {
    char *path; /* template */
    enum dest_format format;
    bool include_metadata;
    bool create_dirs;
    bool overwrite;
    bool backup_existing;
    mode_t mode;
};

struct dest_stdio {
    bool to_stderr;
    char *prefix;
    bool include_metadata;
};

struct dest {
    enum dest_type type;
    char *name; /* optional label */
    struct dest_webhook webhook;
    struct dest_file file;
    struct dest_stdio stdio;
};

/* Parses and validates one destination. where prefixes messages ("outputDestinations[0]").
 * cfg may be NULL (defaults). On error -E_INVALID and *out is released. */
int dest_parse(const json_t *v, const struct config *cfg, const char *where, struct dest *out,
               struct err *err);
void dest_release(struct dest *d);
/* "webhook", "filesystem", "stdio". */
const char *dest_type_name(enum dest_type t);
/* The canonical type name a destination object declares (even an invalid one), or
 * "unknown". */
const char *dest_type_guess(const json_t *v);

/* ---- templates (delivery_template.c) ---- */

enum tvar {
    TV_JOB_ID,
    TV_JOB_UUID,
    TV_TASK_ID,
    TV_TASK_UUID,
    TV_TASK_NAME,
    TV_TASK_VERSION,
    TV_EXECUTION_ID,
    TV_EXECUTION_UUID,
    TV_SCHEDULE_ID,
    TV_DELIVERY_ID,
    TV_TIMESTAMP,
    TV_ISO_TIMESTAMP,
    TV_UNIX_TIMESTAMP,
    TV_DATE,
    TV_TIME,
    TV_YEAR,
    TV_MONTH,
    TV_DAY,
    TV_HOUR,
    TV_MINUTE,
    TV_SECOND,
    TV_ENV,
    TV_HOSTNAME,
    TV_DURATION_MS,
    TV_DURATION_SECS,
    TV__COUNT
};

/* Variable values (each NUL-terminated, at most 127 bytes). */
struct tmpl_vars {
    char v[TV__COUNT][128];
};

struct tmpl_job {
    int64_t job_id, task_id, execution_id, schedule_id, completed_at, duration_ms;
    const char *job_uuid, *task_uuid, *task_name, *task_version, *execution_uuid, *delivery_id;
    const char *env, *hostname;
};

/* Fills vars from a job (times from completed_at, UTC). */
void tmpl_vars_fill(struct tmpl_vars *vars, const struct tmpl_job *job);
/* The name of variable i ("job_id"). */
const char *tmpl_var_name(enum tvar i);

enum tmpl_mode {
    TMPL_TEXT, /* header values: substituted as they are; no CR, LF or NUL in the result */
    TMPL_PATH, /* file paths: values made path-safe ([A-Za-z0-9._-], never "." or ".."), and
                  the result must have no ".." component and at most DELIVERY_PATH_MAX bytes */
};

/* Expands {name} and {{name}} (blanks inside the braces allowed) in tmpl[0..len) into out.
 * vars NULL checks syntax and names only (with placeholder values). Errors -E_INVALID:
 * "unknown template variable \"x\"", "unclosed \"{\" at byte 4", "\"..\" is not allowed in
 * a path", ... */
int tmpl_render(const char *tmpl, size_t len, const struct tmpl_vars *vars, enum tmpl_mode mode,
                struct strbuf *out, struct err *err);

/* ---- addresses (delivery_net.c) ---- */

enum addr_class { ADDR_PUBLIC, ADDR_LOOPBACK, ADDR_PRIVATE, ADDR_RESERVED };

enum addr_class addr_classify(const struct sockaddr *sa);
/* Whether a connection to sa is allowed by cfg (NULL: defaults); if not, why in why[]. */
bool addr_allowed(const struct sockaddr *sa, const struct config *cfg, char *why, size_t size);
/* Checks a webhook URL's host by name: literal addresses (any IPv4 spelling, IPv6),
 * "localhost" and "*.localhost", and output.allowed_webhook_domains. -E_INVALID with the
 * reason (no field name). */
int host_check(const char *host, const struct config *cfg, struct err *err);
/* Parses an http(s) URL and checks its host: *host (may be NULL) gets an owned copy of it.
 * -E_INVALID "must be an http(s) URL" or host_check's message. */
int url_check(const char *url, const struct config *cfg, char **host, struct err *err);

/* ---- the envelope and file/stdio bodies (delivery_file.c) ---- */

struct dl_job {
    int refs;
    int64_t job_id, task_id, execution_id, schedule_id;
    int64_t started_at, completed_at, duration_ms, created_at;
    char *job_uuid, *task_uuid, *task_name, *task_version, *execution_uuid;
    json_t *output; /* parsed */
    /* durable (delivery_job.track): items not yet final; abandoned when one was stopped
     * before reaching a final state (a drain), so the job is never reported settled */
    bool track, abandoned;
    int open;
};

/* The webhook/metadata envelope (docs/delivery.md): a new object. */
json_t *dl_envelope(const struct dl_job *job, const char *delivery_id);
void dl_tmpl_job(const struct dl_job *job, const char *delivery_id, const char *env,
                 const char *hostname, struct tmpl_job *out);

struct file_result {
    int64_t size_bytes;
    char *path; /* the file written (owned), or NULL */
};

/* Writes the file destination f for job: path rendered, directories created, written
 * atomically (temp file, fsync, rename). base_dir as in delivery_options.file_base_dir.
 * Errors -E_INVALID (path), -E_CONFLICT (exists and overwrite is false), -E_IO. */
int file_deliver(const struct dest_file *f, const struct dl_job *job, const char *delivery_id,
                 const char *base_dir, const char *env, const char *hostname,
                 struct file_result *res, struct err *err);
/* Writes path (relative to base_dir, or as given when base_dir is NULL) atomically; see
 * file_deliver. Exposed for tests. */
int file_write_atomic_at(const char *base_dir, const char *path, const void *data, size_t len,
                         const struct dest_file *f, struct err *err);

/* The stdio line: prefix, then the compact envelope (include_metadata) or output, then \n. */
char *stdio_line(const struct dest_stdio *s, const struct dl_job *job, const char *delivery_id,
                 size_t *len);

/* ---- the service core (delivery.c) ---- */

/* The outcome of one attempt, handed to dl_attempt_done. */
struct dl_outcome {
    bool success;
    bool retryable;         /* a retry may succeed (network error, 429, 5xx) */
    int status_code;        /* HTTP status; 0: none */
    int64_t size_bytes;     /* bytes delivered (body sent, file or line written) */
    int64_t retry_after_ms; /* from Retry-After; -1: none */
    char *error;            /* owned; NULL on success */
    json_t *info;           /* owned; responseInfo of the record (may be NULL) */
};

struct wh_attempt; /* delivery_webhook.c */
struct curl_sock;  /* delivery_webhook.c */
struct delivery;

/*
 * One destination of one job: created by submit/retry, then READY (queued) -> RUNNING (an
 * attempt in flight) -> done, or -> WAITING (a retry timer) -> READY again. The item is
 * freed when it is done; its job copy is shared by all items of the job.
 */
enum dl_state { DL_READY, DL_RUNNING, DL_WAITING };

struct dl_item {
    struct dl_item *next; /* in the ready queue or the waiting list */
    struct delivery *d;
    struct dl_job *job;
    struct dest dest;
    int index;          /* destination_index */
    int attempt;        /* number of the attempt running or last made */
    int last_attempt;   /* the last attempt allowed in this round */
    int made;           /* attempts made in this round */
    int64_t due_ms;     /* WAITING: when to try again (monotonic ms) */
    int64_t started_us; /* RUNNING: start (monotonic us) */
    char delivery_id[37];
    enum dl_state state;
    struct wh_attempt *wh; /* RUNNING webhook */
    uv_work_t work;        /* RUNNING file/stdio */
    struct dl_outcome work_out;
};

struct delivery {
    uv_loop_t *loop;
    pthread_t loop_thread;
    struct delivery_options opt;
    const struct config *cfg;
    char *base_dir, *env;
    char hostname[256];
    char **resolve;
    size_t max_queue, max_running;

    /* shared with other threads, under mu */
    pthread_mutex_t mu;
    struct dl_item *inbox, *inbox_tail;
    VEC(json_t *) inbox_records;
    VEC(int64_t) inbox_settled; /* tracked jobs settled off the loop, for on_settled */
    size_t live;                /* items submitted and not done */
    bool accepting;
    struct delivery_stats stats;

    /* loop thread only */
    uv_async_t async;
    uv_timer_t retry_timer, drain_timer;
    struct dl_item *ready, *ready_tail, *waiting;
    size_t running;
    VEC(json_t *) records;
    VEC(json_t *) flushing;
    uv_work_t flush_work;
    bool flush_busy;
    bool draining, hard_stop, closing;
    int open_handles;
    void (*drain_done)(void *ud);
    void *drain_ud;
    pthread_mutex_t io_mu; /* one stdio line at a time */

    /* webhooks (delivery_webhook.c) */
    CURLM *multi;
    struct curl_uv curl;           /* multi on the loop */
    struct wh_attempt *wh_running; /* attempts in flight (a list) */

    /* metrics */
    struct metric *m_total;
    struct metric *m_seconds;
    struct metric_series *m_pending;
};

/* Called on the loop thread when an attempt of it ends; takes out's owned parts. */
void dl_attempt_done(struct delivery *d, struct dl_item *it, struct dl_outcome *out);
/* The attempt already ended with it->work_out: report it from a later loop turn (so a
 * failure found while starting does not recurse into the queue). */
void dl_attempt_done_later(struct delivery *d, struct dl_item *it);
/* close callback for every handle whose data is d (counts d->open_handles down). */
void dl_handle_closed(uv_handle_t *h);
/* The same for a handle that was part of something else, now freed. */
void dl_handle_gone(struct delivery *d);

/* ---- webhooks (delivery_webhook.c) ---- */

int webhook_init(struct delivery *d, struct err *err);
/* Starts an attempt of it; the outcome arrives through dl_attempt_done (maybe at once). */
void webhook_start(struct delivery *d, struct dl_item *it);
/* Aborts every attempt in flight (each ends with a "cancelled" outcome). */
void webhook_cancel_all(struct delivery *d);
/* Releases curl and closes the webhook handles (after webhook_cancel_all). */
void webhook_close(struct delivery *d);

/* "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>" into out (>= 128 bytes). */
void webhook_signature(const char *secret, int64_t unix_s, const char *body, size_t body_len,
                       char *out, size_t size);

#endif
