# Two commands on a fresh Debian machine:  make demo   and   make test.
# Both install missing Debian packages first (as root), then build out of tree.

BUILD      ?= build
BUILD_SAN  ?= build-sanitize
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
PACKAGES   := cmake make gcc pkg-config libyaml-dev libcmocka-dev libsqlite3-dev libplplot-dev plplot-driver-cairo libpng-dev help2man libgomp1 \
              python3 python3-numpy python3-cffi python3-pytest python3-matplotlib

.PHONY: all deps build demo test test-sanitize oom valgrind mpi bench install fuzz clean python

all: build

deps:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "cbrl: installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The demo needs only the executable (and the two libraries it links): about a minute of
# HPGD and exact-gradient ascent on Four-Rooms, then a figure in cbrl-demo/.
demo: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target cbrl_cli
	./$(BUILD)/cbrl demo --threads $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-sanitize: deps
	cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DCBRL_SANITIZE=ON -DCBRL_BUILD_BENCH=OFF >/dev/null
	cmake --build $(BUILD_SAN) -j $(JOBS)
	cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp CBRL_TEST_QUICK=1 ctest --output-on-failure -j $(JOBS)

# Out-of-memory injection under ASan and LSan: every allocation of hypergrad on each environment
# and of a small leader sweep fails in turn (tests/core/test_oom.c); each must give CBRL_ENOMEM
# and leak nothing.
oom: deps
	cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DCBRL_SANITIZE=ON -DCBRL_BUILD_BENCH=OFF >/dev/null
	cmake --build $(BUILD_SAN) -j $(JOBS) --target test_oom
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp ./$(BUILD_SAN)/tests/test_oom
	cmake --build $(BUILD_SAN) -j $(JOBS) --target test_oom_run
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp ./$(BUILD_SAN)/tests/test_oom_run

# Every test program under valgrind memcheck (quick mode), following the cbrl processes the
# tests start; fails on any definite or indirect leak or memory error. Takes several minutes.
valgrind: build
	@command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
	@cd $(BUILD) && fail=0; for t in tests/test_*; do \
	  [ -x "$$t" ] || continue; \
	  CBRL_TEST_QUICK=1 valgrind -q --trace-children=yes --suppressions=$(CURDIR)/tests/valgrind.supp \
	    --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=9 $$t > $$t.valgrind.log 2>&1; \
	  rc=$$?; echo "valgrind $$t: exit $$rc"; [ $$rc -eq 0 ] || { tail -n 30 $$t.valgrind.log; fail=1; }; \
	done; exit $$fail

bench: build
	./$(BUILD)/bench/cbrl_bench

# The MPI build (OpenMPI), and its test: a 3-rank sweep equals the single-process store.
BUILD_MPI ?= build-mpi
mpi: deps
	@for p in openmpi-bin libopenmpi-dev; do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; if [ -n "$$missing" ]; then apt-get install -y -qq $$missing >/dev/null; fi
	cmake -S . -B $(BUILD_MPI) -DCMAKE_BUILD_TYPE=Release -DCBRL_MPI=ON -DCBRL_BUILD_BENCH=OFF >/dev/null
	cmake --build $(BUILD_MPI) -j $(JOBS) --target cbrl_cli test_mpi
	cd $(BUILD_MPI) && ctest --output-on-failure -R test_mpi

# libFuzzer with clang, under AddressSanitizer and UBSan; each target for FUZZ_SECONDS,
# starting from the shipped examples, configs and the hostile-input catalogue.
BUILD_FUZZ   ?= build-fuzz
FUZZ_SECONDS ?= 60
fuzz: deps
	@for p in clang libclang-rt-14-dev libomp-dev; do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; if [ -n "$$missing" ]; then apt-get install -y -qq $$missing >/dev/null; fi
	CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=Debug -DCBRL_SANITIZE=ON -DCBRL_FUZZ=ON \
	  -DCBRL_BUILD_TESTS=OFF -DCBRL_BUILD_BENCH=OFF >/dev/null
	cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzz_tabular fuzz_config fuzz_set fuzz_argv
	mkdir -p $(BUILD_FUZZ)/corpus_tabular $(BUILD_FUZZ)/corpus_config $(BUILD_FUZZ)/corpus_set $(BUILD_FUZZ)/corpus_argv
	cp examples/*.yaml tests/bad_inputs/p_*.yaml $(BUILD_FUZZ)/corpus_tabular/
	cp configs/paper/*.yaml tests/bad_inputs/c_*.yaml $(BUILD_FUZZ)/corpus_config/
	printf '\005[0.1, 0.01]' > $(BUILD_FUZZ)/corpus_set/lr; printf '\0041\n---\n2' > $(BUILD_FUZZ)/corpus_set/two_docs
	printf '\000--env\000random\000--states\0003\000--actions\0002\000--dim\0001\000--contexts\0001\000--branch\0001\000--seed\0001' \
	  > $(BUILD_FUZZ)/corpus_argv/random; printf '\000--env\000four-rooms\000--lambda\0001e-320' > $(BUILD_FUZZ)/corpus_argv/fr
	@for t in tabular config set argv; do \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp ./$(BUILD_FUZZ)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=8192 -print_final_stats=1 $(BUILD_FUZZ)/corpus_$$t > $(BUILD_FUZZ)/fuzz_$$t.log 2>&1; rc=$$?; \
	  echo "fuzz_$$t: $$(grep -E 'number_of_executed_units|peak_rss' $(BUILD_FUZZ)/fuzz_$$t.log | tr -s ' ' | tr '\n' ' ')"; \
	  if [ $$rc -ne 0 ]; then tail -n 40 $(BUILD_FUZZ)/fuzz_$$t.log; exit $$rc; fi; \
	done

# The Python package (python/cbrl, docs/PYTHON.md) from the build tree: builds its shim library
# (BUILD/python/libcbrl_py.so), which the package finds there, and imports it once.
python: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target cbrl_py cbrl_cli
	PYTHONPATH=$(CURDIR)/python /usr/bin/python3 -c 'import cbrl; print("cbrl", cbrl.__version__, "for Python: export PYTHONPATH=$(CURDIR)/python")'

# Libraries, headers, the CLI and the Python package (PREFIX/lib/python3.X/dist-packages/cbrl,
# on Debian's /usr/bin/python3 path for the default /usr/local).
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
