/* A C probe: reads {"name": ...} from its input, greets it, and reports how long that took.
   Uses the probe imports (input, json_get, log, clock, output) and libc's stdio (WASI stdout). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "probe.h"

static void log_text(int level, const char *text) { probe_log(level, text, (int32_t)strlen(text)); }

__attribute__((export_name("execute"))) int execute(void) {
  int64_t start = probe_monotonic_ns();
  int32_t len = probe_input_len();
  char *input = malloc((size_t)len + 1);
  if (!input) return 1;
  probe_input_read(input);
  input[len] = 0;

  const char *pointer = "/name";
  int32_t found = probe_json_get(input, len, pointer, (int32_t)strlen(pointer));
  if (found == -2) {
    const char *msg = "input is not a JSON document";
    probe_error_write(msg, (int32_t)strlen(msg));
    return 1;
  }
  char name[256] = "world";
  if (found >= 0) {
    char *value = malloc((size_t)found + 1);
    probe_result_read(value);
    value[found] = 0;
    /* value is JSON text; strip the quotes of a string */
    if (found >= 2 && value[0] == '"') {
      value[found - 1] = 0;
      snprintf(name, sizeof name, "%s", value + 1);
    } else {
      snprintf(name, sizeof name, "%s", value);
    }
    free(value);
  }
  printf("greeting %s from C\n", name);
  log_text(PROBE_INFO, "c probe done");

  char out[512];
  int n = snprintf(out, sizeof out, "{\"greeting\":\"hello, %s\",\"language\":\"c\",\"elapsedNs\":%lld}", name,
                   (long long)(probe_monotonic_ns() - start));
  probe_output_write(out, n);
  free(input);
  return 0;
}
