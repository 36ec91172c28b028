/* The one argument parser of every cbrl command: long options as "--flag value" or
   "--flag=value", anywhere among the positional arguments; "--" ends the options; an unknown
   flag gets the closest known one as a suggestion. */
#include <stdio.h>
#include <string.h>

#include "cbrl/run/suggest.h"
#include "cli.h"

void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv, const cli_opt *opts) {
  memset(a, 0, sizeof *a);
  a->cmd = cmd;
  a->argc = argc;
  a->argv = argv;
  a->opts = opts;
  a->i = 1;
}

static const cli_opt *find(const cli_opt *opts, const char *name, size_t len) {
  for (const cli_opt *o = opts; o->name; o++)
    if (strlen(o->name) == len && !strncmp(o->name, name, len)) return o;
  return NULL;
}

int cli_args_next(cli_args *a) {
  a->value = NULL;
  a->flag = NULL;
  if (a->i >= a->argc) return CLI_ARGS_END;
  const char *arg = a->argv[a->i++];
  if (a->no_more || arg[0] != '-' || !arg[1]) {
    a->value = arg;
    return CLI_ARGS_POSITIONAL;
  }
  if (!strcmp(arg, "--")) {
    a->no_more = 1;
    return cli_args_next(a);
  }
  a->flag = arg;
  const cli_opt *o = NULL;
  const char *eq = NULL;
  if (arg[1] != '-') {
    /* Short flags: single letters only, no values (-h, -V). */
    for (const cli_opt *s = a->opts; s->name && !o; s++)
      if (s->short_name && arg[1] == s->short_name && !arg[2]) o = s;
  } else {
    const char *name = arg + 2;
    eq = strchr(name, '=');
    o = find(a->opts, name, eq ? (size_t)(eq - name) : strlen(name));
  }
  if (!o) {
    char name[64];
    const char *names[64];
    int n = 0;
    snprintf(name, sizeof name, "%s", arg + (arg[1] == '-' ? 2 : 1));
    char *cut = strchr(name, '=');
    if (cut) *cut = 0;
    for (const cli_opt *s = a->opts; s->name && n < 64; s++) names[n++] = s->name;
    const char *near = cbrl_suggest(name, names, n);
    if (near)
      cli_usage_error(a->cmd, "unknown option '--%s' (did you mean '--%s'?)", name, near);
    else
      cli_usage_error(a->cmd, "unknown option '%s' (try 'cbrl %s --help')", arg, a->cmd);
    return CLI_ARGS_ERROR;
  }
  a->flag = o->name;
  if (!o->has_value) {
    if (eq) {
      cli_usage_error(a->cmd, "--%s takes no value", o->name);
      return CLI_ARGS_ERROR;
    }
    return o->id;
  }
  if (eq) {
    a->value = eq + 1;
  } else if (a->i < a->argc) {
    a->value = a->argv[a->i++];
  } else {
    cli_usage_error(a->cmd, "--%s needs a value", o->name);
    return CLI_ARGS_ERROR;
  }
  return o->id;
}

int cli_unknown_value(const char *cmd, const char *flag, const char *what, const char *value,
                      const char *const *names, int n_names, const char *list) {
  const char *near = cbrl_suggest(value, names, n_names);
  if (near)
    return cli_usage_error(cmd, "--%s: unknown %s '%s' (did you mean '%s'? %s)", flag, what, value, near, list);
  return cli_usage_error(cmd, "--%s: unknown %s '%s' (%s)", flag, what, value, list);
}
