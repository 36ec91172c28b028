#!/bin/sh
# Installs the build into a temporary prefix and builds against it as a user would, with no
# run path or library path of the test's own: examples/custom_problem.c through pkg-config
# (cbrl.pc) and find_package(cbrl), both must run and agree; a program that loads
# examples/chain.yaml with libcbrl_run through cbrl-run.pc; then the tool, its man page and
# the shared files (configs, examples, docs).
set -eu
build=$1
source=$2
tmp=$(mktemp -d /tmp/cbrl_install_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
unset LD_LIBRARY_PATH
cmake --install "$build" --prefix "$tmp/prefix" > /dev/null
pc=$(dirname "$(find "$tmp/prefix" -name cbrl.pc | head -n 1)")
# The README's line: the .pc's Libs carry the run path, so the program finds libcbrl.so.0.
cc "$source/examples/custom_problem.c" $(PKG_CONFIG_PATH=$pc pkg-config --cflags --libs cbrl) -lm \
  -o "$tmp/via_pkg_config"
"$tmp/via_pkg_config" > "$tmp/out1.txt"
cmake -S "$source/examples" -B "$tmp/examples" -DCMAKE_PREFIX_PATH="$tmp/prefix" > /dev/null
cmake --build "$tmp/examples" > /dev/null
"$tmp/examples/custom_problem" > "$tmp/out2.txt"
# The same program, linked two ways, prints the same run.
cmp "$tmp/out1.txt" "$tmp/out2.txt"
grep -q "iteration 2000" "$tmp/out1.txt"
# libcbrl_run and its headers, through cbrl-run.pc: load the shipped example problem.
share=$tmp/prefix/share/cbrl
test -s "$share/examples/chain.yaml"
cat > "$tmp/load.c" <<'PROGRAM'
#include <stdio.h>
#include <cbrl/cbrl.h>
#include <cbrl/run/problem_file.h>
int main(int argc, char **argv) {
  cbrl_problem *p;
  char err[256];
  if (cbrl_tabular_load(&p, argv[1], err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  printf("%s: %d states, %d actions, d = %d\n", p->name, p->n_states, p->n_actions, p->dim);
  cbrl_problem_free(p);
  return 0;
}
PROGRAM
cc "$tmp/load.c" $(PKG_CONFIG_PATH=$pc pkg-config --cflags --libs cbrl-run) -o "$tmp/load"
"$tmp/load" "$share/examples/chain.yaml" | grep -q "states, .* actions, d = 3"
test -x "$tmp/prefix/bin/cbrl"
"$tmp/prefix/bin/cbrl" --version | grep -q "cbrl "
# The installed tool runs on the installed configs and examples.
"$tmp/prefix/bin/cbrl" hypergrad --problem "$share/examples/chain.yaml" --json | grep -q '"F": '
for f in four_rooms_lambda_0.003.yaml tax_design_lambda_0.2.yaml; do test -s "$share/configs/paper/$f"; done
doc=$tmp/prefix/share/doc/cbrl
for f in README.md CONFIG.md PROBLEM_FILES.md MODEL.md ENVIRONMENTS.md ARCHITECTURE.md; do test -s "$doc/$f"; done
# The man page, generated from the help texts, is installed, names every command and has
# the config fields and the problem file format.
man=$(find "$tmp/prefix" -name cbrl.1 | head -n 1)
test -s "$man"
for c in hypergrad run table export plot demo; do grep -q "cbrl $c" "$man"; done
grep -q '^\.SH "CONFIG FIELDS"' "$man"
grep -q '^\.SH "PROBLEM FILES"' "$man"
grep -q 'learning_rate' "$man"
grep -q 'cbrl-tabular-1' "$man"
echo "install test: pkg-config (cbrl, cbrl-run) and find_package(cbrl) builds run without a run path of their own"
