#!/usr/bin/env bash
# pgbench and sysbench, unmodified, against a 3-node Spanlite cluster's
# PostgreSQL port and a PostgreSQL started here, one after the other on
# this machine, with the same settings; prints their TPS side by side.
#
#   SPANLITE=target/release/spanlite scripts/pg-tools-compare.sh
#
# pgbench: -i -s 1, then its TPC-B-like script for SECS seconds with
# CLIENTS clients (serialization failures retried: --max-tries 0), the
# balances checked after. sysbench oltp_read_write: 10,000 rows, SECS
# seconds, with 1 and with CLIENTS threads. PostgreSQL runs at its
# default isolation (read committed).
set -euo pipefail

SPANLITE=${SPANLITE:-target/release/spanlite}
SECS=${SECS:-20}
CLIENTS=${CLIENTS:-4}
for tool in "$SPANLITE" pgbench sysbench psql; do
	command -v "$tool" >/dev/null || [[ -x $tool ]] || { echo "pg-tools-compare: $tool not found (make deps)" >&2; exit 1; }
done

WORK=$(mktemp -d -t spanlite-tools-XXXXXX)
PIDS=()
PG_STARTED=""
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
run_pg() {
	if [[ $(id -u) == 0 ]]; then runuser -u postgres -- env PATH="$PG_BIN:$PATH" "$@"; else PATH="$PG_BIN:$PATH" "$@"; fi
}
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	[[ -n "$PG_STARTED" ]] && run_pg pg_ctl -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_for() {
	local deadline=$((SECONDS + 60))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS > deadline)); then echo "pg-tools-compare: timed out waiting for: $*" >&2; exit 1; fi
		sleep 0.2
	done
}

# PostgreSQL.
[[ -x "$PG_BIN/initdb" ]] || { echo "pg-tools-compare: no initdb (install postgresql)" >&2; exit 1; }
PG_PORT=$(free_port)
mkdir -p "$WORK/pg"
[[ $(id -u) == 0 ]] && chown postgres "$WORK" "$WORK/pg"
run_pg initdb -D "$WORK/pg" -U bench --auth=trust >/dev/null
run_pg pg_ctl -D "$WORK/pg" -l "$WORK/pg.log" -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1" start >/dev/null
PG_STARTED=1
wait_for psql "postgres://bench@127.0.0.1:$PG_PORT/postgres" -c "select 1"
psql -q "postgres://bench@127.0.0.1:$PG_PORT/postgres" -c "create database bench"

# Spanlite.
N1=$(free_port); N2=$(free_port); N3=$(free_port); SP_PORT=$(free_port)
JOIN="127.0.0.1:$N1,127.0.0.1:$N2,127.0.0.1:$N3"
for i in 1 2 3; do
	v="N$i"; extra=()
	[[ $i == 1 ]] && extra=(--pg-listen "127.0.0.1:$SP_PORT")
	"$SPANLITE" start --node-id "$i" --listen "127.0.0.1:${!v}" --join "$JOIN" \
		--data-dir "$WORK/node$i" "${extra[@]}" >"$WORK/node$i.log" 2>&1 &
	PIDS+=($!)
done
wait_for "$SPANLITE" init --url "127.0.0.1:$N1"
wait_for psql "postgres://root@127.0.0.1:$SP_PORT/spanlite" -c "select 1"

host_args() { # system
	if [[ $1 == spanlite ]]; then echo "-h 127.0.0.1 -p $SP_PORT -U root spanlite"; else echo "-h 127.0.0.1 -p $PG_PORT -U bench bench"; fi
}
sb_args() { # system threads
	local a=(--db-driver=pgsql --tables=1 --table-size=10000 --time="$SECS" --report-interval=0 --threads="$2" --pgsql-host=127.0.0.1)
	if [[ $1 == spanlite ]]; then a+=(--pgsql-port="$SP_PORT" --pgsql-user=root --pgsql-db=spanlite); else a+=(--pgsql-port="$PG_PORT" --pgsql-user=bench --pgsql-db=bench); fi
	echo "${a[@]}"
}
declare -A R
for system in spanlite postgresql; do
	echo "== $system: pgbench -i -s 1" >&2
	# shellcheck disable=SC2046
	pgbench -i -s 1 -q $(host_args $system) >"$WORK/init-$system.out" 2>&1 || { cat "$WORK/init-$system.out" >&2; exit 1; }
	echo "== $system: pgbench -T $SECS -c $CLIENTS" >&2
	# shellcheck disable=SC2046
	pgbench -T "$SECS" -c "$CLIENTS" -j 2 --max-tries 0 $(host_args $system) >"$WORK/run-$system.out" 2>&1 || { cat "$WORK/run-$system.out" >&2; exit 1; }
	R[pgbench-$system]=$(awk '/^tps = / {printf "%.0f", $3}' "$WORK/run-$system.out")
	R[pgbench-failed-$system]=$(awk -F': ' '/number of failed transactions/ {split($2, a, " "); print a[1]}' "$WORK/run-$system.out")
	R[pgbench-retried-$system]=$(awk -F': ' '/number of transactions retried/ {split($2, a, " "); print a[1]}' "$WORK/run-$system.out")
	# shellcheck disable=SC2046
	sums=$(psql -At $(if [[ $system == spanlite ]]; then echo "postgres://root@127.0.0.1:$SP_PORT/spanlite"; else echo "postgres://bench@127.0.0.1:$PG_PORT/bench"; fi) -c \
		"select (select sum(abalance) from pgbench_accounts) = (select sum(delta) from pgbench_history) and (select sum(bbalance) from pgbench_branches) = (select sum(delta) from pgbench_history) and (select sum(tbalance) from pgbench_tellers) = (select sum(delta) from pgbench_history)")
	[[ $sums == t ]] || { echo "pg-tools-compare: $system's balances disagree" >&2; exit 1; }
	# shellcheck disable=SC2046
	sysbench oltp_read_write $(sb_args $system 1) prepare >/dev/null 2>&1 || { echo "sysbench prepare failed on $system" >&2; exit 1; }
	for threads in 1 "$CLIENTS"; do
		echo "== $system: sysbench oltp_read_write, $threads threads" >&2
		# shellcheck disable=SC2046
		sysbench oltp_read_write $(sb_args $system "$threads") run >"$WORK/sb-$system-$threads.out" 2>&1 || { cat "$WORK/sb-$system-$threads.out" >&2; exit 1; }
		R[sb-$threads-$system]=$(awk '/transactions:/ {gsub(/[(]/, "", $3); printf "%.0f", $3}' "$WORK/sb-$system-$threads.out")
		R[sb-err-$threads-$system]=$(awk '/ignored errors:/ {print $3}' "$WORK/sb-$system-$threads.out")
	done
done
ratio() { python3 -c "import sys; a, b = float(sys.argv[1] or 0), float(sys.argv[2] or 0); print(f'{a / b:.2f}' if b else '-')" "$1" "$2"; }
echo
echo "| tool (TPS, $SECS s each) | Spanlite | PostgreSQL | ratio | Spanlite retried / errors |"
echo "|---|---:|---:|---:|---|"
echo "| pgbench TPC-B-like, $CLIENTS clients | ${R[pgbench-spanlite]} | ${R[pgbench-postgresql]} | $(ratio "${R[pgbench-spanlite]}" "${R[pgbench-postgresql]}") | ${R[pgbench-retried-spanlite]:-0} retried, ${R[pgbench-failed-spanlite]} failed |"
for threads in 1 "$CLIENTS"; do
	echo "| sysbench oltp_read_write, $threads threads | ${R[sb-$threads-spanlite]} | ${R[sb-$threads-postgresql]} | $(ratio "${R[sb-$threads-spanlite]}" "${R[sb-$threads-postgresql]}") | ${R[sb-err-$threads-spanlite]} errors (PostgreSQL ${R[sb-err-$threads-postgresql]}) |"
done
