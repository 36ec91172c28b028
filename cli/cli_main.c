/* cbrl: the command-line tool. Subcommands live in cli_<name>.c. */
#include <stdio.h>
#include <string.h>

#include "cbrl/run/suggest.h"
#include "cbrl/version.h"
#include "cli.h"

static const char usage[] =
    "Usage: cbrl COMMAND [OPTIONS]\n"
    "\n"
    "Contextual bilevel reinforcement learning: a leader chooses incentives x, followers\n"
    "best-respond in entropy-regularised MDPs, and cbrl computes and optimises the leader's\n"
    "objective F(x).\n"
    "\n"
    "Commands:\n"
    "  hypergrad   exact objective F(x) and hypergradient of a problem at one x\n"
    "  run         run a sweep from a YAML config into a SQLite store (docs/CONFIG.md)\n"
    "  table       print the results table of a stored sweep\n"
    "  export      write a stored sweep's metrics as tidy CSV\n"
    "  plot        draw a stored sweep's learning curves and penalty maps (PNG, SVG)\n"
    "  demo        a short run on Four-Rooms that shows the leader improving F\n"
    "\n"
    "Options:\n"
    "  -h, --help     show this help and exit\n"
    "  -V, --version  show the version and exit\n"
    "\n"
    "Run 'cbrl COMMAND --help' or 'cbrl help COMMAND' for the options of a command. Every\n"
    "command takes its options anywhere, as '--flag value' or '--flag=value'.\n";

typedef struct command {
  const char *name;
  int (*main)(int argc, char **argv);
} command;

static const command commands[] = {{"hypergrad", cli_hypergrad}, {"run", cli_run},   {"table", cli_table},
                                   {"export", cli_export},       {"plot", cli_plot}, {"demo", cli_demo}};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static const command *find_command(const char *name) {
  for (int i = 0; i < N_COMMANDS; i++)
    if (!strcmp(commands[i].name, name)) return &commands[i];
  return NULL;
}

static int unknown_command(const char *name) {
  const char *names[N_COMMANDS + 1];
  for (int i = 0; i < N_COMMANDS; i++) names[i] = commands[i].name;
  names[N_COMMANDS] = "help";
  const char *near = cbrl_suggest(name, names, N_COMMANDS + 1);
  if (near) return cli_usage_error(NULL, "unknown command '%s' (did you mean '%s'?)", name, near);
  return cli_usage_error(NULL, "unknown command '%s' (try 'cbrl --help')", name);
}

int main(int argc, char **argv) {
  /* The header this tool was built with must match the library it runs with. */
  if (cbrl_version() != CBRL_VERSION_HEX) {
    fprintf(stderr, "cbrl: library version %s does not match header version %s\n",
            cbrl_version_string(), CBRL_VERSION_STRING);
    return CLI_EXIT_FAILURE;
  }
  if (argc < 2) {
    fputs(usage, stderr);
    return CLI_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "help") && argc > 2 && (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help"))) {
    fputs(usage, stdout); /* help about help is the general help */
    return 0;
  }
  if (!strcmp(cmd, "help") && argc > 2) {
    /* cbrl help COMMAND: that command's help. */
    const command *c = find_command(argv[2]);
    if (!c) return unknown_command(argv[2]);
    char *help_argv[3] = {argv[2], "--help", NULL};
    return c->main(2, help_argv);
  }
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
    fputs(usage, stdout);
    return 0;
  }
  if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
    printf("cbrl %s\n", cbrl_version_string());
    return 0;
  }
  const command *c = find_command(cmd);
  if (!c) return unknown_command(cmd);
  return c->main(argc - 1, argv + 1);
}
