#!/usr/bin/env bash
# Scaling benchmark (issues 13 and 16): the same message rate spread over 1, 10, 100 and
# 1,000 symbols, `tickwire sim` on core 0 and `tickwire run` (I/O thread and consumer) on
# core 1, each cell repeated and the cells interleaved so that machine load hits every cell
# alike. Prints one row per run: per-stage p50 / p99 / p99.9 from `tickwire run`'s summary,
# the messages per second that arrived (the simulator falls short of RATE when it saturates
# its core), the load average and how many books synced. The scenario is issue 16's:
# trade + book + bbo, every event printed (to /dev/null), `--profile low-latency`, so the
# I/O thread and the consumer share core 1.
#
#   cargo build --release -p tickwire-tools
#   benches/scaling.sh                       # SYMS="1 10 100 1000" REPS=3 DUR=10s RATE=50000
#   FIFO=10 benches/scaling.sh               # both processes SCHED_FIFO (needs root): shields
#                                            # the cells from other load on a shared machine
#
# CONNS adds the connection dimension (issue 13): each symbol count is also run with the
# streams spread over that many connections on the one I/O thread (`tickwire run
# --connections`; cells with more connections than symbols are skipped; Binance puts at
# most 1,024 streams on a connection, so 1,000 symbols x 3 channels is 3 connections at the
# least). Default "1".
#
# ENGINES adds the engine dimension (issue 13, `tickwire run --shard I/N`): each cell is also
# run with the symbols spread over that many engines, one `tickwire run` process each, the
# connections of the cell divided among them (`--shard` divides `--connections`, rounding
# up); engine k runs on core ENGINE_CORES[k mod len] (default "1": every engine on core 1,
# the only core left on a 2-core machine; on a larger one e.g. ENGINE_CORES="2 3 4 5" and
# the simulator on cores of its own with SIM_CORES="0 1"). A multi-engine cell prints one
# row per engine (`e0/2`, `e1/2`); msgs/s is each engine's own. Default "1".
#
# Environment: BIN (tickwire binary), SYMS, CONNS, ENGINES, ENGINE_CORES, SIM_CORES, REPS, DUR,
# RATE, PORT (first port), FIFO or NICE, RUN_ARGS (added to `tickwire run`, e.g.
# "--yield-stall 0" for the backlog bound by size).
set -euo pipefail
BIN=${BIN:-target/release/tickwire}
SYMS=${SYMS:-1 10 100 1000}
CONNS=${CONNS:-1}
ENGINES=${ENGINES:-1}
read -r -a ecores <<<"${ENGINE_CORES:-1}"
SIM_CORES=${SIM_CORES:-0}
REPS=${REPS:-3}
DUR=${DUR:-10s}
RATE=${RATE:-50000}
port=${PORT:-9700}
prio=()
if [[ -n ${FIFO:-} ]]; then prio=(chrt -f "$FIFO"); elif [[ -n ${NICE:-} ]]; then prio=(nice -n "$NICE"); fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

stage() { # stage FILE NAME: "p50 p99 p99.9" of that row of the summary
  grep -E "^  $2 " "$1" | awk '{ printf "%s%s %s%s %s%s", $2,$3, $4,$5, $6,$7 }' || true
}

printf '%-5s %-7s %-5s %-6s %-6s %-8s %-26s %-26s %-26s %s\n' rep symbols conns engine load \
  msgs/s "published→consumed" "recv→decoded" "recv→consumed" books
for r in $(seq 1 "$REPS"); do
  for n in $SYMS; do
  for c in $CONNS; do
  for e in $ENGINES; do
    if (( c > 1 && c > n )) || (( e > n )); then continue; fi
    port=$((port + 1))
    syms=$(seq 0 $((n - 1)) | awk '{ printf "%sS%03dUSDT", (NR > 1 ? "," : ""), $1 }')
    "${prio[@]}" taskset -c "${SIM_CORES// /,}" "$BIN" sim --port "$port" --rate "$RATE" \
      --symbols "$syms" >/dev/null 2>&1 &
    sim=$!
    # Many symbols take the simulator a while to build: wait until it listens.
    for _ in $(seq 1 300); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.1
    done
    runs=()
    for k in $(seq 0 $((e - 1))); do
      shard=()
      if (( e > 1 )); then shard=(--shard "$k/$e"); fi
      "${prio[@]}" taskset -c "${ecores[$((k % ${#ecores[@]}))]}" "$BIN" run \
        --url "ws://127.0.0.1:$port/stream" --symbols "$syms" \
        --channels trade,book,bbo --print --profile low-latency --duration "$DUR" \
        --connections "$c" "${shard[@]}" ${RUN_ARGS:-} \
        >/dev/null 2>"$tmp/e$k" &
      runs+=($!)
    done
    for p in "${runs[@]}"; do wait "$p" || true; done
    kill "$sim" 2>/dev/null || true
    wait "$sim" 2>/dev/null || true
    load=$(cut -d' ' -f1 /proc/loadavg)
    for k in $(seq 0 $((e - 1))); do
      f="$tmp/e$k"
      # A run that failed has no summary: its row says "?" and "none" (stderr kept below).
      books=$(grep -E '^  books ' "$f" | awk '{ print $2 }' || true)
      rate=$(grep -E '^  messages ' "$f" | sed -E 's/.*\(([0-9,]+)\/s\).*/\1/' || true)
      if [[ -z $books ]]; then sed 's/^/    /' "$f" | tail -3; fi
      printf '%-5s %-7s %-5s %-6s %-6s %-8s %-26s %-26s %-26s %s\n' "$r" "$n" "$c" \
        "e$k/$e" "$load" "${rate:-?}" "$(stage "$f" 'published→consumed')" \
        "$(stage "$f" 'recv→decoded')" "$(stage "$f" 'recv→consumed')" "${books:-none}"
    done
  done
  done
  done
done
