#!/usr/bin/env bash
# The web app's hostile-site and hostile-file probes of issue 22, run against a real server on a tiny
# run: prints one line per probe (what was sent, the status that came back, what was expected) and the
# count that held. docs/reliability.md quotes its output. Usage: bash scripts/serve-probes.sh
set -uo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
runs=$work/runs
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
cli() { node bin/selfguided.mjs "$@"; }
cli train --limit 64 --preset tiny --condition label --steps 2 --batch 8 --preview-every 0 --run-dir "$runs/r" >/dev/null 2>&1
mkdir -p "$work/elsewhere" && cp -r "$runs/r" "$work/elsewhere/secret" && ln -s "$work/elsewhere/secret" "$runs/linked"
printf '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>' >"$runs/r/x.svg"
port=$((20000 + RANDOM % 20000))
node bin/selfguided.mjs serve --runs "$runs" --port $port >"$work/serve.out" 2>"$work/serve.err" &
server=$!
for _ in $(seq 100); do curl -s -o /dev/null "127.0.0.1:$port/" && break; sleep 0.1; done
base="127.0.0.1:$port"
held=0 total=0
probe() { # name expected curl-args...
  local name=$1 want=$2
  shift 2
  local got
  got=$(curl -s -o "$work/body" -w '%{http_code}' "$@")
  total=$((total + 1))
  local mark=FAILED
  if [[ $got == "$want" ]]; then
    held=$((held + 1))
    mark=held
  fi
  printf '%-62s %s (want %s) %s\n' "$name" "$got" "$want" "$mark"
}
job='{"run":"r","n":1,"steps":1}'
probe 'GET a file with Host: evil.example (DNS rebinding)' 403 -H 'Host: evil.example' "$base/files/r/config.json"
probe 'GET / with Host: evil.example:PORT' 403 -H "Host: evil.example:$port" "$base/"
probe 'GET a file with Host: localhost:PORT' 200 -H "Host: localhost:$port" "$base/files/r/config.json"
probe 'cross-origin POST /api/sample, text/plain' 403 -X POST -H 'Origin: http://evil.example' \
  -H 'Content-Type: text/plain' --data "$job" "$base/api/sample"
probe 'POST /api/sample, text/plain, no Origin' 415 -X POST -H 'Content-Type: text/plain' --data "$job" "$base/api/sample"
probe 'cross-origin POST /api/sample, application/json' 403 -X POST -H 'Origin: http://evil.example' \
  -H 'Content-Type: application/json' --data "$job" "$base/api/sample"
probe 'POST /api/sample, Sec-Fetch-Site: cross-site' 403 -X POST -H 'Sec-Fetch-Site: cross-site' \
  -H 'Content-Type: application/json' --data "$job" "$base/api/sample"
probe 'POST /api/sample from its own origin' 202 -X POST -H "Origin: http://$base" \
  -H 'Content-Type: application/json' --data "$job" "$base/api/sample"
id=$(sed -E 's/.*"id":"([0-9a-f]+)".*/\1/' "$work/body")
probe 'cross-origin POST cancel' 403 -X POST -H 'Origin: http://evil.example' -H 'Content-Type: text/plain' \
  --data '{}' "$base/api/jobs/$id/cancel"
probe 'one request for 1,024 images, Heun at 1,000 steps' 413 -X POST -H 'Content-Type: application/json' \
  --data '{"run":"r","ids":[0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3],"perId":16,"sampler":"heun","steps":1000}' \
  "$base/api/sample"
for i in $(seq 20); do
  curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
    --data '{"run":"r","n":32,"sampler":"ddpm","steps":1000}' "$base/api/sample"
done
probe 'a 22nd submission while 16 wait' 429 -X POST -H 'Content-Type: application/json' \
  --data '{"run":"r","n":1,"steps":1}' "$base/api/sample"
probe 'GET /api/runs lists no symlinked run from outside' 200 "$base/api/runs"
if grep -q linked "$work/body"; then
  echo '  ...but it names the linked run: FAILED'
  held=$((held - 1))
fi
probe 'GET the linked run page' 403 "$base/run?path=linked"
probe 'GET an SVG under the runs folder' 200 -D "$work/headers" "$base/files/r/x.svg"
if ! grep -qi "content-security-policy: default-src 'none'.*sandbox" "$work/headers"; then
  echo '  ...served without a sandboxing policy: FAILED'
  held=$((held - 1))
fi
probe 'GET / carries a policy with no inline script' 200 -D "$work/headers" "$base/"
if ! grep -qi "content-security-policy:.*script-src 'self';" "$work/headers" || grep -q '<script>' "$work/body"; then
  echo '  ...inline script allowed or present: FAILED'
  held=$((held - 1))
fi
echo "held: $held of $total"
