/* The core-module ABI of wasm-probe-runtime (import module "probe"), for C guests. */
#ifndef WASM_PROBE_H
#define WASM_PROBE_H
#include <stdint.h>

#define PROBE_IMPORT(name) __attribute__((import_module("probe"), import_name(#name)))

PROBE_IMPORT(input_len) int32_t probe_input_len(void);
PROBE_IMPORT(input_read) void probe_input_read(void *ptr);
PROBE_IMPORT(output_write) void probe_output_write(const void *ptr, int32_t len);
PROBE_IMPORT(error_write) void probe_error_write(const void *ptr, int32_t len);
PROBE_IMPORT(log) void probe_log(int32_t level, const void *ptr, int32_t len);
/* An event for the embedder's onEvent, delivered at once: a name and JSON data. */
PROBE_IMPORT(event_emit) void probe_event_emit(const void *name, int32_t name_len, const void *data, int32_t data_len);
PROBE_IMPORT(http_fetch) int32_t probe_http_fetch(const void *ptr, int32_t len);
PROBE_IMPORT(json_get) int32_t probe_json_get(const void *doc, int32_t doc_len, const void *pointer, int32_t pointer_len);
PROBE_IMPORT(result_read) void probe_result_read(void *ptr);
PROBE_IMPORT(now_ms) int64_t probe_now_ms(void);
PROBE_IMPORT(monotonic_ns) int64_t probe_monotonic_ns(void);

enum { PROBE_TRACE = 0, PROBE_DEBUG = 1, PROBE_INFO = 2, PROBE_WARN = 3, PROBE_ERROR = 4 };

#endif
