#!/usr/bin/env bash
# The stack stage: deploys template.yaml, expanded offline by aws-sam-translator, to LocalStack
# with the function built from this checkout, and drives every entry through the stack's own
# wiring: the README's smoke test (scripts/smoke.sh) and a "Delete Job" on the stack's bus, an SQS
# batch with a bad message (partial failure, dead-letter queue), an HTTP deletion larger than one
# invocation finished by the hand-on queue's mapping, and events that must fail into the failure
# queue. Each checks which keys of the job bucket are gone and which survive (scripts/stack_test.py).
#
#   scripts/stack_test.sh        run by scripts/test.sh after cargo test; about a minute
#
# Needs a Python >= 3.12 for LocalStack (on PATH or under ~/.pyenv/versions); without one it says
# so and skips. Starts one LocalStack on loopback and stops it, and everything it ran, on exit;
# writes only under target/stack-test/ (its log stays there for a failed run).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

started=$SECONDS
if ! ensure_localstack; then
  say "SKIP the stack stage: LocalStack $LOCALSTACK_VERSION needs Python >= 3.12 (with venv), and there is none on PATH or under ~/.pyenv/versions"
  exit 0
fi
ensure_python awscli

work=$ROOT/target/stack-test
rm -rf "$work"
mkdir -p "$work/code"
say "building the function for this host (cargo build --bin del-job)"
cargo build --locked --bin del-job
# The function's code as LocalStack runs it in place (hot-reload): a directory with `bootstrap`.
# A copy, so that a build during the run does not change it.
cp target/debug/del-job "$work/code/bootstrap"

trap localstack_stop EXIT
# Empty queues are polled again within a second (LocalStack backs off to 10 s by default).
localstack_start "$work/localstack" LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC=1

status=0
"$LOCALSTACK_VENV/bin/python3" scripts/stack_test.py --endpoint "$LOCALSTACK_ENDPOINT" \
  --code "$work/code" --work "$work" || status=$?
if [ "$status" -ne 0 ]; then
  say "the stack stage failed; LocalStack's log: $work/localstack/localstack.log"
fi
localstack_stop
rm -rf "$work/code"
say "stack stage: $((SECONDS - started)) s"
exit "$status"
