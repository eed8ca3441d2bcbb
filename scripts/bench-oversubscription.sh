#!/bin/bash
# tiny training images/s: alone; two at once with every core each; two at once with --threads 1 each.
cd "$(dirname "$0")/.."
export SELFGUIDED_BUSY_NOTE=0
t() { node bin/selfguided.mjs train --limit 512 --preset tiny --batch 32 --steps 60 --log-every 20 --checkpoint-every 60 --preview-every 0 --run-dir $1 "${@:2}" >/dev/null 2>&1; tail -1 $1/metrics.jsonl | sed -E 's/.*"images_per_s":([0-9.]+).*/\1/'; }
for i in 1 2 3; do
  rm -rf ${TMPDIR:-/tmp}/os-*
  echo "alone $i $(t ${TMPDIR:-/tmp}/os-alone)"
  t ${TMPDIR:-/tmp}/os-a1 > ${TMPDIR:-/tmp}/os-a1.txt & t ${TMPDIR:-/tmp}/os-a2 > ${TMPDIR:-/tmp}/os-a2.txt; wait
  echo "two-all-cores $i $(cat ${TMPDIR:-/tmp}/os-a1.txt) $(cat ${TMPDIR:-/tmp}/os-a2.txt)"
  t ${TMPDIR:-/tmp}/os-b1 --threads 1 > ${TMPDIR:-/tmp}/os-b1.txt & t ${TMPDIR:-/tmp}/os-b2 --threads 1 > ${TMPDIR:-/tmp}/os-b2.txt; wait
  echo "two-threads-1 $i $(cat ${TMPDIR:-/tmp}/os-b1.txt) $(cat ${TMPDIR:-/tmp}/os-b2.txt)"
done
