/* Formatting a test report (task/testrun.h) for `ratchet test`: text for people, JSON (the
 * report itself) and JUnit XML for CI. */
#ifndef RATCHET_CLI_TEST_REPORT_H
#define RATCHET_CLI_TEST_REPORT_H

#include <jansson.h>
#include <stdio.h>

struct err;

enum test_report_format { TEST_REPORT_TEXT, TEST_REPORT_JSON, TEST_REPORT_JUNIT };

/* Parses "text", "json" or "junit"; NULL means text. Returns 0 or -E_USAGE. */
int test_report_format_parse(const char *s, enum test_report_format *out, struct err *err);
/* Writes the report in the format to out. */
void test_report_print(FILE *out, const json_t *report, enum test_report_format format);
/* Writes "recorded <file>: <folder>" for each test the run recorded (--record). */
void test_report_print_recordings(FILE *out, const json_t *report);
/* Writes s escaped for XML 1.0 text or attribute values: markup characters as entities,
 * control characters XML cannot hold as U+FFFD, and in attributes tab/CR/LF as references. */
void test_report_xml_escape(FILE *out, const char *s, int in_attribute);

#endif
