/* A CPU-bound probe for bench/loading.mjs: the same work on every compiler tier.
   Input {"rounds": N} (default 3). Each round sieves the primes below 1,000,000 (integer ops,
   byte loads and stores, branches) and renders a 160x120 Mandelbrot set (float arithmetic);
   the output sums them so the work cannot be skipped: {"primes": ..., "inside": ..., "rounds": N}.
   No libc I/O and no allocation: the only imports are the probe ABI's. */
#include <stdint.h>
#include "probe.h"

#define LIMIT 1000000
static uint8_t composite[LIMIT];

static int64_t sieve(void) {
  for (int i = 0; i < LIMIT; i++) composite[i] = 0;
  int64_t count = 0;
  for (int i = 2; i < LIMIT; i++) {
    if (composite[i]) continue;
    count++;
    for (int64_t j = (int64_t)i * i; j < LIMIT; j += i) composite[j] = 1;
  }
  return count;
}

static int64_t mandelbrot(int w, int h, int max_iter) {
  int64_t inside = 0;
  for (int y = 0; y < h; y++) {
    for (int x = 0; x < w; x++) {
      double cr = -2.0 + 3.0 * x / w, ci = -1.2 + 2.4 * y / h;
      double zr = 0, zi = 0;
      int k = 0;
      while (k < max_iter && zr * zr + zi * zi <= 4.0) {
        double t = zr * zr - zi * zi + cr;
        zi = 2.0 * zr * zi + ci;
        zr = t;
        k++;
      }
      if (k == max_iter) inside++;
    }
  }
  return inside;
}

static int put_int(char *p, int64_t v) {
  char tmp[24];
  int n = 0, len = 0;
  if (v < 0) { p[len++] = '-'; v = -v; }
  do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) p[len++] = tmp[--n];
  return len;
}

static int put_str(char *p, const char *s) {
  int n = 0;
  while (s[n]) { p[n] = s[n]; n++; }
  return n;
}

static char input[4096];
static char value[64];

__attribute__((export_name("execute"))) int execute(void) {
  int32_t len = probe_input_len();
  int rounds = 3;
  if (len > 0 && len < (int32_t)sizeof input) {
    probe_input_read(input);
    int32_t found = probe_json_get(input, len, "/rounds", 7);
    if (found > 0 && found < (int32_t)sizeof value) {
      probe_result_read(value);
      int r = 0;
      for (int i = 0; i < found && value[i] >= '0' && value[i] <= '9'; i++) r = r * 10 + (value[i] - '0');
      if (r > 0) rounds = r;
    }
  }
  int64_t primes = 0, inside = 0;
  for (int r = 0; r < rounds; r++) {
    primes += sieve();
    inside += mandelbrot(160, 120, 500);
  }
  char out[128];
  int n = 0;
  n += put_str(out + n, "{\"primes\":");
  n += put_int(out + n, primes);
  n += put_str(out + n, ",\"inside\":");
  n += put_int(out + n, inside);
  n += put_str(out + n, ",\"rounds\":");
  n += put_int(out + n, rounds);
  out[n++] = '}';
  probe_output_write(out, n);
  return 0;
}
