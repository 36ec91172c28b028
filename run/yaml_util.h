/* Internal helpers over libyaml's document API for cbrl's file formats: every error is
   written as "file:line: field: what is wrong". */
#ifndef CBRL_YAML_UTIL_H
#define CBRL_YAML_UTIL_H

#include <stddef.h>
#include <yaml.h>

typedef struct cbrl_yaml {
  const char *file;
  yaml_document_t doc;
  int loaded;
  char *err;
  size_t err_size;
  int aliases; /* 1 if loaded with CBRL_YAML_ALIASES: aliases and merge keys ("<<") resolve */
} cbrl_yaml;

/* Load flag: allow anchors, aliases and merge keys ("<<: *name"), within the bounds of
   CBRL_YAML_ALIAS_EXPANSION; without it an alias is refused. */
#define CBRL_YAML_ALIASES 0x1u
/* Aliases may expand a document to at most this many times its own nodes, and add at most
   CBRL_YAML_ALIAS_NODES nodes; a "billion laughs" file exceeds both. */
#define CBRL_YAML_ALIAS_EXPANSION 64
#define CBRL_YAML_ALIAS_NODES 10000000.0

/* The largest YAML input read, in bytes. */
#define CBRL_YAML_MAX_BYTES (256 << 20)

/* Loads a whole file, read once (pipes work); refuses directories, empty documents, streams of
   more than one document, aliases and nesting deeper than 64. On failure nothing needs closing.
   Returns 0, CBRL_EPARSE (err says where and why) or CBRL_ENOMEM. */
int cbrl_yaml_load(cbrl_yaml *y, const char *path, char *err, size_t err_size);
/* The same from a buffer of len bytes; name is used in messages in place of the file. */
int cbrl_yaml_load_buffer(cbrl_yaml *y, const char *name, const void *data, size_t len, char *err,
                          size_t err_size);
/* cbrl_yaml_load with flags (CBRL_YAML_ALIASES). */
int cbrl_yaml_load_flags(cbrl_yaml *y, const char *path, unsigned flags, char *err, size_t err_size);
void cbrl_yaml_close(cbrl_yaml *y);

/* Writes "file:line: field: message" and returns CBRL_EPARSE. */
int cbrl_yaml_fail(cbrl_yaml *y, const yaml_node_t *n, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Replaces control characters (newlines inside quoted values) by spaces: a message is one line. */
void cbrl_yaml_one_line(char *s);

yaml_node_t *cbrl_yaml_root(cbrl_yaml *y);
int cbrl_yaml_line(const yaml_node_t *n);
/* Value of key in a mapping, or NULL; with aliases, keys of merged mappings ("<<") count,
   the mapping's own first. */
yaml_node_t *cbrl_yaml_get(cbrl_yaml *y, const yaml_node_t *map, const char *key);
/* Fails on any key not in allowed (NULL-terminated) and on duplicate keys; with aliases, the
   keys of merged mappings are checked too, and may be overridden by the mapping's own. */
int cbrl_yaml_check_keys(cbrl_yaml *y, const yaml_node_t *map, const char *field,
                         const char *const *allowed);
int cbrl_yaml_expect(cbrl_yaml *y, const yaml_node_t *n, yaml_node_type_t type, const char *field);
/* Number of items of a sequence node and item i. */
int cbrl_yaml_length(const yaml_node_t *seq);
yaml_node_t *cbrl_yaml_item(cbrl_yaml *y, const yaml_node_t *seq, int i);
const char *cbrl_yaml_scalar(const yaml_node_t *n);
/* A finite number. */
int cbrl_yaml_double(cbrl_yaml *y, const yaml_node_t *n, const char *field, double *out);
/* An integer in [lo, hi]. */
int cbrl_yaml_long(cbrl_yaml *y, const yaml_node_t *n, const char *field, long lo, long hi, long *out);

#endif /* CBRL_YAML_UTIL_H */
