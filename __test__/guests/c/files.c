/* Tries to open a file through libc. Without an fs grant there is no preopened directory, so
   fopen fails with an errno the guest can handle. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "probe.h"

__attribute__((export_name("execute"))) int execute(void) {
  FILE *f = fopen("/etc/hostname", "r");
  char out[128];
  int n;
  if (f) {
    fclose(f);
    n = snprintf(out, sizeof out, "{\"opened\":true}");
  } else {
    n = snprintf(out, sizeof out, "{\"opened\":false,\"errno\":%d}", errno);
  }
  probe_output_write(out, n);
  return 0;
}
