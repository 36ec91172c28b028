#!/bin/sh
# Installs the build into a temporary prefix and builds examples/custom_problem.c against it,
# once through pkg-config and once through find_package(cbrl); both must run.
set -eu
build=$1
source=$2
tmp=$(mktemp -d /tmp/cbrl_install_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > /dev/null
pc=$(dirname "$(find "$tmp/prefix" -name cbrl.pc | head -n 1)")
libdir=$(PKG_CONFIG_PATH=$pc pkg-config --variable=libdir cbrl)
cc "$source/examples/custom_problem.c" $(PKG_CONFIG_PATH=$pc pkg-config --cflags --libs cbrl) \
  -lm -Wl,-rpath,"$libdir" -o "$tmp/via_pkg_config"
"$tmp/via_pkg_config" > "$tmp/out1.txt"
cmake -S "$source/examples" -B "$tmp/examples" -DCMAKE_PREFIX_PATH="$tmp/prefix" > /dev/null
cmake --build "$tmp/examples" > /dev/null
"$tmp/examples/custom_problem" > "$tmp/out2.txt"
# The same program, linked two ways, prints the same run.
cmp "$tmp/out1.txt" "$tmp/out2.txt"
grep -q "iteration 2000" "$tmp/out1.txt"
test -x "$tmp/prefix/bin/cbrl"
"$tmp/prefix/bin/cbrl" --version | grep -q "cbrl "
# The man page, generated from the help texts, is installed and names every command.
man=$(find "$tmp/prefix" -name cbrl.1 | head -n 1)
test -s "$man"
for c in hypergrad run table export plot demo; do grep -q "cbrl $c" "$man"; done
echo "install test: pkg-config and find_package(cbrl) builds agree"
