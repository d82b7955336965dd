#!/usr/bin/env bash
# Idle CPU of a 3-node cluster with 20 tablets (replicated-tablets issue).
#
# Starts three `spanlite` nodes on loopback (free ports, data in a temp dir),
# initializes the cluster, splits the data tablet until there are 20 tablets
# (the meta tablet + 19 data tablets), lets elections settle, then reads each
# node's user+system CPU time from /proc over MEASURE_SECS seconds (default
# 20) and prints the share of one core each node used. Stops the nodes it
# started (by PID) and removes the temp dir on exit.
#
#   scripts/idle-cpu.sh [path/to/spanlite]      (default: release, else debug build)
set -euo pipefail

target="${CARGO_TARGET_DIR:-$(dirname "$0")/../target}"
bin="${1:-}"
if [ -z "$bin" ]; then
  for b in "$target/release/spanlite" "$target/debug/spanlite"; do
    [ -x "$b" ] && { bin="$b"; break; }
  done
fi
[ -x "${bin:-}" ] || { echo "idle-cpu: no spanlite binary (build it first)" >&2; exit 2; }
measure="${MEASURE_SECS:-20}"
tablets="${TABLETS:-20}"

dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
addrs=()
for i in 1 2 3; do addrs+=("127.0.0.1:$(free_port)"); done
join=$(IFS=,; echo "${addrs[*]}")
for i in 1 2 3; do
  "$bin" start --node-id "$i" --listen "${addrs[$((i-1))]}" --join "$join" \
    --data-dir "$dir/n$i" 2>"$dir/n$i.log" &
  pids+=("$!")
done

retry() { # retry SECONDS cmd...: run cmd until it succeeds
  local until=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $until ] || { echo "idle-cpu: gave up on: $*" >&2; "$@" >&2 || true; exit 1; }
    sleep 0.2
  done
}
retry 60 "$bin" init --url "${addrs[0]}"
# Split the data tablet (id 2) into tablets-1 pieces at keys s01, s02, …;
# each new tablet is the one above the previous split key.
next=2
for n in $(seq 1 $((tablets - 2))); do
  retry 60 "$bin" admin --url "$join" split --tablet "$next" --at "$(printf 's%02d' "$n")"
  next=$((next + 1))
done
count=$("$bin" admin --url "${addrs[0]}" status | grep -c 'tablet ')
echo "tablets on node 1: $count"
sleep 5 # let elections and lease starts settle

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -a before
for i in 0 1 2; do before[$i]=$(cpu "${pids[$i]}"); done
sleep "$measure"
for i in 0 1 2; do
  after=$(cpu "${pids[$i]}")
  awk -v b="${before[$i]}" -v a="$after" -v t="$ticks" -v s="$measure" -v n=$((i + 1)) \
    'BEGIN { printf "node %d: %.2f%% of one core\n", n, 100 * (a - b) / t / s }'
done
echo "binary: $bin; tablets: $count; measured over ${measure}s"
