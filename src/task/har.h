/*
 * HTTP Archive (HAR 1.2) files of a run's HTTP exchanges: the writer turns what the engine's
 * observe hook sees into log.entries (full headers and bodies, timings); the reader checks a
 * file against the HAR 1.2 field list and gives the exchanges back for replay. Recording
 * (record.h) writes them; replay (replay.h) reads them. docs/testing-tasks.md describes the
 * file for users.
 *
 *     json_t *har = har_new();
 *     har_add_exchange(har, ex);                   // from an engine_observe_fn
 *     char *text = har_dumps(har);
 *
 *     struct har_log log;
 *     if (har_parse(text, len, "requests.har", &log, &err) < 0) ... err names entry and field
 *     struct har_exchange *x = har_log_take(&log, "GET", url, NULL, 0);
 *     har_log_release(&log);
 *
 * Bodies that are valid UTF-8 are stored as text; others in base64 with "encoding": "base64"
 * (response content) or "_encoding": "base64" (request postData, a custom field as the spec
 * requires for additions). An exchange that got no response has status 0 and "_error".
 * Not thread-safe per document; separate documents are independent.
 */
#ifndef RATCHET_TASK_HAR_H
#define RATCHET_TASK_HAR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine/engine.h"

struct err;

#define HAR_MAX_BYTES (256u << 20) /* a HAR file read for replay */

/* A new document {"log": {version "1.2", creator, browser, pages [], entries []}}; owned. */
json_t *har_new(void);
/* Appends one entry built from ex (borrowed) to the document's log.entries. */
void har_add_exchange(json_t *har, const struct engine_exchange *ex);
/* The document as indented JSON text with times to the microsecond; owned. */
char *har_dumps(const json_t *har);
/* The entry object for one exchange (new reference). */
json_t *har_entry_new(const struct engine_exchange *ex);

/* One entry as replay needs it: the request to match and the response to give. */
struct har_exchange {
    char *method;
    char *url;
    char *req_body; /* NULL when the request had no body */
    size_t req_body_len;
    int status; /* 0 when the exchange failed; error says why */
    char *status_text;
    struct engine_headers headers; /* response headers, in order */
    char *body;                    /* response body bytes (decoded from base64), never NULL */
    size_t body_len;
    char *error; /* "_error" of a failed exchange, or NULL */
    bool used;
};

struct har_log {
    struct har_exchange *v;
    size_t n;
};

/* Parses and checks a HAR document: every field HAR 1.2 requires, with its type; send, wait and
 * receive not negative; startedDateTime ISO 8601; content.size equal to the length of the text
 * (so a truncated body is caught); request.bodySize equal to the postData length; base64 that
 * decodes. name ("requests.har") starts every message, which then names the place:
 * "requests.har: log.entries[1].response.content: \"mimeType\" is missing". Errors: -E_JSON
 * (not JSON, with line and column), -E_INVALID. On success *out holds the entries in order
 * (release with har_log_release). */
int har_parse(const char *text, size_t len, const char *name, struct har_log *out, struct err *err);
void har_log_release(struct har_log *log);

/* The first entry not yet used with this method (case-insensitive), URL and request body
 * (byte for byte; NULL and "" are the same), marked used; NULL when none is left. */
struct har_exchange *har_log_take(struct har_log *log, const char *method, const char *url,
                                  const char *body, size_t body_len);
/* Entries never taken. */
size_t har_log_unused(const struct har_log *log);

#endif
