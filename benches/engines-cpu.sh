#!/usr/bin/env bash
# CPU time per message of one engine against two (issue 13: what a split costs per message,
# so what N engines on N cores can take). 1,000 symbols, 64 connections, 50,000 msg/s from
# `tickwire sim` on core 0; each engine a `tickwire run --shard` process on core 1 with the
# standard profile (the I/O thread blocks in epoll when idle, so CPU time is work, not
# spinning) and `--stats` off a terminal (no printing). CPU = user + sys of the whole
# process (`/usr/bin/time`), start-up and snapshot parsing included.
#
#   cargo build --release -p tickwire-tools && benches/engines-cpu.sh
set -euo pipefail
BIN=${BIN:-target/release/tickwire}
port=9900
syms=$(seq 0 999 | awk '{ printf "%sS%03dUSDT", (NR > 1 ? "," : ""), $1 }')
for rep in 1 2; do
for e in 1 2; do
  port=$((port+1))
  taskset -c 0 $BIN sim --port $port --rate 50000 --symbols "$syms" >/dev/null 2>&1 &
  sim=$!
  for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  pids=()
  for k in $(seq 0 $((e-1))); do
    shard=(); if (( e > 1 )); then shard=(--shard "$k/$e"); fi
    taskset -c 1 /usr/bin/time -f "%U %S" -o ${TMPDIR:-/tmp}/engines-cpu-e$k.txt $BIN run --url ws://127.0.0.1:$port/stream --symbols "$syms" \
      --channels trade,book,bbo --stats --profile standard --duration 10s --connections 64 "${shard[@]}" >/dev/null 2>${TMPDIR:-/tmp}/engines-cpu-err$k.txt &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait $p || true; done
  kill $sim; wait $sim 2>/dev/null || true
  tot_cpu=0; tot_msgs=0
  for k in $(seq 0 $((e-1))); do
    cpu=$(awk '{print $1+$2}' ${TMPDIR:-/tmp}/engines-cpu-e$k.txt)
    msgs=$(grep -E '^  messages ' ${TMPDIR:-/tmp}/engines-cpu-err$k.txt | awk '{gsub(",","",$2); print $2}')
    echo "rep $rep engines $e: engine $k cpu ${cpu}s msgs $msgs ($(awk -v c=$cpu -v m=$msgs 'BEGIN{printf "%.0f", c*1e9/m}') ns/msg)"
  done
done
done
