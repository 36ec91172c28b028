/* cbrl: the command-line tool. Subcommands live in cli_<name>.c. */
#include <stdio.h>
#include <string.h>

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
    "Run 'cbrl COMMAND --help' for the options of a command.\n";

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
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
    fputs(usage, stdout);
    return 0;
  }
  if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
    printf("cbrl %s\n", cbrl_version_string());
    return 0;
  }
  if (!strcmp(cmd, "hypergrad")) return cli_hypergrad(argc - 1, argv + 1);
  if (!strcmp(cmd, "demo")) return cli_demo(argc - 1, argv + 1);
  if (!strcmp(cmd, "run")) return cli_run(argc - 1, argv + 1);
  if (!strcmp(cmd, "export")) return cli_export(argc - 1, argv + 1);
  if (!strcmp(cmd, "table")) return cli_table(argc - 1, argv + 1);
  if (!strcmp(cmd, "plot")) return cli_plot(argc - 1, argv + 1);
  return cli_usage_error(NULL, "unknown command '%s' (try 'cbrl --help')", cmd);
}
