/* A C probe that checks an HTTP endpoint: input {"url": "..."}; answers
   {"url", "status", "ok", "latencyMs"}, or fails with the reason when the request did not go
   through (denied, timeout, too-large, failed). Needs capabilities.http for the URL's origin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "probe.h"

static char *read_result(int32_t len) {
  char *text = malloc((size_t)len + 1);
  probe_result_read(text);
  text[len] = 0;
  return text;
}

static int fail(const char *message) {
  probe_error_write(message, (int32_t)strlen(message));
  return 1;
}

__attribute__((export_name("execute"))) int execute(void) {
  int32_t len = probe_input_len();
  char *input = malloc((size_t)len + 1);
  probe_input_read(input);
  input[len] = 0;

  int32_t url_len = probe_json_get(input, len, "/url", 4);
  if (url_len < 2) return fail("input needs {\"url\": \"http://...\"}");
  char *url = read_result(url_len); /* JSON text, quotes included */

  char request[4096];
  int n = snprintf(request, sizeof request, "{\"method\":\"GET\",\"url\":%s,\"timeoutMs\":5000}", url);
  int64_t started = probe_monotonic_ns();
  int32_t result_len = probe_http_fetch(request, n);
  double latency_ms = (double)(probe_monotonic_ns() - started) / 1e6;
  char *result = read_result(result_len);

  int32_t status_len = probe_json_get(result, result_len, "/ok/status", 10);
  if (status_len < 0) {
    int32_t message_len = probe_json_get(result, result_len, "/err/message", 12);
    if (message_len < 2) return fail("the request failed");
    char *message = read_result(message_len); /* a JSON string: drop its quotes */
    message[message_len - 1] = 0;
    return fail(message + 1);
  }
  char *status = read_result(status_len);
  int code = atoi(status);
  char out[4600];
  int m = snprintf(out, sizeof out, "{\"url\":%s,\"status\":%d,\"ok\":%s,\"latencyMs\":%.3f}", url, code,
                   code >= 200 && code < 300 ? "true" : "false", latency_ms);
  probe_log(PROBE_INFO, out, m);
  probe_output_write(out, m);
  return 0;
}
