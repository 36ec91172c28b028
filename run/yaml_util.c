#include "yaml_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cbrl/errors.h"

#define MAX_DEPTH 64

static int failf(cbrl_yaml *y, int line, const char *field, const char *fmt, va_list ap) {
  if (!y->err || !y->err_size) return CBRL_EPARSE;
  int n;
  if (line > 0 && field)
    n = snprintf(y->err, y->err_size, "%s:%d: %s: ", y->file, line, field);
  else if (line > 0)
    n = snprintf(y->err, y->err_size, "%s:%d: ", y->file, line);
  else if (field)
    n = snprintf(y->err, y->err_size, "%s: %s: ", y->file, field);
  else
    n = snprintf(y->err, y->err_size, "%s: ", y->file);
  if (n >= 0 && (size_t)n < y->err_size) vsnprintf(y->err + n, y->err_size - (size_t)n, fmt, ap);
  cbrl_yaml_one_line(y->err);
  return CBRL_EPARSE;
}

void cbrl_yaml_one_line(char *s) {
  /* Messages quote scalars, which YAML lets hold newlines and other control characters. */
  for (; s && *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = ' ';
}

int cbrl_yaml_fail(cbrl_yaml *y, const yaml_node_t *n, const char *field, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = failf(y, n ? cbrl_yaml_line(n) : 0, field, fmt, ap);
  va_end(ap);
  return r;
}

static int fail_at(cbrl_yaml *y, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = failf(y, line, NULL, fmt, ap);
  va_end(ap);
  return r;
}

/* "file: out of memory", returning CBRL_ENOMEM (a failed computation, not bad input). */
static int oom(cbrl_yaml *y) {
  fail_at(y, 0, "out of memory");
  return CBRL_ENOMEM;
}

int cbrl_yaml_line(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

/* ---- Anchors: what each expands to, for the alias bounds ----------------------------------
   An open-addressing table from anchor name to the expanded size of its node (nodes, counting
   each alias as the nodes it stands for) and its nesting levels; a later anchor of the same name
   replaces an earlier one, as in YAML. */

typedef struct anchor {
  char *name;
  double nodes;
  int levels;
  int open; /* 1 while its collection is being read: an alias to it would be a cycle */
} anchor;

typedef struct anchor_table {
  anchor *slot;
  size_t cap, used;
} anchor_table;

static size_t anchor_hash(const char *s) {
  size_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static anchor *anchor_find(anchor_table *t, const char *name) {
  if (!t->cap) return NULL;
  for (size_t i = anchor_hash(name) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
    if (!t->slot[i].name) return NULL;
    if (!strcmp(t->slot[i].name, name)) return &t->slot[i];
  }
}

/* The slot of name, added if new (NULL when out of memory). */
static anchor *anchor_put(anchor_table *t, const char *name) {
  anchor *a = anchor_find(t, name);
  if (a) return a;
  if (2 * (t->used + 1) > t->cap) {
    anchor_table n = {calloc(t->cap ? 2 * t->cap : 64, sizeof(anchor)), t->cap ? 2 * t->cap : 64, 0};
    if (!n.slot) return NULL;
    for (size_t i = 0; i < t->cap; i++)
      if (t->slot[i].name) {
        size_t j = anchor_hash(t->slot[i].name) & (n.cap - 1);
        while (n.slot[j].name) j = (j + 1) & (n.cap - 1);
        n.slot[j] = t->slot[i];
        n.used++;
      }
    free(t->slot);
    *t = n;
  }
  size_t i = anchor_hash(name) & (t->cap - 1);
  while (t->slot[i].name) i = (i + 1) & (t->cap - 1);
  if (!(t->slot[i].name = strdup(name))) return NULL;
  t->used++;
  return &t->slot[i];
}

static void anchor_table_free(anchor_table *t) {
  for (size_t i = 0; i < t->cap; i++) free(t->slot[i].name);
  free(t->slot);
}

/* One open collection: its expanded size so far, the deepest levels below it, its anchor. */
typedef struct open_node {
  double nodes;
  int levels;
  const char *anchor; /* the table's copy of its name (slots move when the table grows) */
} open_node;

/* Adds a finished child of `nodes` expanded nodes and `levels` levels to the innermost open node. */
static void add_child(open_node *top, double nodes, int levels) {
  top->nodes += nodes;
  if (levels + 1 > top->levels) top->levels = levels + 1;
}

/* libyaml's event parser keeps an explicit stack, but its composer recurses per level, so
   depth is checked on the event stream before composing. The same pass refuses a second
   document: libyaml's loader would return the first and silently drop the rest. With aliases
   allowed it also bounds their expansion (a DAG of aliases can stand for exponentially many
   nodes, which every later walk over the document would visit), refuses an alias inside its own
   anchor (a cycle) and checks the depth an alias reaches once expanded. */
static int check_events(cbrl_yaml *y, const unsigned char *buf, size_t len, unsigned flags) {
  yaml_parser_t parser;
  yaml_event_t ev;
  if (!yaml_parser_initialize(&parser)) return oom(y);
  yaml_parser_set_input_string(&parser, buf, len);
  int depth = 0, err = 0, documents = 0;
  /* stack[0] is the document; stack[depth] the innermost open collection. */
  open_node stack[MAX_DEPTH + 2];
  memset(stack, 0, sizeof stack);
  anchor_table anchors = {0};
  double own = 0.0, biggest = 0.0;
  int biggest_line = 0;
  for (;;) {
    if (!yaml_parser_parse(&parser, &ev)) {
      if (parser.error == YAML_MEMORY_ERROR) {
        err = oom(y);
      } else {
        err = fail_at(y, (int)parser.problem_mark.line + 1, "YAML syntax error: %s",
                      parser.problem ? parser.problem : "unknown");
      }
      break;
    }
    yaml_event_type_t t = ev.type;
    /* A document start begins where the previous document ended; its "---" is at its end mark. */
    int line = (int)(t == YAML_DOCUMENT_START_EVENT ? ev.end_mark : ev.start_mark).line + 1;
    const yaml_char_t *anchor_name = t == YAML_SCALAR_EVENT           ? ev.data.scalar.anchor
                                     : t == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.anchor
                                     : t == YAML_MAPPING_START_EVENT  ? ev.data.mapping_start.anchor
                                     : t == YAML_ALIAS_EVENT          ? ev.data.alias.anchor
                                                                      : NULL;
    anchor *an = NULL;
    int nomem = 0;
    if (anchor_name && (flags & CBRL_YAML_ALIASES)) {
      an = t == YAML_ALIAS_EVENT ? anchor_find(&anchors, (const char *)anchor_name)
                                 : anchor_put(&anchors, (const char *)anchor_name);
      nomem = !an && t != YAML_ALIAS_EVENT;
    }
    yaml_event_delete(&ev);
    if (nomem) {
      err = oom(y);
      break;
    }
    if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
      own += 1.0;
      if (++depth > MAX_DEPTH) {
        err = fail_at(y, line, "nesting deeper than %d levels", MAX_DEPTH);
        break;
      }
      stack[depth] = (open_node){1.0, 1, an ? an->name : NULL};
      if (an) an->open = 1;
    } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
      open_node done = stack[depth--];
      anchor *a = done.anchor ? anchor_find(&anchors, done.anchor) : NULL;
      if (a) *a = (anchor){a->name, done.nodes, done.levels, 0};
      add_child(&stack[depth], done.nodes, done.levels);
    } else if (t == YAML_SCALAR_EVENT) {
      own += 1.0;
      if (an) *an = (anchor){an->name, 1.0, 0, 0};
      add_child(&stack[depth], 1.0, 0);
    } else if (t == YAML_ALIAS_EVENT) {
      own += 1.0;
      if (!(flags & CBRL_YAML_ALIASES)) {
        err = fail_at(y, line, "YAML aliases are not allowed");
        break;
      }
      if (!an) continue; /* undefined: libyaml's loader reports it */
      if (an->open) {
        err = fail_at(y, line, "alias *%s inside its own anchor: a cycle", an->name);
        break;
      }
      if (depth + an->levels > MAX_DEPTH) {
        err = fail_at(y, line, "nesting deeper than %d levels once alias *%s is expanded", MAX_DEPTH, an->name);
        break;
      }
      if (an->nodes > biggest) biggest = an->nodes, biggest_line = line;
      add_child(&stack[depth], an->nodes, an->levels);
    } else if (t == YAML_DOCUMENT_START_EVENT) {
      if (++documents > 1) {
        err = fail_at(y, line, "a second YAML document ('---'): give exactly one");
        break;
      }
    } else if (t == YAML_STREAM_END_EVENT) {
      break;
    }
  }
  yaml_parser_delete(&parser);
  anchor_table_free(&anchors);
  double expanded = stack[0].nodes;
  if (!err && (expanded > CBRL_YAML_ALIAS_EXPANSION * own || expanded - own > CBRL_YAML_ALIAS_NODES))
    err = fail_at(y, biggest_line,
                  "YAML aliases expand the document to %.3g nodes, more than %d times its own %.0f or %.0f more "
                  "(a 'billion laughs'?)",
                  expanded, CBRL_YAML_ALIAS_EXPANSION, own, CBRL_YAML_ALIAS_NODES);
  return err;
}

/* Reads a whole stream once (a pipe or FIFO can be read only once, and its size is not known
   in advance), refusing more than CBRL_YAML_MAX_BYTES. */
static int read_all(cbrl_yaml *y, FILE *f, unsigned char **out, size_t *out_len) {
  const size_t max = CBRL_YAML_MAX_BYTES;
  size_t cap = 0, len = 0;
  unsigned char *buf = NULL;
  for (;;) {
    if (len == cap) {
      if (cap > max) break; /* one byte past the limit was read: too large */
      size_t ncap = cap ? 2 * cap : 65536;
      if (ncap > max + 1) ncap = max + 1;
      unsigned char *nb = realloc(buf, ncap);
      if (!nb) {
        free(buf);
        return oom(y);
      }
      buf = nb, cap = ncap;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) {
      if (ferror(f)) {
        int e = errno;
        free(buf);
        return fail_at(y, 0, "cannot read: %s", strerror(e));
      }
      break;
    }
  }
  if (len > max) {
    free(buf);
    return fail_at(y, 0, "larger than the limit of %zu MiB for a YAML file", max >> 20);
  }
  *out = buf;
  *out_len = len;
  return 0;
}

static int load_buffer(cbrl_yaml *y, const char *name, const void *data, size_t len, unsigned flags, char *err,
                       size_t err_size) {
  memset(y, 0, sizeof *y);
  y->file = name;
  y->err = err;
  y->err_size = err_size;
  y->aliases = (flags & CBRL_YAML_ALIASES) != 0;
  if (err && err_size) err[0] = 0;
  const unsigned char *buf = data ? data : (const void *)""; /* libyaml asserts a non-NULL input */
  int rc = check_events(y, buf, len, flags);
  if (rc) return rc;
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    return oom(y);
  }
  yaml_parser_set_input_string(&parser, buf, len);
  if (!yaml_parser_load(&parser, &y->doc)) {
    if (parser.error == YAML_MEMORY_ERROR) {
      rc = oom(y);
    } else {
      rc = fail_at(y, (int)parser.problem_mark.line + 1, "YAML syntax error: %s",
                   parser.problem ? parser.problem : "unknown");
    }
    yaml_parser_delete(&parser);
    return rc;
  }
  yaml_parser_delete(&parser);
  y->loaded = 1;
  if (!yaml_document_get_root_node(&y->doc)) {
    cbrl_yaml_close(y); /* a failed load leaves nothing to close */
    return fail_at(y, 0, "empty file");
  }
  return 0;
}

int cbrl_yaml_load_buffer(cbrl_yaml *y, const char *name, const void *data, size_t len, char *err,
                          size_t err_size) {
  return load_buffer(y, name, data, len, 0, err, err_size);
}

int cbrl_yaml_load(cbrl_yaml *y, const char *path, char *err, size_t err_size) {
  return cbrl_yaml_load_flags(y, path, 0, err, err_size);
}

int cbrl_yaml_load_flags(cbrl_yaml *y, const char *path, unsigned flags, char *err, size_t err_size) {
  memset(y, 0, sizeof *y);
  y->file = path;
  y->err = err;
  y->err_size = err_size;
  if (err && err_size) err[0] = 0;
  /* Opened first and then examined, so a pipe (`<(cat f)`) is read exactly once. */
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOMEM) return oom(y);
    return fail_at(y, 0, "cannot open: %s", strerror(errno));
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0) {
    int e = errno;
    fclose(f);
    return fail_at(y, 0, "cannot open: %s", strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    fclose(f);
    return fail_at(y, 0, "is a directory, not a file");
  }
  unsigned char *buf = NULL;
  size_t len = 0;
  int rc = read_all(y, f, &buf, &len);
  fclose(f);
  if (rc) return rc;
  rc = load_buffer(y, path, buf, len, flags, err, err_size);
  free(buf);
  return rc;
}

void cbrl_yaml_close(cbrl_yaml *y) {
  if (y->loaded) yaml_document_delete(&y->doc);
  y->loaded = 0;
}

yaml_node_t *cbrl_yaml_root(cbrl_yaml *y) { return yaml_document_get_root_node(&y->doc); }

const char *cbrl_yaml_scalar(const yaml_node_t *n) {
  return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The n-th mapping a merge key of map brings in ("<<: *a" or "<<: [*a, *b]"), or NULL. */
static yaml_node_t *merged(cbrl_yaml *y, const yaml_node_t *map, int n) {
  if (!y->aliases) return NULL;
  for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
    const char *k = cbrl_yaml_scalar(yaml_document_get_node(&y->doc, pr->key));
    if (!k || strcmp(k, "<<")) continue;
    yaml_node_t *v = yaml_document_get_node(&y->doc, pr->value);
    if (v->type == YAML_MAPPING_NODE) return n == 0 ? v : NULL;
    if (v->type != YAML_SEQUENCE_NODE || n >= cbrl_yaml_length(v)) return NULL;
    return cbrl_yaml_item(y, v, n);
  }
  return NULL;
}

yaml_node_t *cbrl_yaml_get(cbrl_yaml *y, const yaml_node_t *map, const char *key) {
  if (!map || map->type != YAML_MAPPING_NODE) return NULL;
  for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
    const char *k = cbrl_yaml_scalar(yaml_document_get_node(&y->doc, pr->key));
    if (k && strcmp(k, key) == 0) return yaml_document_get_node(&y->doc, pr->value);
  }
  /* Merged mappings, in order; their depth is bounded by check_events' expanded depth. */
  yaml_node_t *m, *v;
  for (int i = 0; (m = merged(y, map, i)); i++)
    if ((v = cbrl_yaml_get(y, m, key))) return v;
  return NULL;
}

int cbrl_yaml_check_keys(cbrl_yaml *y, const yaml_node_t *map, const char *field,
                         const char *const *allowed) {
  for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
    yaml_node_t *kn = yaml_document_get_node(&y->doc, pr->key);
    const char *k = cbrl_yaml_scalar(kn);
    if (!k) return cbrl_yaml_fail(y, kn, field, "keys must be plain names");
    int ok = 0;
    for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(*a, k) == 0;
    char path[256];
    snprintf(path, sizeof path, "%s%s%s", field ? field : "", field && *field ? "." : "", k);
    if (!ok && y->aliases && !strcmp(k, "<<")) {
      yaml_node_t *v = yaml_document_get_node(&y->doc, pr->value), *m;
      if (v->type != YAML_MAPPING_NODE && v->type != YAML_SEQUENCE_NODE)
        return cbrl_yaml_fail(y, v, path, "a merge key takes a mapping or a list of mappings");
      for (int i = 0; v->type == YAML_SEQUENCE_NODE && i < cbrl_yaml_length(v); i++)
        if (cbrl_yaml_item(y, v, i)->type != YAML_MAPPING_NODE)
          return cbrl_yaml_fail(y, cbrl_yaml_item(y, v, i), path, "a merge key takes a mapping or a list of mappings");
      for (int i = 0; (m = merged(y, map, i)); i++) {
        int err = cbrl_yaml_check_keys(y, m, field, allowed);
        if (err) return err;
      }
      ok = 1;
    }
    if (!ok) return cbrl_yaml_fail(y, kn, path, "unknown field");
    for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pr; q++) {
      const char *k2 = cbrl_yaml_scalar(yaml_document_get_node(&y->doc, q->key));
      if (k2 && strcmp(k2, k) == 0) return cbrl_yaml_fail(y, kn, path, "field given twice");
    }
  }
  return 0;
}

int cbrl_yaml_expect(cbrl_yaml *y, const yaml_node_t *n, yaml_node_type_t type, const char *field) {
  if (n->type == type) return 0;
  const char *want = type == YAML_MAPPING_NODE    ? "a mapping"
                     : type == YAML_SEQUENCE_NODE ? "a list"
                                                  : "a single value";
  return cbrl_yaml_fail(y, n, field, "expected %s", want);
}

int cbrl_yaml_length(const yaml_node_t *seq) {
  return (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

yaml_node_t *cbrl_yaml_item(cbrl_yaml *y, const yaml_node_t *seq, int i) {
  return yaml_document_get_node(&y->doc, seq->data.sequence.items.start[i]);
}

int cbrl_yaml_double(cbrl_yaml *y, const yaml_node_t *n, const char *field, double *out) {
  const char *s = cbrl_yaml_scalar(n);
  if (!s) return cbrl_yaml_fail(y, n, field, "expected a number");
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || !*s) return cbrl_yaml_fail(y, n, field, "expected a number, got '%.40s'", s);
  /* strtod sets ERANGE on underflow too, returning a subnormal or zero that is the nearest
     representable value; only overflow (HUGE_VAL) and NaN or Inf literals are refused. */
  if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1.0))
    return cbrl_yaml_fail(y, n, field, "'%.40s' is not a finite number", s);
  *out = v;
  return 0;
}

int cbrl_yaml_long(cbrl_yaml *y, const yaml_node_t *n, const char *field, long lo, long hi, long *out) {
  const char *s = cbrl_yaml_scalar(n);
  if (!s) return cbrl_yaml_fail(y, n, field, "expected an integer");
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || !*s || errno == ERANGE)
    return cbrl_yaml_fail(y, n, field, "expected an integer, got '%.40s'", s);
  if (v < lo || v > hi) return cbrl_yaml_fail(y, n, field, "%ld is out of range [%ld, %ld]", v, lo, hi);
  *out = v;
  return 0;
}
