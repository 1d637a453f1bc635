#!/usr/bin/env bash
# The benchmark, one command: installs the peers (s3rm-rs, boto3, awslambdaric) when missing,
# builds the release binaries and the arm64 bootstrap, starts Garage with lmdb on loopback and
# runs bench/run.py, which prints the tables and writes the generated block of BENCHMARKS.md
# (a full run; other runs write /tmp/del-job-bench.md unless given --out). Needs root: the Lambda
# sizes run every tool in a cgroup (v1) box. Arguments go to run.py:
#
#   bench/run.sh                          # everything: about 40 minutes of measuring, plus builds
#   bench/run.sh --quick                  # one round of the headline cases, under ten minutes
#   bench/run.sh --regimes sizes          # one regime: sizes, write-limit, million, garage, cold
#   bench/run.sh --skip-million           # everything but the million
#   bench/run.sh --regimes million --million-objects 50000   # the million's path, small
#
# --quick skips the arm64 bootstrap build (its size is reported when a bootstrap is there).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"

quick=0
for arg in "$@"; do
  if [ "$arg" = "--quick" ]; then quick=1; fi
done

ensure_garage
ensure_cargo_lambda
ensure_python boto3 awslambdaric
ensure_s3rm

say "release build"
cargo build --locked --release --bin del-job
cargo build --locked --profile tools -p bench -p s3-proxy
bootstrap=target/lambda/del-job/bootstrap
if [ "$quick" = 0 ] || [ ! -e "$bootstrap" ]; then
  if [ "$quick" = 1 ]; then
    say "quick: no arm64 bootstrap build"
  else
    say "arm64 bootstrap (cargo lambda build --release --arm64)"
    rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || true
    cargo lambda build --release --arm64 --bin del-job >&2
  fi
fi

work=$(mktemp -d)
trap 'garage_stop; rm -rf "$work"' EXIT
garage_start "$work/garage" lmdb
BENCH_WORK=$work python3 bench/run.py --bootstrap "$bootstrap" "$@"
