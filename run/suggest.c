/* Optimal-string-alignment distance (Levenshtein plus adjacent transpositions), two rows and
   a third for the transposition, on names that are at most a few dozen characters. */
#include "cbrl/run/suggest.h"

#include <string.h>

#define SUGGEST_MAX 64

static int same(char a, char b) {
  if (a == '-') a = '_';
  if (b == '-') b = '_';
  return a == b;
}

static int distance(const char *a, const char *b) {
  int n = (int)strlen(a), m = (int)strlen(b);
  if (n >= SUGGEST_MAX || m >= SUGGEST_MAX) return SUGGEST_MAX;
  int prev2[SUGGEST_MAX + 1], prev[SUGGEST_MAX + 1], cur[SUGGEST_MAX + 1];
  for (int j = 0; j <= m; j++) prev[j] = j, prev2[j] = j;
  for (int i = 1; i <= n; i++) {
    cur[0] = i;
    for (int j = 1; j <= m; j++) {
      int cost = !same(a[i - 1], b[j - 1]);
      int d = prev[j - 1] + cost;
      if (prev[j] + 1 < d) d = prev[j] + 1;
      if (cur[j - 1] + 1 < d) d = cur[j - 1] + 1;
      if (i > 1 && j > 1 && same(a[i - 1], b[j - 2]) && same(a[i - 2], b[j - 1]) && prev2[j - 2] + 1 < d)
        d = prev2[j - 2] + 1;
      cur[j] = d;
    }
    memcpy(prev2, prev, sizeof prev);
    memcpy(prev, cur, sizeof cur);
  }
  return prev[m];
}

const char *cbrl_suggest(const char *word, const char *const *candidates, int n_candidates) {
  if (!word || !candidates) return NULL;
  int limit = (int)strlen(word) / 3, best_d = SUGGEST_MAX;
  if (limit < 1) limit = 1;
  const char *best = NULL;
  for (int i = 0; i < n_candidates; i++) {
    if (!candidates[i]) continue;
    int d = distance(word, candidates[i]);
    if (d < best_d) best_d = d, best = candidates[i];
  }
  return best_d <= limit ? best : NULL;
}
