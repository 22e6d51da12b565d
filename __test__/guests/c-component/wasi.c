/* A component of the probe world written in C: `execute` is exported through the canonical ABI
   by hand, and files, environment and arguments go through wasi-libc, whose WASI p1 calls the
   p1 adapter turns into WASI 0.2 (wasi:filesystem, wasi:cli). scripts/build-guests.mjs embeds the
   WIT and wraps it with jco's componentEmbed / componentNew.
   Input: a JSON string "read:PATH" | "hold:PATH" | "write:PATH" | "env:NAME" | "args"; answers ok(JSON). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((export_name("cabi_realloc"))) void *cabi_realloc(void *ptr, size_t old_size, size_t align, size_t new_size) {
  (void)old_size;
  (void)align;
  return realloc(ptr, new_size);
}

/* result<string, string> in the return area: discriminant byte, then (pointer, length). */
static struct {
  uint8_t tag;
  char *ptr;
  size_t len;
} result;

static char out[8192];

static void *answer(int ok) {
  result.tag = ok ? 0 : 1;
  result.ptr = out;
  result.len = strlen(out);
  return &result;
}

static void json_text(const char *text) {
  size_t n = strlen(out);
  for (; *text && n + 7 < sizeof out; text++) {
    unsigned char c = (unsigned char)*text;
    if (c == '"' || c == '\\') { out[n++] = '\\'; out[n++] = (char)c; }
    else if (c < 0x20) n += (size_t)snprintf(out + n, sizeof out - n, "\\u%04x", c);
    else out[n++] = (char)c;
  }
  out[n] = 0;
}

static void *failed(const char *what) {
  snprintf(out, sizeof out, "{\"ok\":false,\"what\":\"%s\",\"errno\":%d}", what, errno);
  return answer(1);
}

__attribute__((export_name("execute"))) void *execute(char *input, size_t len) {
  char command[1024] = {0};
  if (len < 2 || len >= sizeof command) { strcpy(out, "bad input"); return answer(0); }
  memcpy(command, input + 1, len - 2); /* drop the JSON string's quotes */
  char *arg = strchr(command, ':');
  if (arg) *arg++ = 0;
  out[0] = 0;
  if (strcmp(command, "read") == 0) {
    FILE *f = fopen(arg, "r");
    if (!f) return failed("open");
    char buf[4096] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    strcpy(out, "{\"ok\":true,\"content\":\"");
    json_text(buf);
    strcat(out, "\"}");
  } else if (strcmp(command, "hold") == 0) {
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
    return answer(1);
  } else if (strcmp(command, "write") == 0) {
    FILE *f = fopen(arg, "w");
    if (!f) return failed("open");
    int wrote = fputs("written by the component\n", f);
    if (fclose(f) != 0 || wrote < 0) return failed("write");
    strcpy(out, "{\"ok\":true}");
  } else if (strcmp(command, "env") == 0) {
    const char *v = getenv(arg);
    if (!v) {
      strcpy(out, "{\"value\":null}");
    } else {
      strcpy(out, "{\"value\":\"");
      json_text(v);
      strcat(out, "\"}");
    }
  } else {
    strcpy(out, "unknown command");
    return answer(0);
  }
  return answer(1);
}
