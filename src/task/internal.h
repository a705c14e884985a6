/* Helpers the task layer's modules share (testrun, replay); not for other layers. */
#ifndef RATCHET_TASK_INTERNAL_H
#define RATCHET_TASK_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct engine_result;

/* "Type: message" of a run error object {type, message, ...}; owned. */
char *task_error_text(const json_t *error);
/* The run's console lines as [{time (ISO 8601), level, text}]; new reference. */
json_t *task_logs_json(const struct engine_result *er);
/* jsonx_diff's lines, without their indent, appended to out (an array); returns the number of
 * differences. */
size_t task_diff_lines(const json_t *expected, const json_t *actual, bool subset, size_t max_lines,
                       json_t *out);

#endif
