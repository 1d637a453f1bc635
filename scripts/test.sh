#!/usr/bin/env bash
# Runs every check and test on a fresh machine: installs what is missing (Garage, cargo-lambda,
# cfn-lint), starts Garage on loopback, runs formatting, lints, the template check and
# `cargo test` (unit, integration against Garage, end to end through cargo lambda), and stops
# what it started. Fails when anything fails. Extra arguments go to `cargo test`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_garage
ensure_cargo_lambda
ensure_python cfn-lint
rustup component add rustfmt clippy >/dev/null 2>&1 || true

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
say "cfn-lint template.yaml"
cfn-lint template.yaml

work=$(mktemp -d)
trap 'garage_stop; rm -rf "$work"' EXIT
garage_start "$work/garage"
garage_readonly_bucket del-job-readonly

say "cargo test"
cargo test --locked "$@"
