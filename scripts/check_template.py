"""Checks the template, as CloudFormation sees it (expanded by scripts/translate_template.py), for
what the trust model rests on and no linter knows:

- every queue whose messages the function takes refuses to be another queue's dead-letter
  queue (moving a message there is not a SendMessage, which its policy would deny);
- the hand-on queue takes messages from the function's role alone;
- every SQS mapping reports partial batch failures; the hand-on queue's hands each message an
  invocation of its own and is capped;
- the hand-on queue's visibility timeout is at least the function's timeout;
- the log groups, the audit trail, outlive the stack.

    python3 scripts/check_template.py target/template/translated.json
"""
import json
import sys


def main():
    with open(sys.argv[1]) as f:
        resources = json.load(f)["Resources"]
    problems = []

    def check(ok, what):
        if not ok:
            problems.append(what)

    function = next(r for r in resources.values() if r["Type"] == "AWS::Lambda::Function")
    mappings = [r["Properties"] for r in resources.values()
                if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    queues = {name: r["Properties"] for name, r in resources.items()
              if r["Type"] == "AWS::SQS::Queue"}
    consumed = {m["EventSourceArn"]["Fn::GetAtt"][0] for m in mappings}
    check(consumed == {"RequestQueue", "HandOnQueue"}, f"the function takes {sorted(consumed)}")
    for name in sorted(consumed):
        redrive = queues[name].get("RedriveAllowPolicy", {})
        check(redrive.get("redrivePermission") == "denyAll",
              f"{name} may be another queue's dead-letter queue")
    for mapping in mappings:
        queue = mapping["EventSourceArn"]["Fn::GetAtt"][0]
        check(mapping.get("FunctionResponseTypes") == ["ReportBatchItemFailures"],
              f"the mapping of {queue} does not report partial batch failures")
        if queue == "HandOnQueue":
            check(mapping.get("BatchSize") == 1, "hand-ons share invocations")
            check("MaximumConcurrency" in mapping.get("ScalingConfig", {}),
                  "hand-on invocations are not capped")
    check(queues["HandOnQueue"]["VisibilityTimeout"] >= function["Properties"]["Timeout"],
          "the hand-on queue's visibility timeout is shorter than the function's timeout")
    policy = next(r["Properties"]["PolicyDocument"] for r in resources.values()
                  if r["Type"] == "AWS::SQS::QueuePolicy"
                  and r["Properties"]["Queues"] == [{"Ref": "HandOnQueue"}])
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"
            and s["Action"] == "sqs:SendMessage" and s["Principal"] == "*"]
    only_role = [s for s in deny if s.get("Condition", {}).get("ArnNotEquals", {})
                 .get("aws:PrincipalArn") == {"Fn::GetAtt": ["DelJobFunctionRole", "Arn"]}]
    check(bool(only_role), "the hand-on queue takes messages from others than the function's role")
    for name, r in resources.items():
        if r["Type"] == "AWS::Logs::LogGroup":
            check(r.get("DeletionPolicy") == "Retain", f"{name} goes with the stack")
    for problem in problems:
        print(f"template: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
