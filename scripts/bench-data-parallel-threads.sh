#!/bin/bash
# 2-process data-parallel tiny run of 20 steps: every core per worker (SELFGUIDED_THREADS=2) vs the launcher's share.
cd "$(dirname "$0")/.."
export SELFGUIDED_BUSY_NOTE=0
for i in 1 2 3; do
  for mode in all share; do
    d=${TMPDIR:-/tmp}/dp-$mode-$i; rm -rf $d
    s=$(date +%s.%N)
    if [ $mode = all ]; then SELFGUIDED_THREADS=2 node bin/selfguided.mjs train --limit 256 --preset tiny --batch 8 --steps 20 --checkpoint-every 20 --preview-every 0 --nproc-per-node 2 --run-dir $d >/dev/null 2>${TMPDIR:-/tmp}/dp-$mode-$i.err
    else node bin/selfguided.mjs train --limit 256 --preset tiny --batch 8 --steps 20 --checkpoint-every 20 --preview-every 0 --nproc-per-node 2 --run-dir $d >/dev/null 2>${TMPDIR:-/tmp}/dp-$mode-$i.err; fi
    e=$(date +%s.%N)
    echo "$mode $i $(echo "$e - $s" | bc)"
  done
done
