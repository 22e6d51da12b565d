/* The example extension's typed guest (text-stats.wit) in C, on wit-bindgen's bindings:
   words, lines and the longest word of a text. */
#include <stdlib.h>
#include <string.h>
#include "text_stats.h"

static int is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

void exports_example_text_stats_summarize(text_stats_string_t *text, exports_example_text_stats_summary_t *ret) {
  uint32_t words = 0, lines = text->len > 0 ? 1 : 0;
  size_t best_at = 0, best_len = 0;
  for (size_t i = 0; i < text->len;) {
    if (text->ptr[i] == '\n' && i + 1 < text->len) lines++;
    if (is_space(text->ptr[i])) {
      i++;
      continue;
    }
    size_t start = i;
    while (i < text->len && !is_space(text->ptr[i])) i++;
    words++;
    if (i - start > best_len) {
      best_at = start;
      best_len = i - start;
    }
  }
  ret->words = words;
  ret->lines = lines;
  ret->longest_word.is_some = best_len > 0;
  if (best_len > 0) text_stats_string_dup_n(&ret->longest_word.val, (const char *)text->ptr + best_at, best_len);
  text_stats_string_free(text);
}
