/* The typed test world (../typed/typed.wit) in C, on bindings wit-bindgen generates at build time
   (scripts/build-guests.mjs): every WIT type kind in and out, guest errors, instance state,
   imports the tests implement in JavaScript, and events around a request.
   Ownership as wit-bindgen's C ABI has it: parameters belong to the callee (moved or freed here),
   results are heap memory the post-return functions free. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "typed.h"

static void dup_text(typed_string_t *ret, const char *text) { typed_string_dup(ret, text); }

/* A NUL-terminated copy of a WIT string (freed by the caller). */
static char *cstr(const typed_string_t *s) {
  char *out = malloc(s->len + 1);
  memcpy(out, s->ptr, s->len);
  out[s->len] = 0;
  return out;
}

static void emit(const char *name, const char *data) {
  typed_string_t n, d;
  typed_string_set(&n, name);
  typed_string_set(&d, data);
  probe_runtime_events_emit(&n, &d);
}

void exports_typed_hello(typed_string_t *name, typed_string_t *ret) {
  char *who = cstr(name);
  char buf[256];
  snprintf(buf, sizeof buf, "hello, %s", who);
  free(who);
  typed_string_free(name);
  dup_text(ret, buf);
}

/* The probe export: its input back, unchanged. */
bool exports_typed_execute(typed_string_t *input, typed_string_t *ret, typed_string_t *err) {
  (void)err;
  *ret = *input;
  return true;
}

/* Every field moves from the parameter to the result. */
void exports_test_typed_api_echo(exports_test_typed_api_everything_t *value, exports_test_typed_api_everything_t *ret) {
  *ret = *value;
}

uint64_t exports_test_typed_api_add(int64_t a, uint64_t b) { return (uint64_t)a + b; }

double exports_test_typed_api_area(exports_test_typed_api_shape_t *s) {
  switch (s->tag) {
    case TEST_TYPED_TYPES_SHAPE_CIRCLE: return M_PI * (double)s->val.circle * (double)s->val.circle;
    case TEST_TYPED_TYPES_SHAPE_RECT: return fabs((double)s->val.rect.x * (double)s->val.rect.y);
    default: return 0;
  }
}

void exports_test_typed_api_translate(exports_test_typed_api_list_point_t *points, int32_t dx, exports_test_typed_api_list_point_t *ret) {
  for (size_t i = 0; i < points->len; i++) points->ptr[i].x += dx;
  *ret = *points;
}

void exports_test_typed_api_pick(exports_test_typed_api_color_t c, exports_test_typed_api_perms_t p, typed_string_t *ret) {
  static const char *colors[] = {"red", "green", "blue-ish"};
  char buf[64];
  snprintf(buf, sizeof buf, "%s:", colors[c]);
  const char *names[] = {"read", "write", "execAll"};
  int first = 1;
  for (int i = 0; i < 3; i++) {
    if (p & (1 << i)) {
      strcat(buf, first ? "" : ",");
      strcat(buf, names[i]);
      first = 0;
    }
  }
  dup_text(ret, buf);
}

bool exports_test_typed_api_checked_div(int32_t a, int32_t b, int32_t *ret, typed_string_t *err) {
  if (b == 0) {
    dup_text(err, "division by zero");
    return false;
  }
  *ret = a / b;
  return true;
}

bool exports_test_typed_api_parse_position(typed_string_t *text, exports_test_typed_api_position_t *ret, exports_test_typed_api_parse_error_t *err) {
  if (text->len == 0) {
    err->tag = TEST_TYPED_TYPES_PARSE_ERROR_EMPTY;
    return false;
  }
  char *s = cstr(text);
  unsigned line, character;
  char rest;
  bool ok = sscanf(s, "%u:%u%c", &line, &character, &rest) == 2;
  free(s);
  if (!ok) {
    err->tag = TEST_TYPED_TYPES_PARSE_ERROR_BAD_NUMBER;
    err->val.bad_number = *text; /* moved */
    return false;
  }
  typed_string_free(text);
  ret->line = line;
  ret->character = character;
  return true;
}

uint32_t exports_test_typed_api_bytes_len(typed_list_u8_t *b) {
  uint32_t n = (uint32_t)b->len;
  typed_list_u8_free(b);
  return n;
}

bool exports_test_typed_api_maybe_double(uint32_t *maybe_n, uint32_t *ret) {
  if (!maybe_n) return false;
  *ret = *maybe_n * 2;
  return true;
}

bool exports_test_typed_api_nested(typed_option_u32_t *maybe_n, typed_option_u32_t *ret) {
  if (!maybe_n) return false;
  *ret = *maybe_n;
  return true;
}

static uint32_t counter = 0;
uint32_t exports_test_typed_api_count(void) { return ++counter; }

void exports_test_typed_api_line_via_editor(typed_string_t *uri, uint32_t line, typed_string_t *ret) {
  test_typed_editor_get_line(uri, line, ret);
  typed_string_free(uri);
}

bool exports_test_typed_api_read_via_editor(typed_string_t *uri, typed_string_t *ret, typed_string_t *err) {
  bool ok = test_typed_editor_read_document(uri, ret, err);
  typed_string_free(uri);
  return ok;
}

uint32_t exports_test_typed_api_offset_via_editor(uint32_t line, uint32_t character) {
  test_typed_editor_position_t pos = {line, character};
  return test_typed_editor_offset_at(&pos);
}

void exports_test_typed_api_notify(typed_string_t *text) {
  test_typed_editor_show_message(text);
  typed_string_free(text);
}

bool exports_test_typed_api_slow_fetch(typed_string_t *url, uint16_t *ret, typed_string_t *err) {
  char *u = cstr(url);
  char data[1200];
  snprintf(data, sizeof data, "{\"url\":\"%.1100s\"}", u);
  free(u);
  emit("loading", data);
  probe_runtime_http_request_t req = {0};
  typed_string_set(&req.method, "GET");
  req.url = *url;
  probe_runtime_http_response_t response;
  probe_runtime_http_error_t error;
  bool ok = probe_runtime_http_fetch(&req, &response, &error);
  typed_string_free(url);
  if (!ok) {
    static const char *kinds[] = {"denied", "timeout", "too-large", "failed"};
    char why[64];
    snprintf(why, sizeof why, "fetch failed: %s", kinds[error.tag]);
    probe_runtime_http_error_free(&error);
    dup_text(err, why);
    return false;
  }
  snprintf(data, sizeof data, "{\"status\":%u}", response.status);
  emit("loaded", data);
  *ret = response.status;
  probe_runtime_http_response_free(&response);
  return true;
}

/* A resource, so that the tests see invoke refuse what cannot cross to JavaScript. */
struct exports_test_typed_api_counter_t {
  uint32_t n;
};

exports_test_typed_api_own_counter_t exports_test_typed_api_constructor_counter(void) {
  exports_test_typed_api_counter_t *rep = calloc(1, sizeof *rep);
  return exports_test_typed_api_counter_new(rep);
}

uint32_t exports_test_typed_api_method_counter_next(exports_test_typed_api_borrow_counter_t self) { return ++self->n; }

exports_test_typed_api_own_counter_t exports_test_typed_api_make_counter(void) { return exports_test_typed_api_constructor_counter(); }

void exports_test_typed_api_counter_destructor(exports_test_typed_api_counter_t *rep) { free(rep); }
