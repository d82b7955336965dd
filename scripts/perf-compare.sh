#!/usr/bin/env bash
# Spanlite against PostgreSQL on this machine, side by side, one run
# (`make perf-compare`; README, Benchmarks):
#
#   spanlite workload bank | readonly | kv   (3 nodes in one process vs PostgreSQL)
#   sysbench oltp_point_select | oltp_read_only | oltp_read_write
#            through Spanlite's PostgreSQL port (3 nodes, separate processes)
#            and PostgreSQL, same threads, rows and duration
#
# PostgreSQL: PG_URL (postgres://user:password@host:port/db) if given;
# otherwise a private cluster is created with initdb in a temporary
# directory on a free port (fsync on) and stopped at the end.
#
# Settings (environment): SPANLITE (release binary), DURATION (20s),
# THREADS (16), ROWS (10000), ACCOUNTS (1000), KEYS (10000).
set -euo pipefail

SPANLITE=${SPANLITE:-${CARGO_TARGET_DIR:-target}/release/spanlite}
DURATION=${DURATION:-20s}
SECS=${DURATION%s}
THREADS=${THREADS:-16}
ROWS=${ROWS:-10000}
ACCOUNTS=${ACCOUNTS:-1000}
KEYS=${KEYS:-10000}

for tool in "$SPANLITE" sysbench psql; do
	command -v "$tool" >/dev/null || { echo "perf-compare: $tool not found (make deps; make build-release)" >&2; exit 1; }
done

WORK=$(mktemp -d -t spanlite-perf-XXXXXX)
PIDS=()
PG_STARTED=""
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [[ -n "$PG_STARTED" ]]; then
		run_pg pg_ctl -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until `$@` succeeds, for at most 60 s.
wait_for() {
	local deadline=$((SECONDS + 60))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS > deadline)); then echo "perf-compare: timed out waiting for: $*" >&2; exit 1; fi
		sleep 0.2
	done
}

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
run_pg() {
	if [[ $(id -u) == 0 ]]; then runuser -u postgres -- env PATH="$PG_BIN:$PATH" "$@"; else PATH="$PG_BIN:$PATH" "$@"; fi
}

if [[ -z "${PG_URL:-}" ]]; then
	[[ -x "$PG_BIN/initdb" ]] || { echo "perf-compare: no PG_URL and no initdb (install postgresql)" >&2; exit 1; }
	PG_PORT=$(free_port)
	mkdir -p "$WORK/pg"
	[[ $(id -u) == 0 ]] && chown postgres "$WORK" "$WORK/pg"
	run_pg initdb -D "$WORK/pg" -U bench --auth=trust >/dev/null
	run_pg pg_ctl -D "$WORK/pg" -l "$WORK/pg.log" -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
	PG_STARTED=1
	wait_for psql "postgres://bench@127.0.0.1:$PG_PORT/postgres" -c "select 1"
	psql -q "postgres://bench@127.0.0.1:$PG_PORT/postgres" -c "create database bench"
	PG_URL="postgres://bench:bench@127.0.0.1:$PG_PORT/bench"
fi
PG_HOST=$(python3 -c "import urllib.parse as u,sys; p=u.urlparse(sys.argv[1]); print(p.hostname, p.port or 5432, p.username or '', p.password or '', p.path.lstrip('/'))" "$PG_URL")
read -r PGH PGP PGU PGW PGD <<<"$PG_HOST"
PG_VERSION=$(psql -At "$PG_URL" -c "show server_version")

RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# --- spanlite workload: both systems in one invocation -----------------
workload() {
	local name=$1
	shift
	echo "== spanlite workload $name $*" >&2
	"$SPANLITE" workload "$name" --embedded --pg-url "$PG_URL" --duration "$DURATION" \
		--concurrency "$THREADS" "$@" | tee "$WORK/$name.out" >&2
	# The table's rows: "| throughput (txn/s) | <Spanlite> | <PostgreSQL> |".
	# (the first number in each column, thousands separators dropped).
	row() {
		awk -F'|' -v r="$1" 'function num(c) { gsub(",", "", c); if (match(c, /[0-9]+(\.[0-9]+)?/)) return substr(c, RSTART, RLENGTH); return "" }
			$2 ~ r { print num($3), num($4); exit }' "$WORK/$name.out"
	}
	local s p cs cp as ap  # as/ap: aborted attempts (retries)
	read -r s p <<<"$(row "throughput")"
	read -r cs cp <<<"$(row "^ committed  ")"
	read -r as ap <<<"$(row "^ retries")"
	local per
	per=$(python3 -c "import sys; a=[float(x or 0) for x in sys.argv[1:]]; print(f'{a[0]/a[1] if a[1] else 0:.2f} / {a[2]/a[3] if a[3] else 0:.2f}')" "$as" "$cs" "$ap" "$cp")
	printf '%s\t%s\t%s\t%s\n' "workload $name" "$s" "$p" "$per" >>"$RESULTS"
}
workload bank --accounts "$ACCOUNTS"
workload readonly --keys "$KEYS"
workload kv --keys "$KEYS" --read-fraction 0.9

# --- sysbench through the PostgreSQL port ---------------------------------
N1=$(free_port); N2=$(free_port); N3=$(free_port); PGPORT=$(free_port)
JOIN="127.0.0.1:$N1,127.0.0.1:$N2,127.0.0.1:$N3"
for i in 1 2 3; do
	port_var="N$i"
	extra=()
	[[ $i == 1 ]] && extra=(--pg-listen "127.0.0.1:$PGPORT")
	# No splits by load: the three processes share this machine, so a
	# split spreads no work and makes transactions two-phase.
	"$SPANLITE" start --node-id "$i" --listen "127.0.0.1:${!port_var}" --join "$JOIN" \
		--data-dir "$WORK/node$i" --split-qps 0 "${extra[@]}" >"$WORK/node$i.log" 2>&1 &
	PIDS+=($!)
done
wait_for "$SPANLITE" init --url "127.0.0.1:$N1"
SPANLITE_URL="postgres://root@127.0.0.1:$PGPORT/spanlite"
wait_for psql "$SPANLITE_URL" -c "select 1"

sb() { # system, test, then sysbench's verb
	local system=$1 test=$2 verb=$3
	local args=(--db-driver=pgsql --tables=1 --table-size="$ROWS" --auto_inc=off
		--threads="$THREADS" --time="$SECS" --report-interval=0 --db-ps-mode=auto)
	if [[ $system == spanlite ]]; then
		args+=(--pgsql-host=127.0.0.1 --pgsql-port="$PGPORT" --pgsql-user=root --pgsql-db=spanlite)
	else
		args+=(--pgsql-host="$PGH" --pgsql-port="$PGP" --pgsql-user="$PGU" --pgsql-password="$PGW" --pgsql-db="$PGD")
	fi
	sysbench "$test" "${args[@]}" "$verb"
}

for system in spanlite postgresql; do
	echo "== sysbench prepare ($system, $ROWS rows)" >&2
	sb "$system" oltp_read_write cleanup >/dev/null 2>&1 || true
	sb "$system" oltp_read_write prepare >"$WORK/prepare-$system.out" 2>&1 || {
		cat "$WORK/prepare-$system.out" >&2
		exit 1
	}
done
# Runs sysbench `$2` on system `$1` (with PGOPTIONS `$3` for PostgreSQL)
# into $WORK/$4.out; sets TPS and ERRS (ignored errors: 40001, aborted
# attempts) from it.
sb_run() {
	local system=$1 test=$2 pgopts=$3 out=$4
	echo "== sysbench $test ($out)" >&2
	PGOPTIONS="$pgopts" sb "$system" "$test" run >"$WORK/$out.out" 2>&1 || true
	TPS=$(awk '/transactions:/ {gsub("\\(","",$3); print $3}' "$WORK/$out.out")
	ERRS=$(awk '/ignored errors:/ {gsub("\\(","",$4); print $4}' "$WORK/$out.out")
	grep -E "transactions:|ignored errors:|FATAL" "$WORK/$out.out" >&2 || true
}
declare -A TPS_OF ERRS_OF
# One row: label, Spanlite run, PostgreSQL run (aborted attempts per
# commit: sysbench's ignored errors per transaction, both per second).
row_of() {
	local label=$1 s=$2 p=$3 per_commit
	per_commit=$(python3 -c "import sys; t,e,tp,ep=(float(x or 0) for x in sys.argv[1:]); print(f'{e/t if t else 0:.2f} / {ep/tp if tp else 0:.2f}')" "${TPS_OF[$s]}" "${ERRS_OF[$s]:-0}" "${TPS_OF[$p]}" "${ERRS_OF[$p]:-0}")
	printf '%s\t%s\t%s\t%s\n' "$label" "${TPS_OF[$s]}" "${TPS_OF[$p]}" "$per_commit" >>"$RESULTS"
}
for test in oltp_point_select oltp_read_only; do
	for system in spanlite postgresql; do
		sb_run "$system" "$test" "" "$test-$system"
		TPS_OF[$test-$system]=$TPS
		ERRS_OF[$test-$system]=$ERRS
	done
	row_of "sysbench $test" "$test-spanlite" "$test-postgresql"
done
# oltp_read_write once per concurrency control of Spanlite (the cluster's
# default, which every new session takes) and once per isolation level of
# PostgreSQL: its default (read committed, not serializable, what RC
# gives), serializable (what 2PL, OCC and SSI give) and repeatable read
# (snapshot isolation, what SI gives).
for mode in 2pl occ ssi si rc; do
	psql -q "$SPANLITE_URL" -c "SET CLUSTER SETTING default_concurrency = '$mode'"
	sb_run spanlite oltp_read_write "" "rw-$mode"
	TPS_OF[rw-$mode]=$TPS
	ERRS_OF[rw-$mode]=$ERRS
done
for level in read_committed serializable repeatable_read; do
	sb_run postgresql oltp_read_write "-c default_transaction_isolation=${level/_/\\ }" "rw-pg-$level"
	TPS_OF[rw-pg-$level]=$TPS
	ERRS_OF[rw-pg-$level]=$ERRS
done
for mode in 2pl occ ssi si rc; do
	row_of "sysbench oltp_read_write ($mode)" "rw-$mode" rw-pg-read_committed
done
row_of "rw (2pl) vs PG serializable" rw-2pl rw-pg-serializable
row_of "rw (ssi) vs PG serializable" rw-ssi rw-pg-serializable
row_of "rw (si) vs PG repeatable rd" rw-si rw-pg-repeatable_read
psql -q "$SPANLITE_URL" -c "SET CLUSTER SETTING default_concurrency = '2pl'"

echo
echo "Spanlite $("$SPANLITE" --version 2>/dev/null | head -1) (3 replicas, WAL fdatasync) vs PostgreSQL $PG_VERSION (fsync on), $(nproc) cores, $THREADS clients, $DURATION each"
echo
printf '| %-28s | %12s | %12s | %6s | %s |\n' "workload" "Spanlite/s" "PostgreSQL/s" "ratio" "aborts per commit (Spanlite / PostgreSQL)"
printf '|%s|%s|%s|%s|%s|\n' "------------------------------" "-------------:" "-------------:" "-------:" "---"
while IFS=$'\t' read -r name s p extra; do
	ratio=$(python3 -c "import sys; s,p=sys.argv[1],sys.argv[2]; print(f'{float(s)/float(p):.2f}' if s and p and float(p) else 'n/a')" "$s" "$p")
	printf '| %-28s | %12s | %12s | %6s | %s |\n' "$name" "${s:-failed}" "${p:-failed}" "$ratio" "$extra"
done <"$RESULTS"
