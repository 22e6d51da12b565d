/*
 * The host layer of the built-in JavaScript engine (QuickJS-ng, whose sources the build takes
 * from a registry package; see scripts/build-engine.mjs). The engine is a core module of the
 * probe ABI; the script it runs comes from the host (`probe.script_*`, src/host/script.rs), so
 * one compiled engine serves every script.
 *   wizer-initialize: builds the JS runtime, context and globals. The build runs it once and
 *            snapshots the result (src/script/preinit.rs), so every instance starts with them.
 *   execute: evaluates the script as an ES module the first time in an instance (a long-lived
 *            instance keeps it, with its state), calls the exported function the host names
 *            (`probe.script_function_*`: `execute`, or another) with the input (sync or async),
 *            runs the job queue until nothing is pending, and writes the JSON of the value.
 *   check:   evaluates the script and writes the JSON array of its exported functions' names
 *            (`loadScript` runs it once, so a syntax error rejects the load).
 * A throw, a rejection or a syntax error fails the probe with the error's message and the
 * script's stack (`file:line:column`). `console.log`/`info`/`warn`/`error`/`debug` become log
 * records. A script may `import { log, events, json, clock, http } from 'probe:runtime'` and use
 * the `fetch` global (engine/prelude.js). `Math.random` is seeded from the host's randomness in each instance, on first use:
 * the snapshot holds no seed.
 *
 * Built with NDEBUG: a value an error path failed to release stays allocated until the instance
 * ends, instead of QuickJS's leak assertion trapping the call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdbool.h>
#include "quickjs.h"
#include "probe.h"
#include "prelude.h" /* engine/prelude.js as a C string, made by scripts/build-engine.mjs */

PROBE_IMPORT(script_len) int32_t probe_script_len(void);
PROBE_IMPORT(script_read) void probe_script_read(void *ptr);
PROBE_IMPORT(script_name_len) int32_t probe_script_name_len(void);
PROBE_IMPORT(script_name_read) void probe_script_name_read(void *ptr);
PROBE_IMPORT(script_function_len) int32_t probe_script_function_len(void);
PROBE_IMPORT(script_function_read) void probe_script_function_read(void *ptr);

static void fail_text(const char *message) {
  probe_error_write(message, (int32_t)strlen(message));
}

/* Fails the probe with the pending exception: its text, then its stack when it has one. */
static int fail_exception(JSContext *ctx) {
  JSValue exception = JS_GetException(ctx);
  const char *message = JS_ToCString(ctx, exception);
  const char *stack = NULL;
  if (JS_IsError(exception)) {
    JSValue s = JS_GetPropertyStr(ctx, exception, "stack");
    if (JS_IsString(s)) stack = JS_ToCString(ctx, s);
    JS_FreeValue(ctx, s);
  }
  const char *text = message ? message : "an exception that cannot be turned into text";
  size_t length = strlen(text) + (stack ? strlen(stack) + 1 : 0) + 1;
  char *buffer = malloc(length);
  if (!buffer) {
    fail_text(text);
  } else {
    strcpy(buffer, text);
    if (stack) {
      strcat(buffer, "\n");
      strcat(buffer, stack);
    }
    /* A stack ends with a line break: drop it. */
    size_t end = strlen(buffer);
    while (end > 0 && buffer[end - 1] == '\n') buffer[--end] = 0;
    probe_error_write(buffer, (int32_t)end);
    free(buffer);
  }
  if (stack) JS_FreeCString(ctx, stack);
  if (message) JS_FreeCString(ctx, message);
  JS_FreeValue(ctx, exception);
  return 1;
}

/* console.<level>(...args): one log record, the arguments as text joined by spaces. */
static JSValue console_log(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv, int level) {
  (void)this_val;
  size_t total = 0;
  char *line = NULL;
  for (int i = 0; i < argc; i++) {
    size_t length;
    const char *part = JS_ToCStringLen(ctx, &length, argv[i]);
    if (!part) return JS_EXCEPTION;
    char *grown = realloc(line, total + length + 2);
    if (!grown) {
      JS_FreeCString(ctx, part);
      free(line);
      return JS_ThrowOutOfMemory(ctx);
    }
    line = grown;
    if (i > 0) line[total++] = ' ';
    memcpy(line + total, part, length);
    total += length;
    JS_FreeCString(ctx, part);
  }
  probe_log(level, line ? line : "", (int32_t)total);
  free(line);
  return JS_UNDEFINED;
}

static void add_console(JSContext *ctx) {
  static const struct { const char *name; int level; } methods[] = {
    { "debug", PROBE_DEBUG }, { "log", PROBE_INFO }, { "info", PROBE_INFO },
    { "warn", PROBE_WARN }, { "error", PROBE_ERROR },
  };
  JSValue global = JS_GetGlobalObject(ctx);
  JSValue console = JS_NewObject(ctx);
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
    JSValue f = JS_NewCFunctionMagic(ctx, console_log, methods[i].name, 0, JS_CFUNC_generic_magic, methods[i].level);
    JS_SetPropertyStr(ctx, console, methods[i].name, f);
  }
  JS_SetPropertyStr(ctx, global, "console", console);
  JS_FreeValue(ctx, global);
}

/* Runs queued jobs (promise reactions) until none is left; -1 when one threw. */
static int run_jobs(JSRuntime *rt) {
  JSContext *ctx;
  for (;;) {
    int ran = JS_ExecutePendingJob(rt, &ctx);
    if (ran <= 0) return ran;
  }
}

/* A host text (`len` then `read`) as a NUL-terminated string; NULL when there is none. */
static char *host_text(int32_t (*len)(void), void (*read)(void *), int32_t *length) {
  int32_t n = len();
  if (n < 0) return NULL;
  char *text = malloc((size_t)n + 1);
  if (!text) return NULL;
  read(text);
  text[n] = 0;
  *length = n;
  return text;
}

/* Math.random: xorshift128+ seeded from the host's randomness on first use in an instance. */
static uint64_t random_state[2];
static bool random_seeded;

static JSValue math_random(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
  (void)this_val, (void)argc, (void)argv;
  if (!random_seeded) {
    if (getentropy(random_state, sizeof random_state) != 0 || (random_state[0] | random_state[1]) == 0) {
      return JS_ThrowInternalError(ctx, "Math.random: no randomness from the host");
    }
    random_seeded = true;
  }
  uint64_t s1 = random_state[0];
  const uint64_t s0 = random_state[1];
  random_state[0] = s0;
  s1 ^= s1 << 23;
  random_state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
  /* 53 random bits as a double in [0, 1). */
  return JS_NewFloat64(ctx, (double)((random_state[1] + s0) >> 11) * (1.0 / 9007199254740992.0));
}

/* The host's primitives, for engine/prelude.js. */
static JSValue host_log(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
  (void)this_val, (void)argc;
  int32_t level;
  size_t length;
  if (JS_ToInt32(ctx, &level, argv[0])) return JS_EXCEPTION;
  const char *message = JS_ToCStringLen(ctx, &length, argv[1]);
  if (!message) return JS_EXCEPTION;
  probe_log(level, message, (int32_t)length);
  JS_FreeCString(ctx, message);
  return JS_UNDEFINED;
}

static JSValue host_emit(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
  (void)this_val, (void)argc;
  size_t name_length, data_length;
  const char *name = JS_ToCStringLen(ctx, &name_length, argv[0]);
  const char *data = name ? JS_ToCStringLen(ctx, &data_length, argv[1]) : NULL;
  if (data) probe_event_emit(name, (int32_t)name_length, data, (int32_t)data_length);
  if (data) JS_FreeCString(ctx, data);
  if (name) JS_FreeCString(ctx, name);
  return data ? JS_UNDEFINED : JS_EXCEPTION;
}

/* The host's last result (`result_read`) of `length` bytes, as a string. */
static JSValue host_result(JSContext *ctx, int32_t length) {
  char *text = malloc((size_t)length + 1);
  if (!text) return JS_ThrowOutOfMemory(ctx);
  probe_result_read(text);
  JSValue value = JS_NewStringLen(ctx, text, (size_t)length);
  free(text);
  return value;
}

/* The JSON text at a pointer: a string, undefined when absent, null when invalid. */
static JSValue host_json_get(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
  (void)this_val, (void)argc;
  size_t doc_length, pointer_length;
  const char *doc = JS_ToCStringLen(ctx, &doc_length, argv[0]);
  const char *pointer = doc ? JS_ToCStringLen(ctx, &pointer_length, argv[1]) : NULL;
  if (!pointer) {
    if (doc) JS_FreeCString(ctx, doc);
    return JS_EXCEPTION;
  }
  int32_t found = probe_json_get(doc, (int32_t)doc_length, pointer, (int32_t)pointer_length);
  JS_FreeCString(ctx, pointer);
  JS_FreeCString(ctx, doc);
  if (found == -1) return JS_UNDEFINED;
  if (found < 0) return JS_NULL;
  return host_result(ctx, found);
}

static JSValue host_now_ms(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
  (void)this_val, (void)argc, (void)argv;
  return JS_NewFloat64(ctx, (double)probe_now_ms());
}

static JSValue host_monotonic_ns(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
  (void)this_val, (void)argc, (void)argv;
  return JS_NewBigUint64(ctx, (uint64_t)probe_monotonic_ns());
}

/* One HTTP request through the host: the result JSON of `probe.http_fetch`. */
static JSValue host_http_fetch(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
  (void)this_val, (void)argc;
  size_t length;
  const char *request = JS_ToCStringLen(ctx, &length, argv[0]);
  if (!request) return JS_EXCEPTION;
  int32_t answer = probe_http_fetch(request, (int32_t)length);
  JS_FreeCString(ctx, request);
  return host_result(ctx, answer);
}

/* Fills a Uint8Array with the host's randomness (crypto.getRandomValues). */
static JSValue host_random_fill(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
  (void)this_val, (void)argc;
  size_t length;
  uint8_t *bytes = JS_GetUint8Array(ctx, &length, argv[0]);
  if (!bytes) return JS_EXCEPTION;
  for (size_t done = 0; done < length; done += 256) {
    size_t chunk = length - done < 256 ? length - done : 256; /* getentropy's most per call */
    if (getentropy(bytes + done, chunk) != 0) return JS_ThrowInternalError(ctx, "crypto: no randomness from the host");
  }
  return JS_UNDEFINED;
}

/* The interfaces of `probe:runtime`, made by the prelude. */
static JSValue probe_api;
static const char *const PROBE_EXPORTS[] = { "log", "events", "json", "clock", "http" };
#define PROBE_EXPORT_COUNT (sizeof PROBE_EXPORTS / sizeof PROBE_EXPORTS[0])

static int init_probe_module(JSContext *ctx, JSModuleDef *module) {
  for (size_t i = 0; i < PROBE_EXPORT_COUNT; i++) {
    if (JS_SetModuleExport(ctx, module, PROBE_EXPORTS[i], JS_GetPropertyStr(ctx, probe_api, PROBE_EXPORTS[i]))) return -1;
  }
  return 0;
}

/* A script may import `probe:runtime` and nothing else. */
static JSModuleDef *load_module(JSContext *ctx, const char *name, void *opaque) {
  (void)opaque;
  if (strcmp(name, "probe:runtime") != 0) {
    JS_ThrowReferenceError(ctx, "cannot import '%s': a script may import only 'probe:runtime'", name);
    return NULL;
  }
  JSModuleDef *module = JS_NewCModule(ctx, name, init_probe_module);
  if (!module) return NULL;
  for (size_t i = 0; i < PROBE_EXPORT_COUNT; i++) JS_AddModuleExport(ctx, module, PROBE_EXPORTS[i]);
  return module;
}

/* Runs the prelude with the host's primitives: it defines `fetch` and returns the interfaces. */
static int add_probe_api(JSContext *ctx) {
  static const struct { const char *name; JSCFunction *fn; int length; } primitives[] = {
    { "log", host_log, 2 }, { "emit", host_emit, 2 }, { "jsonGet", host_json_get, 2 },
    { "nowMs", host_now_ms, 0 }, { "monotonicNs", host_monotonic_ns, 0 }, { "httpFetch", host_http_fetch, 1 },
    { "randomFill", host_random_fill, 1 },
  };
  JSValue host = JS_NewObject(ctx);
  for (size_t i = 0; i < sizeof primitives / sizeof primitives[0]; i++) {
    JS_SetPropertyStr(ctx, host, primitives[i].name, JS_NewCFunction(ctx, primitives[i].fn, primitives[i].name, primitives[i].length));
  }
  JSValue make = JS_Eval(ctx, PRELUDE, strlen(PRELUDE), "<prelude>", JS_EVAL_TYPE_GLOBAL);
  if (JS_IsException(make)) return -1;
  probe_api = JS_Call(ctx, make, JS_UNDEFINED, 1, (JSValueConst *)&host);
  JS_FreeValue(ctx, make);
  JS_FreeValue(ctx, host);
  if (JS_IsException(probe_api)) return -1;
  JS_SetModuleLoaderFunc(JS_GetRuntime(ctx), NULL, load_module, NULL);
  return 0;
}

/* QuickJS's limit on the C stack (linear memory, 1 MiB in all). A JS call takes a little more
 * wasm stack than C stack, so this trips — a catchable RangeError, about 1 100 calls deep — before
 * the wasm stack runs out at the runtime's default limits.stackBytes (1 MiB) and down to 512 KiB;
 * below that the runtime stops the script with ERR_WASM_STACK_OVERFLOW. */
#define STACK_LIMIT (384 * 1024)

/* The engine's context, built once per instance (or before the snapshot), with its globals. */
static JSContext *engine;

static JSContext *the_context(void) {
  if (engine) return engine;
  JSRuntime *rt = JS_NewRuntime();
  JSContext *ctx = rt ? JS_NewContext(rt) : NULL;
  if (!ctx) return NULL;
  JS_SetMaxStackSize(rt, STACK_LIMIT);
  add_console(ctx);
  JSValue global = JS_GetGlobalObject(ctx);
  JSValue math = JS_GetPropertyStr(ctx, global, "Math");
  JS_SetPropertyStr(ctx, math, "random", JS_NewCFunction(ctx, math_random, "random", 0));
  JS_FreeValue(ctx, math);
  JS_FreeValue(ctx, global);
  if (add_probe_api(ctx) < 0) {
    fail_exception(ctx);
    return NULL;
  }
  engine = ctx;
  return ctx;
}

__attribute__((export_name("wizer-initialize"))) void wizer_initialize(void) {
  the_context();
}

/* The script's namespace in this instance, once evaluated. */
static JSValue script_namespace;
static bool script_evaluated;

/* Evaluates the host's script as an ES module: its namespace, or JS_EXCEPTION (pending) /
 * JS_NULL (already reported). */
static JSValue evaluate_script(JSContext *ctx) {
  int32_t name_length, source_length;
  char *name = host_text(probe_script_name_len, probe_script_name_read, &name_length);
  char *source = host_text(probe_script_len, probe_script_read, &source_length);
  if (!name || !source) {
    free(name);
    free(source);
    fail_text("the engine runs scripts loaded with loadScript; this execution has none");
    return JS_NULL;
  }
  JSValue module = JS_Eval(ctx, source, (size_t)source_length, name, JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
  free(source);
  free(name);
  if (JS_IsException(module)) return JS_EXCEPTION;
  JSModuleDef *definition = JS_VALUE_GET_PTR(module);
  /* Evaluating a module gives a promise (top-level await): settle it before looking inside. */
  JSValue evaluated = JS_EvalFunction(ctx, module);
  if (JS_IsException(evaluated)) return JS_EXCEPTION;
  if (run_jobs(JS_GetRuntime(ctx)) < 0) return JS_EXCEPTION;
  if (JS_IsPromise(evaluated) && JS_PromiseState(ctx, evaluated) == JS_PROMISE_REJECTED) {
    JS_Throw(ctx, JS_PromiseResult(ctx, evaluated));
    JS_FreeValue(ctx, evaluated);
    return JS_EXCEPTION;
  }
  JS_FreeValue(ctx, evaluated);
  return JS_GetModuleNamespace(ctx, definition);
}

/* The script's namespace (a new reference), evaluating it the first time. */
static JSValue the_script(JSContext *ctx) {
  if (!script_evaluated) {
    JSValue namespace = evaluate_script(ctx);
    if (JS_IsException(namespace) || JS_IsNull(namespace)) return namespace;
    script_namespace = namespace;
    script_evaluated = true;
  }
  return JS_DupValue(ctx, script_namespace);
}

/* Writes `value` as the output JSON (`null` for undefined). */
static int write_output(JSContext *ctx, JSValue value) {
  JSValue json = JS_JSONStringify(ctx, value, JS_UNDEFINED, JS_UNDEFINED);
  JS_FreeValue(ctx, value);
  if (JS_IsException(json)) return fail_exception(ctx);
  if (JS_IsUndefined(json)) {
    probe_output_write("null", 4);
    return 0;
  }
  size_t length;
  const char *out = JS_ToCStringLen(ctx, &length, json);
  JS_FreeValue(ctx, json);
  if (!out) return fail_exception(ctx);
  probe_output_write(out, (int32_t)length);
  JS_FreeCString(ctx, out);
  return 0;
}

/* Runs `work` in the engine's context. */
static int with_context(int (*work)(JSContext *)) {
  JSContext *ctx = the_context();
  if (!ctx) {
    fail_text("the engine could not start (out of memory)");
    return 1;
  }
  return work(ctx);
}

static int check_script(JSContext *ctx) {
  JSValue namespace = the_script(ctx);
  if (JS_IsException(namespace)) return fail_exception(ctx);
  if (JS_IsNull(namespace)) return 1;
  JSPropertyEnum *names;
  uint32_t count;
  if (JS_GetOwnPropertyNames(ctx, &names, &count, namespace, JS_GPN_STRING_MASK | JS_GPN_ENUM_ONLY) < 0) return fail_exception(ctx);
  JSValue functions = JS_NewArray(ctx);
  uint32_t listed = 0;
  for (uint32_t i = 0; i < count; i++) {
    JSValue value = JS_GetProperty(ctx, namespace, names[i].atom);
    if (JS_IsFunction(ctx, value)) JS_SetPropertyUint32(ctx, functions, listed++, JS_AtomToString(ctx, names[i].atom));
    JS_FreeValue(ctx, value);
  }
  JS_FreePropertyEnum(ctx, names, count);
  JS_FreeValue(ctx, namespace);
  return write_output(ctx, functions);
}

static int execute_script(JSContext *ctx) {
  int32_t length;
  char *text = host_text(probe_input_len, probe_input_read, &length);
  if (!text) {
    fail_text("the engine could not read its input (out of memory)");
    return 1;
  }
  JSValue input = JS_ParseJSON(ctx, text, (size_t)length, "<input>");
  free(text);
  if (JS_IsException(input)) return fail_exception(ctx);
  JSValue namespace = the_script(ctx);
  if (JS_IsException(namespace) || JS_IsNull(namespace)) {
    JS_FreeValue(ctx, input);
    return JS_IsNull(namespace) ? 1 : fail_exception(ctx);
  }
  int32_t function_length;
  char *function = host_text(probe_script_function_len, probe_script_function_read, &function_length);
  JSValue entry = function ? JS_GetPropertyStr(ctx, namespace, function) : JS_UNDEFINED;
  JS_FreeValue(ctx, namespace);
  if (!JS_IsFunction(ctx, entry)) {
    JS_FreeValue(ctx, entry);
    JS_FreeValue(ctx, input);
    char message[200];
    snprintf(message, sizeof message, "the script exports no function named %.120s", function ? function : "(none given)");
    free(function);
    fail_text(message);
    return 1;
  }
  free(function);
  JSValue result = JS_Call(ctx, entry, JS_UNDEFINED, 1, (JSValueConst *)&input);
  JS_FreeValue(ctx, input);
  JS_FreeValue(ctx, entry);
  if (JS_IsException(result)) return fail_exception(ctx);
  if (run_jobs(JS_GetRuntime(ctx)) < 0) return fail_exception(ctx);
  if (JS_IsPromise(result)) {
    JSPromiseStateEnum state = JS_PromiseState(ctx, result);
    if (state == JS_PROMISE_PENDING) {
      fail_text("the promise the function returned can no longer settle: nothing it waits for is pending");
      return 1;
    }
    JSValue settled = JS_PromiseResult(ctx, result);
    JS_FreeValue(ctx, result);
    if (state == JS_PROMISE_REJECTED) {
      JS_Throw(ctx, settled);
      return fail_exception(ctx);
    }
    result = settled;
  }
  return write_output(ctx, result);
}

__attribute__((export_name("check"))) int check(void) {
  return with_context(check_script);
}

__attribute__((export_name("execute"))) int execute(void) {
  return with_context(execute_script);
}
