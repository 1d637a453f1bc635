#!/usr/bin/env bash
# The benchmark, one command: installs the peers (s3rm-rs, boto3, awslambdaric) when missing,
# builds the release binaries and the arm64 bootstrap, starts Garage with lmdb on loopback and
# runs bench/run.py, which prints the tables and writes BENCHMARKS.md. Arguments go to run.py
# (for a quick look: bench/run.sh --objects 1000 20000 --flat --rounds 1 --cold-runs 3).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"

ensure_garage
ensure_cargo_lambda
ensure_python boto3 awslambdaric
ensure_s3rm

say "release build"
cargo build --locked --release --bin del-job
cargo build --locked --profile tools -p bench -p s3-proxy
say "arm64 bootstrap (cargo lambda build --release --arm64)"
rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || true
cargo lambda build --release --arm64 --bin del-job >&2

work=$(mktemp -d)
trap 'garage_stop; rm -rf "$work"' EXIT
garage_start "$work/garage" lmdb
BENCH_WORK=$work python3 bench/run.py --bootstrap target/lambda/del-job/bootstrap "$@"
