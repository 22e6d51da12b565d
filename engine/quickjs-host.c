/*
 * The host layer of the built-in JavaScript engine (QuickJS-ng, whose sources the build takes
 * from a registry package; see scripts/build-engine.mjs). First step of issue 27: the engine is
 * an ordinary core-module probe. Its `execute` reads `{ "source": "<ES module>", "input": <JSON> }`
 * through the probe ABI, evaluates the module, calls the module's own `execute(input)` (sync or
 * async), runs the job queue until nothing is pending, and writes the JSON of the value as output.
 * A throw or a rejection fails the probe with the error's message and the script's stack
 * (`probe.js:line:column`); so does a syntax error. `console.log`/`info`/`warn`/`error`/`debug`
 * become log records.
 *
 * Every execution is a fresh instance (the runtime's rule), so the paths that fail leave their
 * JS runtime to the instance's end instead of freeing it.
 */
#include <stdlib.h>
#include <string.h>
#include "quickjs.h"
#include "probe.h"

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

__attribute__((export_name("execute"))) int execute(void) {
  int32_t length = probe_input_len();
  char *text = malloc((size_t)length + 1);
  if (!text) {
    fail_text("the engine could not allocate its input");
    return 1;
  }
  probe_input_read(text);
  text[length] = 0;

  JSRuntime *rt = JS_NewRuntime();
  JSContext *ctx = rt ? JS_NewContext(rt) : NULL;
  if (!ctx) {
    fail_text("the engine could not start (out of memory)");
    return 1;
  }
  /* Below the wasm stack the runtime gives the guest, so that a deep recursion is a RangeError. */
  JS_SetMaxStackSize(rt, 256 * 1024);
  add_console(ctx);

  JSValue request = JS_ParseJSON(ctx, text, (size_t)length, "<input>");
  free(text);
  if (JS_IsException(request)) return fail_exception(ctx);
  JSValue source_value = JS_GetPropertyStr(ctx, request, "source");
  if (!JS_IsString(source_value)) {
    fail_text("the engine's input must be { \"source\": \"<ES module>\", \"input\": <JSON> }");
    return 1;
  }
  size_t source_length;
  const char *source = JS_ToCStringLen(ctx, &source_length, source_value);
  if (!source) return fail_exception(ctx);

  JSValue module = JS_Eval(ctx, source, source_length, "probe.js", JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY);
  JS_FreeCString(ctx, source);
  JS_FreeValue(ctx, source_value);
  if (JS_IsException(module)) return fail_exception(ctx);
  JSModuleDef *definition = JS_VALUE_GET_PTR(module);
  /* Evaluating a module gives a promise (top-level await): settle it before looking inside. */
  JSValue evaluated = JS_EvalFunction(ctx, module);
  if (JS_IsException(evaluated)) return fail_exception(ctx);
  if (run_jobs(rt) < 0) return fail_exception(ctx);
  if (JS_IsPromise(evaluated) && JS_PromiseState(ctx, evaluated) == JS_PROMISE_REJECTED) {
    JS_Throw(ctx, JS_PromiseResult(ctx, evaluated));
    return fail_exception(ctx);
  }
  JS_FreeValue(ctx, evaluated);

  JSValue namespace = JS_GetModuleNamespace(ctx, definition);
  JSValue entry = JS_GetPropertyStr(ctx, namespace, "execute");
  JS_FreeValue(ctx, namespace);
  if (!JS_IsFunction(ctx, entry)) {
    fail_text("the script exports no function named execute");
    return 1;
  }
  JSValue input = JS_GetPropertyStr(ctx, request, "input");
  JSValue result = JS_Call(ctx, entry, JS_UNDEFINED, 1, (JSValueConst *)&input);
  JS_FreeValue(ctx, input);
  JS_FreeValue(ctx, entry);
  if (JS_IsException(result)) return fail_exception(ctx);
  if (run_jobs(rt) < 0) return fail_exception(ctx);
  if (JS_IsPromise(result)) {
    JSPromiseStateEnum state = JS_PromiseState(ctx, result);
    if (state == JS_PROMISE_PENDING) {
      fail_text("the promise that execute returned can no longer settle: nothing it waits for is pending");
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

  JSValue json = JS_JSONStringify(ctx, result, JS_UNDEFINED, JS_UNDEFINED);
  JS_FreeValue(ctx, result);
  if (JS_IsException(json)) return fail_exception(ctx);
  if (JS_IsUndefined(json)) {
    probe_output_write("null", 4);
  } else {
    size_t out_length;
    const char *out = JS_ToCStringLen(ctx, &out_length, json);
    if (!out) return fail_exception(ctx);
    probe_output_write(out, (int32_t)out_length);
    JS_FreeCString(ctx, out);
  }
  JS_FreeValue(ctx, json);
  JS_FreeValue(ctx, request);
  JS_FreeContext(ctx);
  JS_FreeRuntime(rt);
  return 0;
}
