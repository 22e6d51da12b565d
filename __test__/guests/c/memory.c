/* Allocates 1 MiB blocks until malloc fails. With input "abort" it then aborts (a guest that
   fails after the runtime refused to grow its memory); otherwise it reports how much it got. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "probe.h"

__attribute__((export_name("execute"))) int execute(void) {
  char input[64] = {0};
  int32_t len = probe_input_len();
  if (len < (int32_t)sizeof input) probe_input_read(input);
  int blocks = 0;
  void **chain = NULL; /* keep every block reachable so the compiler cannot drop the mallocs */
  while (blocks < 100000) {
    void **p = malloc(1 << 20);
    if (!p) break;
    memset(p, 1, 1 << 20);
    *p = chain;
    chain = p;
    blocks++;
  }
  int depth = 0;
  for (void **p = chain; p; p = *p) depth++;
  if (depth != blocks) return 2;
  if (strstr(input, "abort")) abort();
  char out[64];
  int n = snprintf(out, sizeof out, "{\"mib\":%d}", blocks);
  probe_output_write(out, n);
  return 0;
}
