#!/usr/bin/env bash
# Smoke test of a deployed stack: asks each entry to delete a job that does not exist, which
# proves the wiring and deletes nothing, then waits for the function's summary of each.
#
#   JWT=... scripts/smoke.sh STACK REGION PROJECT
#
# - the request queue (run it as a principal of RequestSenders), the stack's "Delete Job" bus
#   (as a principal of DeleteJobSenders; FailedEntryCount is checked), and, when JWT holds a token
#   of the API's issuer, the HTTP API (404 res.3301 expected: 401 means the token, 403 the
#   project);
# - then the summaries of the queue's and the bus's requests (outcome not_found), read from the
#   stack's log group (SMOKE_LOG_GROUP overrides it) for up to SMOKE_WAIT seconds (60).
#
# Needs the AWS CLI. The test suite runs this very script against a local emulator of the stack.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: JWT=... $0 STACK REGION PROJECT" >&2; exit 2; }
stack=$1 region=$2 project=$3
out() {
  aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
# Ids are [A-Za-z0-9_-]: nothing in them needs escaping in the JSON below.
job="smoke-$(date +%s)-$$"
request='{"project_id":"'"$project"'","job_id":"'"$job"'","type":"ranking"}'

# The AWS CLI v1 sends SQS requests to an endpoint of its own whatever AWS_ENDPOINT_URL says (its
# customization overridesslcommonname): an endpoint set for an emulator is named to it. In AWS,
# where neither is set, nothing changes.
sqs_endpoint=()
if [ -n "${AWS_ENDPOINT_URL_SQS:-${AWS_ENDPOINT_URL:-}}" ]; then
  sqs_endpoint=(--endpoint-url "${AWS_ENDPOINT_URL_SQS:-$AWS_ENDPOINT_URL}")
fi

echo "request queue: job $job"
aws sqs send-message "${sqs_endpoint[@]}" --region "$region" --queue-url "$(out RequestQueueUrl)" \
  --message-body "$request" >/dev/null

echo "event bus: job $job"
detail=${request//\"/\\\"}
entries='[{"EventBusName":"'"$(out DeleteJobBusName)"'","Source":"res.jobs",
  "DetailType":"Delete Job","Detail":"'"$detail"'"}]'
failed=$(aws events put-events --region "$region" --entries "$entries" \
  --query FailedEntryCount --output text)
[ "$failed" = 0 ] || { echo "put-events: $failed of 1 entries failed" >&2; exit 1; }

if [ -n "${JWT:-}" ]; then
  echo "HTTP API: job $job"
  status=$(curl -sS -o /dev/stderr -w '%{http_code}' -X DELETE "$(out ApiUrl)/v1/$project/del-job" \
    -H "Authorization: Bearer $JWT" -H 'Content-Type: application/json' \
    -d '{"job_id":"'"$job"'","type":"ranking"}')
  echo
  [ "$status" = 404 ] || { echo "HTTP API answered $status, not 404 res.3301" >&2; exit 1; }
fi

group=${SMOKE_LOG_GROUP:-$(out LogGroupName)}
echo "waiting for the summaries in $group"
deadline=$((SECONDS + ${SMOKE_WAIT:-60}))
while :; do
  found=$(aws logs filter-log-events --region "$region" --log-group-name "$group" \
    --filter-pattern "\"$job\"" --query 'events[].message' --output text 2>/dev/null |
    tr '\t' '\n' | grep -c '"deletion summary"' || true)
  if [ "$found" -ge 2 ]; then echo "$found summaries: the entries reach the function"; exit 0; fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "only $found of 2 summaries after ${SMOKE_WAIT:-60} s" >&2
    exit 1
  fi
  sleep 2
done
