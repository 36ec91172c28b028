/* Arithmetic in theta for problem-file templates (docs/PROBLEM_FILES.md): a recursive-descent
   evaluator, re-read at every node, which costs nothing next to a solve. Nesting is capped so
   that no input can exhaust the stack. */
#include "expression.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct parser {
  const char *s, *p;
  double theta;
  int depth;
  char *why;
  size_t size;
  int failed;
} parser;

static double fail(parser *q, const char *what) {
  if (!q->failed && q->why && q->size) snprintf(q->why, q->size, "%s at column %d", what, (int)(q->p - q->s) + 1);
  q->failed = 1;
  return NAN;
}

static void skip(parser *q) {
  while (*q->p == ' ' || *q->p == '\t') q->p++;
}

static double sum(parser *q);

static double primary(parser *q) {
  skip(q);
  if (++q->depth > MAX_DEPTH) return fail(q, "nesting deeper than 64");
  double v;
  if (isdigit((unsigned char)*q->p) || (*q->p == '.' && isdigit((unsigned char)q->p[1]))) {
    char *end;
    v = strtod(q->p, &end);
    if (q->p[0] == '0' && (q->p[1] == 'x' || q->p[1] == 'X')) return fail(q, "a hexadecimal number");
    q->p = end;
  } else if (*q->p == '(') {
    q->p++;
    v = sum(q);
    skip(q);
    if (q->failed) return NAN;
    if (*q->p != ')') return fail(q, "expected ')'");
    q->p++;
  } else if (isalpha((unsigned char)*q->p)) {
    const char *start = q->p;
    while (isalnum((unsigned char)*q->p) || *q->p == '_') q->p++;
    size_t n = (size_t)(q->p - start);
    static const char *const fns[] = {"exp", "log", "sqrt", "abs"};
    int fn = -1;
    for (int i = 0; i < 4; i++)
      if (n == strlen(fns[i]) && !strncmp(start, fns[i], n)) fn = i;
    if (n == 5 && !strncmp(start, "theta", 5)) {
      v = q->theta;
    } else if (n == 2 && !strncmp(start, "pi", 2)) {
      v = 3.14159265358979323846;
    } else if (fn >= 0) {
      skip(q);
      if (*q->p != '(') return fail(q, "expected '(' after a function's name");
      q->p++;
      double a = sum(q);
      skip(q);
      if (q->failed) return NAN;
      if (*q->p != ')') return fail(q, "expected ')'");
      q->p++;
      v = fn == 0 ? exp(a) : fn == 1 ? log(a) : fn == 2 ? sqrt(a) : fabs(a);
    } else {
      q->p = start;
      return fail(q, "unknown name (theta, pi, exp, log, sqrt, abs)");
    }
  } else {
    return fail(q, *q->p ? "expected a number, theta, a function or '('" : "the expression ends early");
  }
  q->depth--;
  return v;
}

/* unary: [+-] unary | primary [^ unary]; so -theta^2 is -(theta^2) and 2^-1 is 0.5. */
static double unary(parser *q) {
  skip(q);
  if (*q->p == '-' || *q->p == '+') {
    int neg = *q->p == '-';
    q->p++;
    if (++q->depth > MAX_DEPTH) return fail(q, "nesting deeper than 64");
    double v = unary(q);
    q->depth--;
    return neg ? -v : v;
  }
  double base = primary(q);
  skip(q);
  if (q->failed) return NAN;
  if (*q->p == '^' || (q->p[0] == '*' && q->p[1] == '*')) {
    q->p += *q->p == '^' ? 1 : 2;
    if (++q->depth > MAX_DEPTH) return fail(q, "nesting deeper than 64");
    double e = unary(q);
    q->depth--;
    return pow(base, e);
  }
  return base;
}

static double product(parser *q) {
  double v = unary(q);
  for (;;) {
    skip(q);
    if (q->failed) return NAN;
    if (*q->p == '*' && q->p[1] != '*') {
      q->p++;
      v *= unary(q);
    } else if (*q->p == '/') {
      q->p++;
      v /= unary(q);
    } else {
      return v;
    }
  }
}

static double sum(parser *q) {
  double v = product(q);
  for (;;) {
    skip(q);
    if (q->failed) return NAN;
    if (*q->p == '+') {
      q->p++;
      v += product(q);
    } else if (*q->p == '-') {
      q->p++;
      v -= product(q);
    } else {
      return v;
    }
  }
}

int cbrl_expression_eval(const char *text, double theta, double *out, char *why, size_t size) {
  parser q = {text, text, theta, 0, why, size, 0};
  if (!text) return -1;
  double v = sum(&q);
  skip(&q);
  if (!q.failed && *q.p) fail(&q, "unexpected character");
  if (q.failed) return -1;
  *out = v;
  return 0;
}
