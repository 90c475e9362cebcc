#!/usr/bin/env bash
# A/B line arbitration (issue 12): one line alone vs two lines arbitrated, on the release
# build. Two `tickwire sim` (same seed, symbols, rate, stream clock: the same stream), line
# B's path 5 ms slower (--delay 5ms); line A clean or dropped 2 s into each session. Cells
# per repetition, interleaved so that machine load hits every cell alike: A alone, B alone,
# A + B arbitrated. Prints per run the book resyncs and gaps from `tickwire run`'s summary
# and the p50 / p99 of published→consumed and exchange→recv (--probe: from the venue's
# time, which includes line B's 5 ms).
#
#   cargo build --release -p tickwire-tools
#   benches/ab_lines.sh                     # REPS=3 DUR=10s RATE=2000
#   FIFO=10 benches/ab_lines.sh             # every process SCHED_FIFO (needs root): shields
#                                           # the runs from other load on a shared machine
#
# Environment: BIN (tickwire binary), REPS, DUR, RATE, PORT (first port), FIFO.
set -euo pipefail
BIN=${BIN:-target/release/tickwire}
REPS=${REPS:-3}
DUR=${DUR:-10s}
RATE=${RATE:-2000}
port=${PORT:-9750}
prio=()
if [[ -n ${FIFO:-} ]]; then prio=(chrt -f "$FIFO"); fi
err=$(mktemp)
trap 'rm -f "$err"; kill $(jobs -p) 2>/dev/null || true' EXIT
S=(--seed 3 --symbols BTCUSDT,ETHUSDT --rate "$RATE" --clock-align 1m --probe)

stage() { # stage NAME: "p50 p99" of that row of the summary
  grep -E "^  $1 " "$err" | awk '{ printf "%s%s %s%s", $2,$3, $4,$5 }'
}
counter() { # counter NAME: the number after NAME in the summary's counters line
  grep -oE "$1 [0-9]+" "$err" | head -1 | awk '{ print $2 }'
}
listen() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
    sleep 0.1
  done
}

printf '%-4s %-9s %-8s %-8s %-5s %-22s %s\n' rep "line A" lines resyncs gaps \
  "published→consumed" "exchange→recv"
for r in $(seq 1 "$REPS"); do
  for a in clean drops; do
    for cell in A B AB; do
      pa=$((port + 1)) pb=$((port + 2))
      port=$((port + 2))
      faults=()
      [[ $a == drops ]] && faults=(--faults drop@2s)
      "${prio[@]}" taskset -c 0 "$BIN" sim --port "$pa" "${S[@]}" "${faults[@]}" >/dev/null 2>&1 &
      sa=$!
      "${prio[@]}" taskset -c 0 "$BIN" sim --port "$pb" "${S[@]}" --delay 5ms >/dev/null 2>&1 &
      sb=$!
      listen "$pa"
      listen "$pb"
      case $cell in
        A) urls=(--url "ws://127.0.0.1:$pa") ;;
        B) urls=(--url "ws://127.0.0.1:$pb") ;;
        AB) urls=(--url "ws://127.0.0.1:$pa" --url "ws://127.0.0.1:$pb") ;;
      esac
      "${prio[@]}" taskset -c 1 "$BIN" run "${urls[@]}" --symbols BTCUSDT,ETHUSDT \
        --channels trade,book,bbo --stats --probe --duration "$DUR" >/dev/null 2>"$err" || true
      kill "$sa" "$sb" 2>/dev/null || true
      wait "$sa" "$sb" 2>/dev/null || true
      printf '%-4s %-9s %-8s %-8s %-5s %-22s %s\n' "$r" "$a" "$cell" "$(counter resyncs)" \
        "$(counter gaps)" "$(stage 'published→consumed')" "$(stage 'exchange→recv')"
    done
  done
done
