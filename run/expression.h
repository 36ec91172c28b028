/* Arithmetic in a type parameter theta, for the numbers of a problem file's context templates
   (docs/PROBLEM_FILES.md, Contexts from a distribution): numbers, theta, pi, + - * / ^ (or **),
   parentheses and exp, log, sqrt, abs. Internal to libcbrl_run. */
#ifndef CBRL_RUN_EXPRESSION_H
#define CBRL_RUN_EXPRESSION_H

#include <stddef.h>

/* Evaluates text at theta into *out (which may be NaN or infinite: the caller checks). Returns
   0, or -1 with the reason and its column (from 1) in why for text that is not an expression. */
int cbrl_expression_eval(const char *text, double theta, double *out, char *why, size_t size);

#endif /* CBRL_RUN_EXPRESSION_H */
