/* "Did you mean": the closest known name to a mistyped one, for the messages of the config
   loader and the CLI. Part of libcbrl_run. */
#ifndef CBRL_RUN_SUGGEST_H
#define CBRL_RUN_SUGGEST_H

#include "cbrl/export.h"

/* The candidate closest to word by edit distance (insertions, deletions, substitutions and
   swaps of neighbours, with '-' and '_' counted as equal), or NULL when none is within
   max(1, strlen(word) / 3) edits. */
CBRL_API const char *cbrl_suggest(const char *word, const char *const *candidates, int n_candidates);

#endif /* CBRL_RUN_SUGGEST_H */
