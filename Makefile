# Spanlite — one-command build, test and benchmarks.
#
#   make test    everything CI checks: fmt, clippy -D warnings, all tests
#   make bench   every benchmark (release profile): truetime, MVCC, WAL group
#                commit, 3-node replicated writes
#   make idle-cpu  CPU used by an idle 3-node cluster with 20 tablets
#   make fuzz-sql  the SQL fuzz tests with many more cases (FUZZ_CASES)
#   make jepsen  the Jepsen-style run (real processes, every fault) for
#                TIME seconds (default 600); make test runs a short one
#   make jepsen-soak  2PL, OCC and SSI, SOAK_TIME seconds each (default
#                1200) under every fault, one summary table
#   make slt     the SQL logic tests of tests/slt (also part of make test)
#   make slt-corpus  SQLite's public sqllogictest files from ../shared/slt/sqlite:
#                pass rate per file, never fails the build
#   make workload ARGS="bank --duration 30s"  the end-to-end workload
#                (release build): bank, kv or readonly on a cluster in this
#                process; add --pg-url postgres://… for PostgreSQL side by side
#   make modes-bench  the bank workload under every concurrency mode, at low
#                and high contention (MODES_TIME per run, default 20s)
#   make perf-compare  Spanlite against PostgreSQL on this machine in one run:
#                the bank, readonly and kv workloads and sysbench oltp_point_select,
#                oltp_read_only and oltp_read_write through the PostgreSQL port,
#                with ratios (PG_URL=postgres://… or a private PostgreSQL it starts)
#   make deps    install missing system packages (done by test/bench/build)
#
# NB: everything builds with --workspace (and --all-targets where it builds):
# a narrower build resolves dependency features differently and recompiles
# RocksDB's C++ (20+ minutes on 2 cores).
#
# System packages are installed with apt-get only when missing, and the
# installer prints what it installs; when everything is present it costs one
# dpkg query per package.

SHELL := /bin/bash
CARGO ?= cargo

# Debian packages the build needs:
#   libclang-dev  bindgen (RocksDB's Rust bindings) loads libclang at build time
#   g++           RocksDB's C++ sources are compiled from source
#   make          (already here if you are reading this, but listed for clarity)
#   postgresql-client  psql and pgbench, which the PostgreSQL protocol tests drive
#   chromium      headless, for the web console's test (server/node/tests/console.rs)
SYSTEM_PACKAGES := libclang-dev g++ make postgresql-client sysbench chromium
# What `make perf-compare` needs besides: a PostgreSQL server to compare with.
PERF_PACKAGES := postgresql

.PHONY: all build test check fmt-check clippy unit-test bench idle-cpu perf-compare deps demo slt slt-corpus clean-cache fuzz-sql jepsen jepsen-soak workload modes-bench autosplit

all: build

# psycopg 3, SQLAlchemy 2 and Django (the PostgreSQL protocol and client
# tests drive them) come from PyPI, only when importing them fails (with
# Debian's python3-pip if there is no pip); node-postgres from npm into
# tests/clients/node (its package-lock.json), with Debian's nodejs and npm
# if there is no node.
PYTHON_PACKAGES := 'psycopg[binary]' 'sqlalchemy>=2,<3' 'django>=4.2,<6'
deps:
	@./.ci/install-packages $(SYSTEM_PACKAGES)
	@python3 -c 'import psycopg, sqlalchemy, django' 2>/dev/null || { \
		python3 -m pip --version >/dev/null 2>&1 || ./.ci/install-packages python3-pip; \
		echo "deps: installing $(PYTHON_PACKAGES) from PyPI"; \
		python3 -m pip install --quiet $(PYTHON_PACKAGES) || \
		python3 -m pip install --quiet --break-system-packages $(PYTHON_PACKAGES); }
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || ./.ci/install-packages nodejs npm
	@[ -d tests/clients/node/node_modules/pg ] || { \
		echo "deps: installing node-postgres (npm ci in tests/clients/node)"; \
		npm ci --prefix tests/clients/node --no-audit --no-fund --loglevel=error; }

build: deps
	$(CARGO) build --workspace --all-targets

fmt-check:
	$(CARGO) fmt --all -- --check

clippy: deps
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit-test: deps
	$(CARGO) test --workspace

# What CI runs (.ci/run). Order: the cheap check first, then one build shared by
# clippy and the tests.
test: fmt-check clippy unit-test

bench: deps
	$(CARGO) bench --workspace

idle-cpu: deps
	$(CARGO) build --release --workspace --all-targets
	./scripts/idle-cpu.sh "$${CARGO_TARGET_DIR:-target}/release/spanlite"

perf-compare: deps
	@./.ci/install-packages $(PERF_PACKAGES)
	$(CARGO) build --release --workspace --all-targets
	SPANLITE="$${CARGO_TARGET_DIR:-target}/release/spanlite" ./scripts/perf-compare.sh

# `spanlite workload` on a release build (see README, Benchmarks), e.g.
#   make workload ARGS="kv --read-fraction 0.9 --duration 20s"
#   make workload ARGS="bank --embedded --pg-url postgres://bench:bench@127.0.0.1/bench"
ARGS ?= bank --duration 30s
workload: deps
	$(CARGO) build --release --workspace --all-targets
	"$${CARGO_TARGET_DIR:-target}/release/spanlite" workload $(ARGS)

# The concurrency-control trade-off: the bank workload at 10,000 and at 10
# accounts under 2pl, occ, ssi and si, one table (README, Isolation modes).
MODES_TIME ?= 20s
modes-bench: deps
	$(CARGO) build --release --workspace --all-targets
	"$${CARGO_TARGET_DIR:-target}/release/spanlite" workload modes --duration $(MODES_TIME) --quiet

# Three nodes in one process with a sample `accounts` table, then the SQL
# shell. Built like everything else (--workspace --all-targets) so it
# shares the compiled RocksDB with `make test`.
demo: deps
	$(CARGO) build --workspace --all-targets
	"$${CARGO_TARGET_DIR:-target}/debug/spanlite" demo

# SQL logic tests (sqllogictest format): each file on a fresh 3-node cluster
# in one process; prints every file's pass rate, fails if a record fails.
SPANLITE_BIN = "$${CARGO_TARGET_DIR:-target}/debug/spanlite"
SLT_CORPUS ?= ../shared/slt/sqlite

slt: deps
	$(CARGO) build --workspace --all-targets
	$(SPANLITE_BIN) sqllogictest tests/slt

# The public corpus is not ours to fix file by file: report its pass rates
# and never fail on them.
slt-corpus: deps
	@if [ ! -d "$(SLT_CORPUS)" ]; then \
		echo "slt-corpus: $(SLT_CORPUS) not found; skipping"; \
	else \
		$(CARGO) build --workspace --all-targets && \
		$(SPANLITE_BIN) sqllogictest --report-only $(SLT_CORPUS); \
	fi

# Arbitrary text, token soup and random SELECTs through parse → bind → plan
# → execute; `make test` runs 256 cases of each, this many more.
FUZZ_CASES ?= 100000
fuzz-sql: deps
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --workspace --lib -- fuzz

# The Jepsen-style valid run for TIME seconds: 3 spanlite processes, bank and
# list-append clients, every nemesis kind. Results (history, result.json,
# summary.txt, latency.svg) go to $CARGO_TARGET_DIR/tmp/jepsen/.
TIME ?= 600
jepsen: deps
	JEPSEN_SECS=$(TIME) JEPSEN_MIN_OPS=5000 $(CARGO) test --workspace --test jepsen -- --nocapture

# Automatic splits at full size: 200,000 rows into one table on 3 nodes
# with a 512 KiB split size (make test loads 50,000 with 128 KiB).
autosplit: deps
	AUTOSPLIT_ROWS=200000 AUTOSPLIT_SIZE_KIB=512 $(CARGO) test --workspace --test autosplit -- --nocapture

# The soak: 2PL, OCC and SSI in turn, each SOAK_TIME seconds (default 20
# minutes) under every fault kind, then one summary table (printed, and in
# $CARGO_TARGET_DIR/tmp/jepsen/soak-summary.md). About an hour.
SOAK_TIME ?= 1200
jepsen-soak: deps
	$(CARGO) build --workspace --all-targets
	JEPSEN_SOAK_SECS=$(SOAK_TIME) $(CARGO) test --workspace --test jepsen -- --ignored --nocapture soak
