/* Text, JSON and JUnit XML forms of a test report (test_report.h). */
#include "cli/test_report.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"
#include "util/json.h"
#include "util/utf8.h"
#include "util/xalloc.h"

static const struct {
    const char *name;
    enum test_report_format format;
} formats[] = {
    {"text", TEST_REPORT_TEXT},
    {"json", TEST_REPORT_JSON},
    {"junit", TEST_REPORT_JUNIT},
};

int test_report_format_parse(const char *s, enum test_report_format *out, struct err *err)
{
    if (!s) {
        *out = TEST_REPORT_TEXT;
        return 0;
    }
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcmp(formats[i].name, s) == 0) {
            *out = formats[i].format;
            return 0;
        }
    }
    return err_set(err, E_USAGE, "--format: unknown format \"%s\" (text, json or junit)", s);
}

static double num(const json_t *obj, const char *key)
{
    double v = 0;
    jsonx_number(json_object_get(obj, key), &v);
    return v;
}

/* ---- text ---- */

/* Compact JSON of v, cut to max bytes. */
static void print_short_json(FILE *out, const json_t *v, size_t max)
{
    char *s = jsonx_dumps(v);
    if (strlen(s) > max)
        fprintf(out, "%.*s... (%zu bytes)", (int)max, s, strlen(s));
    else
        fputs(s, out);
    free(s);
}

/* Prints each line of text with the indent. */
static void print_indented(FILE *out, const char *indent, const char *text)
{
    while (text && *text) {
        size_t len = strcspn(text, "\n");
        fprintf(out, "%s%.*s\n", indent, (int)len, text);
        text += len + (text[len] == '\n');
    }
}

static void print_failure_text(FILE *out, const json_t *t)
{
    const char *pad = "          ";
    fprintf(out, "%s%s\n", pad, jsonx_str(t, "error"));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(t, "diff"), i, v)
    {
        fprintf(out, "%s  %s\n", pad, json_string_value(v));
    }
    json_t *exp = json_object_get(t, "expected"), *act = json_object_get(t, "actual");
    if (exp) {
        fprintf(out, "%sexpected: ", pad);
        print_short_json(out, exp, 400);
        fputc('\n', out);
    }
    if (act) {
        fprintf(out, "%sactual:   ", pad);
        print_short_json(out, act, 400);
        fputc('\n', out);
    }
    /* The stack's first line repeats the message. */
    const char *stack = jsonx_str(json_object_get(t, "runError"), "stack");
    const char *frames = stack ? strchr(stack, '\n') : NULL;
    if (frames && !exp)
        print_indented(out, "            ", frames + 1);
    json_t *logs = json_object_get(t, "logs");
    if (json_array_size(logs))
        fprintf(out, "%sconsole:\n", pad);
    json_array_foreach(logs, i, v)
    {
        fprintf(out, "%s  [%s] ", pad, jsonx_str(v, "level"));
        const char *text = jsonx_str(v, "text");
        size_t len = strcspn(text, "\n");
        fprintf(out, "%.*s%s\n", (int)len, text, text[len] ? " ..." : "");
    }
}

static void print_text(FILE *out, const json_t *report)
{
    const json_t *task = json_object_get(report, "task");
    const json_t *totals = json_object_get(report, "totals");
    const json_t *tests = json_object_get(report, "tests");
    size_t n = json_array_size(tests);
    fprintf(out, "ratchet test: %s %s, %zu test%s\n", jsonx_str(task, "name"),
            jsonx_str(task, "version"), n, n == 1 ? "" : "s");
    size_t i;
    json_t *t;
    json_array_foreach(tests, i, t)
    {
        bool passed = strcmp(jsonx_str(t, "status"), "passed") == 0;
        const char *file = jsonx_str(t, "file"), *name = jsonx_str(t, "name");
        size_t stem = strlen(file) > 5 ? strlen(file) - 5 : strlen(file);
        bool same = strlen(name) == stem && strncmp(name, file, stem) == 0;
        fprintf(out, "  %s  %s%s%s (%.0f ms)\n", passed ? "✓ PASS" : "✗ FAIL", file,
                same ? "" : "  ", same ? "" : name, num(t, "durationMs"));
        if (!passed)
            print_failure_text(out, t);
        size_t k;
        json_t *w;
        json_array_foreach(json_object_get(t, "warnings"), k, w)
        {
            fprintf(out, "          warning: %s\n", json_string_value(w));
        }
    }
    if (json_is_true(json_object_get(report, "cancelled")))
        fprintf(out, "cancelled: the remaining tests did not run\n");
    fprintf(out, "%.0f passed, %.0f failed, %.0f total (%.0f ms)\n", num(totals, "passed"),
            num(totals, "failed"), num(totals, "total"), num(totals, "durationMs"));
}

/* ---- JUnit XML ---- */

void test_report_xml_escape(FILE *out, const char *s, int in_attribute)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t len = strlen((const char *)p);
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        size_t n = c < 0x80 ? 1 : utf8_seq_len(p + i, len - i);
        if (n == 0) {
            fputs("\xEF\xBF\xBD", out); /* not UTF-8 */
            i++;
            continue;
        }
        if (n > 1) {
            /* U+FFFE and U+FFFF are not XML characters. */
            bool bad = n == 3 && p[i] == 0xEF && p[i + 1] == 0xBF && p[i + 2] >= 0xBE;
            if (bad)
                fputs("\xEF\xBF\xBD", out);
            else
                fwrite(p + i, 1, n, out);
            i += n;
            continue;
        }
        i++;
        switch (c) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs(in_attribute ? "&quot;" : "\"", out);
            break;
        case '\'':
            fputs(in_attribute ? "&apos;" : "'", out);
            break;
        case '\t':
        case '\n':
        case '\r':
            if (in_attribute)
                fprintf(out, "&#%d;", c);
            else
                fputc(c, out);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                fputs("\xEF\xBF\xBD", out);
            else
                fputc(c, out);
        }
    }
}

static void attr(FILE *out, const char *name, const char *value)
{
    fprintf(out, " %s=\"", name);
    test_report_xml_escape(out, value, 1);
    fputc('"', out);
}

/* The failure's type attribute: what kind of failure it is. */
static const char *failure_type(const json_t *t)
{
    if (json_object_get(t, "unmocked"))
        return "UnmockedRequest";
    if (json_object_get(t, "diff"))
        return "OutputMismatch";
    const char *type = jsonx_str(json_object_get(t, "runError"), "type");
    if (type && !json_object_get(t, "expected"))
        return type;
    return "AssertionError";
}

static void print_junit_failure(FILE *out, const json_t *t)
{
    fputs("      <failure", out);
    attr(out, "message", jsonx_str(t, "error"));
    attr(out, "type", failure_type(t));
    fputc('>', out);
    /* The same detail the text report gives, as the element's text. */
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    print_failure_text(mem, t);
    fclose(mem);
    test_report_xml_escape(out, buf, 0);
    free(buf);
    fputs("</failure>\n", out);
}

static void print_junit_case(FILE *out, const json_t *t, const char *suite)
{
    const char *file = jsonx_str(t, "file");
    size_t stem = strlen(file) > 5 ? strlen(file) - 5 : strlen(file);
    char *classname = xasprintf("%s.%.*s", suite, (int)stem, file);
    char *path = xasprintf("tests/%s", file);
    char timebuf[32];
    snprintf(timebuf, sizeof(timebuf), "%.3f", num(t, "durationMs") / 1000.0);
    fputs("    <testcase", out);
    attr(out, "name", jsonx_str(t, "name"));
    attr(out, "classname", classname);
    attr(out, "file", path);
    attr(out, "time", timebuf);
    free(classname);
    free(path);
    bool passed = strcmp(jsonx_str(t, "status"), "passed") == 0;
    json_t *logs = json_object_get(t, "logs");
    if (passed && !json_array_size(logs)) {
        fputs("/>\n", out);
        return;
    }
    fputs(">\n", out);
    if (!passed)
        print_junit_failure(out, t);
    if (json_array_size(logs)) {
        fputs("      <system-out>", out);
        size_t i;
        json_t *l;
        json_array_foreach(logs, i, l)
        {
            char line[64];
            snprintf(line, sizeof(line), "%s [%s] ", jsonx_str(l, "time"), jsonx_str(l, "level"));
            test_report_xml_escape(out, line, 0);
            test_report_xml_escape(out, jsonx_str(l, "text"), 0);
            fputc('\n', out);
        }
        fputs("</system-out>\n", out);
    }
    fputs("    </testcase>\n", out);
}

static void print_junit(FILE *out, const json_t *report)
{
    const json_t *task = json_object_get(report, "task");
    const json_t *totals = json_object_get(report, "totals");
    char tests[32], failures[32], timebuf[32], stamp[32], host[256] = "localhost";
    snprintf(tests, sizeof(tests), "%.0f", num(totals, "total"));
    snprintf(failures, sizeof(failures), "%.0f", num(totals, "failed"));
    snprintf(timebuf, sizeof(timebuf), "%.3f", num(totals, "durationMs") / 1000.0);
    /* JUnit's timestamp has no fraction and no zone (it is UTC here). */
    const char *started = jsonx_str(report, "startedAt");
    snprintf(stamp, sizeof(stamp), "%.19s", started ? started : "1970-01-01T00:00:00");
    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "localhost");
    const char *suite = jsonx_str(task, "name");
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", out);
    attr(out, "name", "ratchet test");
    attr(out, "tests", tests);
    attr(out, "failures", failures);
    attr(out, "errors", "0");
    attr(out, "time", timebuf);
    fputs(">\n  <testsuite", out);
    attr(out, "name", suite);
    attr(out, "tests", tests);
    attr(out, "failures", failures);
    attr(out, "errors", "0");
    attr(out, "skipped", "0");
    attr(out, "time", timebuf);
    attr(out, "timestamp", stamp);
    attr(out, "hostname", host);
    fputs(">\n    <properties>\n", out);
    static const char *const props[] = {"version", "uuid", "source", NULL};
    for (size_t i = 0; props[i]; i++) {
        if (!jsonx_str(task, props[i]))
            continue;
        fputs("      <property", out);
        attr(out, "name", props[i]);
        attr(out, "value", jsonx_str(task, props[i]));
        fputs("/>\n", out);
    }
    fputs("    </properties>\n", out);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(report, "tests"), i, t)
    {
        print_junit_case(out, t, suite);
    }
    fputs("    <system-out/>\n    <system-err/>\n  </testsuite>\n</testsuites>\n", out);
}

void test_report_print_recordings(FILE *out, const json_t *report)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(report, "tests"), i, t)
    {
        const char *dir = jsonx_str(t, "recording");
        if (dir)
            fprintf(out, "recorded %s: %s\n", jsonx_str(t, "file"), dir);
    }
}

void test_report_print(FILE *out, const json_t *report, enum test_report_format format)
{
    switch (format) {
    case TEST_REPORT_TEXT:
        print_text(out, report);
        break;
    case TEST_REPORT_JSON: {
        char *s = jsonx_dumps_pretty(report);
        fprintf(out, "%s\n", s);
        free(s);
        break;
    }
    case TEST_REPORT_JUNIT:
        print_junit(out, report);
        break;
    }
    fflush(out);
}
