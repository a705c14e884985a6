/* Shared CLI helpers (common.h). */
#include "cli/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_config.h"
#include "config/config.h"
#include "engine/engine.h"
#include "task/run.h"
#include "task/task.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"

int cli_load_task(const char *path, struct task_prepared **out, struct err *err)
{
    struct task *t;
    int rc = task_load(path, &t, err);
    if (rc == 0)
        rc = task_prepare(t, NULL, out, err);
    if (rc < 0 && err_exit_code(rc) != 2) {
        /* Any problem with the task folder itself is a usage-class error for the CLI. */
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err->msg);
        return err_set(err, E_INVALID, "%s", msg);
    }
    return rc;
}

int cli_engine_new(const struct cli_args *args, struct engine **out, struct err *err)
{
    struct config *cfg = NULL;
    int rc = cli_load_config(args, &cfg, err);
    if (rc < 0)
        return rc;
    struct engine_options opts;
    task_engine_options(cfg, &opts); /* copies what it keeps: user_agent is copied by engine_new */
    rc = engine_new(NULL, &opts, out, err);
    config_free(cfg);
    return rc;
}

static enum log_level console_level(enum engine_log_level l)
{
    switch (l) {
    case ENGINE_LOG_DEBUG:
        return LOG_DEBUG;
    case ENGINE_LOG_INFO:
        return LOG_INFO;
    case ENGINE_LOG_WARN:
        return LOG_WARN;
    case ENGINE_LOG_ERROR:
        return LOG_ERROR;
    }
    return LOG_INFO;
}

void cli_print_console(const struct task_run_result *res)
{
    if (!res->engine)
        return;
    for (size_t i = 0; i < res->engine->nlogs; i++) {
        const struct engine_log_line *l = &res->engine->logs[i];
        struct log_field f[] = {LF_STR("source", "console")};
        log_fields(console_level(l->level), f, 1, "%s", l->text);
    }
}

void cli_print_run_error(const struct task_run_result *res)
{
    const json_t *e = res->error;
    const char *type = jsonx_str(e, "type"), *msg = jsonx_str(e, "message");
    const char *stack = jsonx_str(e, "stack");
    fprintf(stderr, "task failed: %s: %s\n", type ? type : "Error", msg ? msg : "");
    /* The stack's first line repeats "Type: message"; show only the frames. */
    if (stack && *stack) {
        const char *frames = strchr(stack, '\n');
        if (frames)
            fprintf(stderr, "%s\n", frames + 1);
    }
    json_t *details = json_object_get(e, "details");
    size_t i;
    json_t *d;
    json_array_foreach(details, i, d)
    {
        const char *loc = jsonx_str(d, "instanceLocation");
        fprintf(stderr, "  %s: %s (at %s)\n", loc && *loc ? loc : "(root)",
                jsonx_str(d, "error") ? jsonx_str(d, "error") : "",
                jsonx_str(d, "keywordLocation") ? jsonx_str(d, "keywordLocation") : "");
    }
}

void cli_print_json_text(const char *json, bool compact)
{
    json_t *v = NULL;
    if (compact || jsonx_parse(json, strlen(json), &v, NULL) < 0) {
        printf("%s\n", json);
        return;
    }
    char *pretty = jsonx_dumps_pretty(v);
    printf("%s\n", pretty);
    free(pretty);
    json_decref(v);
}
