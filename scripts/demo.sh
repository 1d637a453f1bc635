#!/usr/bin/env bash
# The API page's example, end to end on this machine: starts Garage on loopback, seeds the
# example job beside neighbours that must survive, serves the function with `cargo lambda watch`,
# sends the page's example request with `cargo lambda invoke`, prints the answer and what is left
# in the buckets, and stops what it started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_garage
ensure_cargo_lambda

work=$(mktemp -d)
watch_pid=
cleanup() {
  if [ -n "$watch_pid" ]; then kill -TERM -- "-$watch_pid" 2>/dev/null || true; wait "$watch_pid" 2>/dev/null || true; fi
  garage_stop
  rm -rf "$work"
}
trap cleanup EXIT
garage_start "$work/garage"

say "seeding the demo"
cargo run --quiet --example seed -- demo

port=$(free_port)
say "starting cargo lambda watch on 127.0.0.1:$port (the first build takes a few minutes)"
setsid cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$port" \
  --env-vars JOB_BUCKET=res-jobs,CONFIG_BUCKETS=res-config >"$work/watch.log" 2>&1 &
watch_pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done

event=events/delete-etl-job-http-api-jwt.json
say "cargo lambda invoke del-job --data-file $event"
answer=$(cargo lambda invoke del-job -A 127.0.0.1 -P "$port" --data-file "$event") || {
  cat "$work/watch.log" >&2
  exit 1
}
python3 - "$answer" <<'PY'
import json, sys
answer = json.loads(sys.argv[1])
print(f"HTTP {answer['statusCode']}")
print(json.dumps(json.loads(answer["body"]), indent=2))
PY

say "what is left in the buckets"
cargo run --quiet --example seed -- list
