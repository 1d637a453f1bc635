#!/usr/bin/env bash
# Runs every check and test on a fresh machine: installs what is missing (Garage, cargo-lambda,
# cfn-lint, moto), starts Garage and moto on loopback, runs formatting, lints, the template check
# and `cargo test` (unit, integration against Garage and moto, faults through s3-proxy, end to end
# and load through cargo lambda), writes RELIABILITY.md from the run, and stops what it started.
# Fails when anything fails. Extra arguments go to `cargo test` (and skip RELIABILITY.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_garage
ensure_cargo_lambda
ensure_python cfn-lint "moto[server]"
rustup component add rustfmt clippy >/dev/null 2>&1 || true

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
say "cfn-lint template.yaml"
cfn-lint template.yaml

work=$(mktemp -d)
trap 'garage_stop; moto_stop; rm -rf "$work"' EXIT
garage_start "$work/garage"
garage_readonly_bucket del-job-readonly
moto_start "$work/moto"

say "cargo test"
export DEL_JOB_RELIABILITY_LOG="$work/reliability.jsonl"
cargo test --locked "$@"
if [ $# -eq 0 ]; then
  python3 scripts/reliability.py "$DEL_JOB_RELIABILITY_LOG" RELIABILITY.md
fi
