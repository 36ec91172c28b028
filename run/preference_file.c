/* Loader for cbrl-preferences-1 files (docs/ENVIRONMENTS.md 7): preference pairs over token
   sequences, each checked against the vocabulary, the length and the prompts it names. */
#include "preference_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbrl/errors.h"
#include "yaml_util.h"

#define MAX_PAIRS 1000000

static const char *const top_keys[] = {"format", "vocab", "length", "prompts", "pairs", NULL};
static const char *const pair_keys[] = {"prompt", "preferred", "rejected", "heldout", NULL};

/* An optional integer field of the top mapping in [lo, hi], else *out keeps its default. */
static int optional_long(cbrl_yaml *y, const yaml_node_t *root, const char *key, long lo, long hi, int *out) {
  yaml_node_t *n = cbrl_yaml_get(y, root, key);
  long v;
  if (!n) return 0;
  int err = cbrl_yaml_long(y, n, key, lo, hi, &v);
  if (!err) *out = (int)v;
  return err;
}

/* One sequence of pair k: exactly `length` tokens in 0 .. vocab - 1. */
static int read_sequence(cbrl_yaml *y, const cbrl__preference_file *f, const yaml_node_t *pair, int k,
                         const char *key, int *tokens) {
  char field[64];
  snprintf(field, sizeof field, "pairs[%d].%s", k, key);
  yaml_node_t *n = cbrl_yaml_get(y, pair, key);
  if (!n) return cbrl_yaml_fail(y, pair, field, "required field is missing");
  int err = cbrl_yaml_expect(y, n, YAML_SEQUENCE_NODE, field);
  if (err) return err;
  int len = cbrl_yaml_length(n);
  if (len != f->length)
    return cbrl_yaml_fail(y, n, field, "has %d tokens, but every sequence has length %d", len, f->length);
  for (int t = 0; t < len; t++) {
    yaml_node_t *item = cbrl_yaml_item(y, n, t);
    char ft[80];
    long v;
    snprintf(ft, sizeof ft, "%s[%d]", field, t);
    if ((err = cbrl_yaml_long(y, item, ft, -2147483647L, 2147483647L, &v))) return err;
    if (v < 0 || v >= f->vocab)
      return cbrl_yaml_fail(y, item, ft, "token %ld is outside the vocabulary 0..%d", v, f->vocab - 1);
    tokens[t] = (int)v;
  }
  return 0;
}

static int read_pairs(cbrl_yaml *y, const yaml_node_t *root, cbrl__preference_file *f) {
  yaml_node_t *list = cbrl_yaml_get(y, root, "pairs");
  if (!list) return cbrl_yaml_fail(y, root, "pairs", "required field is missing");
  int err = cbrl_yaml_expect(y, list, YAML_SEQUENCE_NODE, "pairs");
  if (err) return err;
  int n = cbrl_yaml_length(list);
  if (n < 1) return cbrl_yaml_fail(y, list, "pairs", "must list at least one pair");
  if (n > MAX_PAIRS) return cbrl_yaml_fail(y, list, "pairs", "%d pairs, at most %d", n, MAX_PAIRS);
  f->pairs = calloc((size_t)n, sizeof *f->pairs);
  f->tokens = malloc(sizeof(int) * 2 * (size_t)n * (size_t)f->length);
  if (!f->pairs || !f->tokens) return CBRL_ENOMEM;
  for (int k = 0; k < n; k++) {
    yaml_node_t *e = cbrl_yaml_item(y, list, k);
    char field[48];
    snprintf(field, sizeof field, "pairs[%d]", k);
    if ((err = cbrl_yaml_expect(y, e, YAML_MAPPING_NODE, field)) || (err = cbrl_yaml_check_keys(y, e, field, pair_keys)))
      return err;
    cbrl_rlhf_pair *q = f->pairs + k;
    yaml_node_t *pn = cbrl_yaml_get(y, e, "prompt");
    snprintf(field, sizeof field, "pairs[%d].prompt", k);
    long prompt;
    if (!pn) return cbrl_yaml_fail(y, e, field, "required field is missing");
    if ((err = cbrl_yaml_long(y, pn, field, -2147483647L, 2147483647L, &prompt))) return err;
    if (prompt < 0 || prompt >= f->prompts)
      return cbrl_yaml_fail(y, pn, field, "prompt %ld is out of range 0..%d", prompt, f->prompts - 1);
    int *tok = f->tokens + 2 * (size_t)k * (size_t)f->length;
    if ((err = read_sequence(y, f, e, k, "preferred", tok)) ||
        (err = read_sequence(y, f, e, k, "rejected", tok + f->length)))
      return err;
    yaml_node_t *hn = cbrl_yaml_get(y, e, "heldout");
    const char *h = hn ? cbrl_yaml_scalar(hn) : "false";
    snprintf(field, sizeof field, "pairs[%d].heldout", k);
    if (!h || (strcmp(h, "true") && strcmp(h, "false")))
      return cbrl_yaml_fail(y, hn, field, "expected true or false");
    q->prompt = (int)prompt;
    q->length = f->length;
    q->preferred = tok;
    q->rejected = tok + f->length;
    q->heldout = !strcmp(h, "true");
    f->n_pairs = k + 1;
  }
  return 0;
}

int cbrl__preference_file_load(const char *path, cbrl__preference_file *out, char *err, size_t err_size) {
  memset(out, 0, sizeof *out);
  cbrl_yaml y;
  int rc = cbrl_yaml_load(&y, path, err, err_size);
  if (rc) return rc;
  cbrl__preference_file f = {.vocab = 4, .length = 4, .prompts = 3};
  yaml_node_t *root = cbrl_yaml_root(&y), *fmt;
  if ((rc = cbrl_yaml_expect(&y, root, YAML_MAPPING_NODE, "(top level)")) ||
      (rc = cbrl_yaml_check_keys(&y, root, "", top_keys)))
    goto done;
  fmt = cbrl_yaml_get(&y, root, "format");
  if (!fmt) {
    rc = cbrl_yaml_fail(&y, root, "format", "required field is missing");
    goto done;
  }
  if (!cbrl_yaml_scalar(fmt) || strcmp(cbrl_yaml_scalar(fmt), "cbrl-preferences-1")) {
    rc = cbrl_yaml_fail(&y, fmt, "format", "expected 'cbrl-preferences-1'");
    goto done;
  }
  if ((rc = optional_long(&y, root, "vocab", 2, CBRL_RLHF_MAX_VOCAB, &f.vocab)) ||
      (rc = optional_long(&y, root, "length", 2, CBRL_RLHF_MAX_LENGTH, &f.length)) ||
      (rc = optional_long(&y, root, "prompts", 1, CBRL_RLHF_MAX_PROMPTS, &f.prompts)))
    goto done;
  long states = 1, level = 1;
  for (int t = 1; t < f.length; t++) level *= f.vocab, states += level;
  if (states + 1 > CBRL_RLHF_MAX_STATES) {
    yaml_node_t *n = cbrl_yaml_get(&y, root, "length");
    rc = cbrl_yaml_fail(&y, n ? n : root, "length", "%d tokens from a vocabulary of %d make %ld prefix states, at most %d",
                        f.length, f.vocab, states + 1, CBRL_RLHF_MAX_STATES);
    goto done;
  }
  rc = read_pairs(&y, root, &f);
done:
  cbrl_yaml_close(&y);
  if (rc) {
    cbrl__preference_file_close(&f);
    return rc;
  }
  *out = f;
  return 0;
}

void cbrl__preference_file_close(cbrl__preference_file *f) {
  if (!f) return;
  free(f->pairs);
  free(f->tokens);
  memset(f, 0, sizeof *f);
}
