/* Exercises WASI p1 through wasi-libc, driven by its input, a JSON string "command:argument":
     read:PATH   write:PATH   env:NAME   args   stdin   raw-open
     print   flood   random   hold:PATH
   and answers a JSON object. Without an fs grant libc finds no preopened directory, so file
   calls fail with an errno; `raw-open` calls path_open directly on fd 3. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wasi/api.h>
#include "probe.h"

static char out[8192];

static void answer(const char *json) { probe_output_write(json, (int32_t)strlen(json)); }

/* Appends `text` to `dst` as the inside of a JSON string. */
static void json_text(char *dst, size_t cap, const char *text) {
  size_t n = strlen(dst);
  for (; *text && n + 7 < cap; text++) {
    unsigned char c = (unsigned char)*text;
    if (c == '"' || c == '\\') { dst[n++] = '\\'; dst[n++] = (char)c; }
    else if (c < 0x20) n += (size_t)snprintf(dst + n, cap - n, "\\u%04x", c);
    else dst[n++] = (char)c;
  }
  dst[n] = 0;
}

static void fail(const char *what) {
  snprintf(out, sizeof out, "{\"ok\":false,\"what\":\"%s\",\"errno\":%d,\"error\":\"", what, errno);
  json_text(out, sizeof out, strerror(errno));
  strncat(out, "\"}", sizeof out - strlen(out) - 1);
  answer(out);
}

__attribute__((export_name("execute"))) int execute(void) {
  char input[1024] = {0};
  int32_t len = probe_input_len();
  if (len < 2 || len >= (int32_t)sizeof input) return 1;
  probe_input_read(input);
  input[len - 1] = 0; /* drop the closing quote */
  char *cmd = input + 1;
  char *arg = strchr(cmd, ':');
  if (arg) *arg++ = 0;

  if (strcmp(cmd, "read") == 0) {
    FILE *f = fopen(arg, "r");
    if (!f) { fail("open"); return 0; }
    char buf[4096] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    strcpy(out, "{\"ok\":true,\"content\":\"");
    json_text(out, sizeof out, buf);
    strncat(out, "\"}", sizeof out - strlen(out) - 1);
    answer(out);
  } else if (strcmp(cmd, "write") == 0) {
    FILE *f = fopen(arg, "w");
    if (!f) { fail("open"); return 0; }
    int wrote = fputs("written by the guest\n", f);
    if (fclose(f) != 0 || wrote < 0) { fail("write"); return 0; }
    answer("{\"ok\":true}");
  } else if (strcmp(cmd, "env") == 0) {
    const char *v = getenv(arg);
    if (!v) { answer("{\"value\":null}"); return 0; }
    strcpy(out, "{\"value\":\"");
    json_text(out, sizeof out, v);
    strncat(out, "\"}", sizeof out - strlen(out) - 1);
    answer(out);
  } else if (strcmp(cmd, "args") == 0) {
    __wasi_size_t argc = 0, size = 0;
    if (__wasi_args_sizes_get(&argc, &size) != 0) return 3;
    char **argv = calloc(argc + 1, sizeof(char *));
    char *buf = calloc(size + 1, 1);
    if (__wasi_args_get((uint8_t **)argv, (uint8_t *)buf) != 0) return 3;
    strcpy(out, "{\"args\":[");
    for (__wasi_size_t i = 0; i < argc; i++) {
      strncat(out, i ? ",\"" : "\"", sizeof out - strlen(out) - 1);
      json_text(out, sizeof out, argv[i]);
      strncat(out, "\"", sizeof out - strlen(out) - 1);
    }
    strncat(out, "]}", sizeof out - strlen(out) - 1);
    answer(out);
  } else if (strcmp(cmd, "stdin") == 0) {
    char buf[16];
    ssize_t n = read(0, buf, sizeof buf);
    snprintf(out, sizeof out, "{\"read\":%d}", (int)n);
    answer(out);
  } else if (strcmp(cmd, "print") == 0) {
    printf("to stdout\n");
    fflush(stdout);
    fprintf(stderr, "to stderr\n");
    probe_log(PROBE_WARN, "to the log", 10);
    printf("unterminated");
    fflush(stdout); /* a reactor never exits, so libc never flushes its buffers on its own */
    answer("{\"printed\":true}");
  } else if (strcmp(cmd, "flood") == 0) {
    for (int i = 0; i < 100000; i++) printf("line %d of a guest that prints in a loop\n", i);
    fflush(stdout);
    answer("{\"flooded\":true}");
  } else if (strcmp(cmd, "random") == 0) {
    unsigned char bytes[16];
    if (__wasi_random_get(bytes, sizeof bytes) != 0) return 3;
    strcpy(out, "{\"hex\":\"");
    for (size_t i = 0; i < sizeof bytes; i++) snprintf(out + strlen(out), 3, "%02x", bytes[i]);
    strncat(out, "\"}", sizeof out - strlen(out) - 1);
    answer(out);
  } else if (strcmp(cmd, "hold") == 0) {
    /* Opens PATH until an open fails (at most 500 times), closes them all, opens it once more. */
    static FILE *held[500];
    int n = 0, err = 0;
    while (n < 500) {
      FILE *f = fopen(arg, "r");
      if (!f) { err = errno; break; }
      held[n++] = f;
    }
    for (int i = 0; i < n; i++) fclose(held[i]);
    FILE *again = fopen(arg, "r");
    if (again) fclose(again);
    snprintf(out, sizeof out, "{\"opened\":%d,\"errno\":%d,\"reopened\":%s}", n, err, again ? "true" : "false");
    answer(out);
  } else if (strcmp(cmd, "raw-open") == 0) {
    __wasi_fd_t fd = 0;
    __wasi_errno_t e = __wasi_path_open(3, 0, "etc/passwd", 0, 0, 0, 0, &fd);
    snprintf(out, sizeof out, "{\"errno\":%d}", (int)e);
    answer(out);
  } else {
    return 2;
  }
  return 0;
}
