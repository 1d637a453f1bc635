"""The stack stage's driver: deploys template.yaml, as aws-sam-translator expands it, to a running
LocalStack, and drives every entry of the function through the stack's own wiring (the rule on
its bus, the SQS event source mappings, the asynchronous-invocation failure destination), each
scenario checking exactly which keys of the job bucket are gone and which survive.

    .tools/localstack/bin/python scripts/stack_test.py --endpoint URL --code DIR --work DIR

DIR of --code holds the function's `bootstrap`, built for this host. scripts/stack_test.sh starts
LocalStack, builds the function, runs this and stops everything; run that instead.
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "000000000000"  # LocalStack's, for the key id "test"
STACK = "del-job-stack-test"
JOB_BUCKET = "del-job-stack-jobs"
PROJECT = "0a5e29b1c4d84f6e9b7a2c3d4e5f6a7b"
# Shares the project's id as a prefix: a deletion in PROJECT must never reach it.
OTHER_PROJECT = PROJECT + "0"
# Who the test's calls come from (key id "test"), named as the senders the queue's and the bus's
# policies admit, as an operator names theirs. LocalStack community does not evaluate those
# policies, so this is a deployment like a real one, not a check of them.
CALLER = f"arn:aws:iam::{ACCOUNT}:root"
# Scenario 3's job, larger than one invocation: for it, an HTTP invocation works a second, then
# answers 202 and hands on; each hand-on's invocation (the function's timeout shortened) works
# under two seconds; and every deletion goes two keys a request, one request at a time, so that
# the job takes a few hand-ons. The other scenarios run with the template's settings.
BIG_OBJECTS = 1000
SLOW_ENV = {"HTTP_BUDGET_MS": "1000", "DELETE_CONCURRENCY": "1", "DELETE_BATCH_SIZE": "2"}
FUNCTION_TIMEOUT = 3
# The request queue's visibility timeout for the test (the template's: 5400 s): a failed
# message is received again two seconds later, and reaches the dead-letter queue at its fifth
# receive (the template's maxReceiveCount) within seconds. It must still outlast the batch's
# invocation, or the valid message would be received again while it is being handled.
REQUEST_VISIBILITY = 2


def log(msg: str) -> None:
    print(msg, flush=True)


class Failed(Exception):
    pass


def check(cond, msg: str) -> None:
    if not cond:
        raise Failed(msg)


def wait_for(what: str, fn, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failed(f"waited {timeout:.0f} s for {what}")
        time.sleep(interval)


class Stage:
    def __init__(self, endpoint: str, code: Path, work: Path):
        self.endpoint, self.code, self.work = endpoint, code, work
        session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
        )
        config = Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"})

        def client(name):
            return session.client(name, endpoint_url=endpoint, config=config)

        self.s3, self.sqs, self.events = client("s3"), client("sqs"), client("events")
        self.lam, self.logs, self.cfn = client("lambda"), client("logs"), client("cloudformation")
        self.expected: set[str] = set()  # every key the bucket must hold now
        self.out: dict[str, str] = {}

    # ---- the job bucket -----------------------------------------------------------------

    def seed_job(self, project: str, job: str, objects: int, job_type: str = "ranking") -> set[str]:
        """A job as the services that create jobs write it (testkit's fixture): `objects` data
        objects over four Spark-style folders, and its record."""
        root = f"{project}/jobs/{job}/"
        keys = [f"{root}output/part-{i % 4:05}/data-{i:06}.parquet" for i in range(objects)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda k: self.s3.put_object(Bucket=JOB_BUCKET, Key=k, Body=b"x"), keys))
        record = {"job_id": job, "type": job_type, "status": "succeeded", "name": "stack test"}
        self.s3.put_object(Bucket=JOB_BUCKET, Key=f"{root}job.json", Body=json.dumps(record))
        seeded = set(keys) | {f"{root}job.json"}
        self.expected |= seeded
        return seeded

    def keys(self, prefix: str = "") -> set[str]:
        found = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=JOB_BUCKET, Prefix=prefix
        ):
            found |= {o["Key"] for o in page.get("Contents", [])}
        return found

    def gone(self, doomed: set[str]) -> None:
        """The keys of `doomed` are deleted from now on."""
        self.expected -= doomed

    def check_bucket(self) -> None:
        """The bucket holds exactly what must survive: nothing doomed left, nothing else gone."""
        now = self.keys()
        left, lost = now - self.expected, self.expected - now
        check(not left, f"{len(left)} keys should be gone and are not, e.g. {min(left or [''])}")
        check(not lost, f"{len(lost)} keys that must survive are gone, e.g. {min(lost or [''])}")

    # ---- the stack -----------------------------------------------------------------------

    def deploy(self) -> None:
        expanded = self.work / "template.json"
        subprocess.run(
            [sys.executable, ROOT / "scripts/translate_template.py", ROOT / "template.yaml",
             expanded, "--code", "hot-reload", str(self.code)],
            check=True,
        )
        parameters = {
            "JobBucket": JOB_BUCKET,
            "JwtIssuer": "https://issuer.invalid/del-job-stack-test",
            "JwtAudience": "del-job-stack-test",
            "RequestSenders": CALLER,
            "DeleteJobSenders": CALLER,
        }
        self.cfn.create_stack(
            StackName=STACK,
            TemplateBody=expanded.read_text(),
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        )

        def status():
            s = self.cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
            return None if s.endswith("IN_PROGRESS") else s

        final = wait_for("the stack's creation to end", status, 120)
        if final != "CREATE_COMPLETE":
            for e in self.cfn.describe_stack_events(StackName=STACK)["StackEvents"]:
                if "FAILED" in e["ResourceStatus"]:
                    log(f"  {e['LogicalResourceId']}: {e.get('ResourceStatusReason')}")
            raise Failed(f"stack {STACK}: {final}")
        stack = self.cfn.describe_stacks(StackName=STACK)["Stacks"][0]
        self.out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        self.function = self.out["FunctionName"]
        # LocalStack writes a function's output to /aws/lambda/NAME whatever its LoggingConfig
        # names (the stack's LogGroupName output): it says so when the function is created.
        self.log_group = f"/aws/lambda/{self.function}"

    def tune(self) -> None:
        """What the test shortens after the deployment, as an operator's update would."""
        # A failed asynchronous invocation goes to the failure queue at once, not after Lambda's
        # two retries (a minute and two apart in AWS).
        self.lam.update_function_event_invoke_config(
            FunctionName=self.function, Qualifier="$LATEST", MaximumRetryAttempts=0
        )
        self.sqs.set_queue_attributes(
            QueueUrl=self.out["RequestQueueUrl"],
            Attributes={"VisibilityTimeout": str(REQUEST_VISIBILITY)},
        )

    def slow_down(self) -> None:
        """Scenario 3's settings (SLOW_ENV, FUNCTION_TIMEOUT), the function's others kept."""
        config = self.lam.get_function_configuration(FunctionName=self.function)
        env = config["Environment"]["Variables"] | SLOW_ENV
        self.lam.update_function_configuration(
            FunctionName=self.function, Environment={"Variables": env}, Timeout=FUNCTION_TIMEOUT
        )
        self.lam.get_waiter("function_updated_v2").wait(FunctionName=self.function)

    # ---- what the function said ----------------------------------------------------------

    def summaries(self, job: str | None) -> list[dict]:
        """The summary lines of deletion requests naming `job` (None: all), oldest first."""
        found, token = [], None
        while True:
            kwargs = {"nextToken": token} if token else {}
            try:
                page = self.logs.filter_log_events(logGroupName=self.log_group, **kwargs)
            except self.logs.exceptions.ResourceNotFoundException:
                return []
            for event in page["events"]:
                try:
                    line = json.loads(event["message"])
                except ValueError:
                    continue
                if (
                    isinstance(line, dict)
                    and line.get("message") == "deletion summary"
                    and (job is None or line.get("job_id") == job)
                ):
                    found.append(line)
            token = page.get("nextToken")
            if not token:
                return found

    def queue_depth(self, url: str) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())

    def drain(self, url: str, want: int, timeout: float) -> list[dict]:
        """At least `want` messages of the queue at `url`, received and deleted, within `timeout`
        (one receive at least)."""
        got: list[dict] = []

        def more():
            page = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for m in page.get("Messages", []):
                got.append(m)
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            return len(got) >= want

        if not more():
            wait_for(f"{want} message(s) in {url.rsplit('/', 1)[-1]}", more, timeout, interval=0)
        return got

    def run_smoke(self) -> str:
        """scripts/smoke.sh, the README's smoke test, as an operator runs it against the stack;
        its AWS CLI reaches LocalStack through AWS_ENDPOINT_URL. Returns its output."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env |= {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_EC2_METADATA_DISABLED": "true",
            "SMOKE_LOG_GROUP": self.log_group,
            "SMOKE_WAIT": "30",
        }
        env.pop("JWT", None)  # no HTTP API here (LocalStack community has none)
        done = subprocess.run(
            [ROOT / "scripts/smoke.sh", STACK, REGION, PROJECT],
            env=env, capture_output=True, text=True, timeout=120,
        )
        for line in (done.stdout + done.stderr).splitlines():
            log(f"  smoke.sh: {line}")
        check(done.returncode == 0, f"scripts/smoke.sh exited {done.returncode}")
        return done.stdout


# ---- the scenarios ----------------------------------------------------------------------


def scenario_bus(st: Stage, job: str, doomed: set[str]) -> None:
    """1. The README's smoke test (smoke.sh: a request on the queue, a "Delete Job" on the bus,
    for a job that does not exist; both summaries read from the logs), then a "Delete Job" for
    a real job, put on the stack's bus exactly as smoke.sh puts it."""
    out = st.run_smoke()
    smoke_job = next(
        (w for line in out.splitlines() for w in line.split() if w.startswith("smoke-")), None
    )
    check(smoke_job, "smoke.sh named no job")
    entries = sorted((s["Entry"], s["outcome"]) for s in st.summaries(smoke_job))
    check(
        entries == [("eventbridge", "not_found"), ("sqs", "not_found")],
        f"smoke job's summaries: {entries}",
    )
    st.check_bucket()  # the smoke test deletes nothing

    request = {"project_id": PROJECT, "job_id": job, "type": "ranking"}
    put = st.events.put_events(
        Entries=[{
            "EventBusName": st.out["DeleteJobBusName"], "Source": "res.jobs",
            "DetailType": "Delete Job", "Detail": json.dumps(request),
        }]
    )
    check(put["FailedEntryCount"] == 0, f"put-events: {put}")
    wait_for(f"job {job} to go (from the bus)", lambda: not st.keys(f"{PROJECT}/jobs/{job}/"), 30)
    st.gone(doomed)
    st.check_bucket()
    ends = [(s["Entry"], s["caller_type"], s["outcome"]) for s in st.summaries(job)]
    check(ends == [("eventbridge", "eventbridge", "deleted")], f"job {job}'s summaries: {ends}")


def scenario_queue(st: Stage, job: str, doomed: set[str]) -> None:
    """2. One batch on the request queue: a valid request and one without a job id. The event
    source mapping must report the partial failure: the valid message is deleted once done
    (its job too), the invalid one is received again until the redrive policy moves it to the
    request dead-letter queue."""
    good = {"project_id": PROJECT, "job_id": job, "type": "ranking"}
    bad = {"project_id": PROJECT, "type": "ranking"}
    sent = st.sqs.send_message_batch(
        QueueUrl=st.out["RequestQueueUrl"],
        Entries=[
            {"Id": "good", "MessageBody": json.dumps(good)},
            {"Id": "bad", "MessageBody": json.dumps(bad)},
        ],
    )
    check(not sent.get("Failed"), f"send-message-batch: {sent.get('Failed')}")
    dead = st.drain(st.out["RequestDeadLetterQueueUrl"], 1, 40)
    check(json.loads(dead[0]["Body"]) == bad, f"dead-lettered: {dead[0]['Body']}")
    check(st.queue_depth(st.out["RequestQueueUrl"]) == 0, "the request queue is not empty")
    st.gone(doomed)
    st.check_bucket()
    ends = [(s["Entry"], s["outcome"]) for s in st.summaries(job)]
    # Once: had the whole batch failed, the valid message would have come back (not_found).
    check(ends == [("sqs", "deleted")], f"job {job}'s summaries: {ends}")


def http_event(project: str, body: dict) -> dict:
    """testkit's http_api_event: DELETE /v1/{project}/del-job through an HTTP API whose JWT
    authorizer names the project."""
    path = f"/v1/{project}/del-job"
    return {
        "version": "2.0",
        "routeKey": "DELETE /v1/{project_id}/del-job",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "pathParameters": {"project_id": project},
        "requestContext": {
            "http": {"method": "DELETE", "path": path},
            "stage": "$default",
            "requestId": str(uuid.uuid4()),
            "authorizer": {
                "jwt": {"claims": {"project_id": project, "sub": f"user-of-{project}"}}
            },
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def scenario_hand_on(st: Stage, job: str, doomed: set[str]) -> None:
    """3. A job larger than one invocation, asked by HTTP (invoked directly: LocalStack
    community has no HTTP API): 202, then the hand-on queue's event source mapping carries the
    deletion to its end with no help."""
    st.slow_down()
    platform = {"platform": "DLI", "platform_parameter": {"cluster_name": "res_one"}}
    body = {"job_id": job, "type": "etl", "offline_platform": platform}
    answer = st.lam.invoke(
        FunctionName=st.function, Payload=json.dumps(http_event(PROJECT, body)).encode()
    )
    check("FunctionError" not in answer, f"function error: {answer.get('FunctionError')}")
    reply = json.loads(answer["Payload"].read())
    status = reply.get("statusCode")
    check(status == 202, f"HTTP answer {status}: {reply.get('body')}")
    log(f"  202 with {len(st.keys(f'{PROJECT}/jobs/{job}/'))} of {len(doomed)} objects left")
    root = f"{PROJECT}/jobs/{job}/"
    wait_for(f"job {job} to go (through the hand-ons)", lambda: not st.keys(root), 60)
    st.gone(doomed)
    st.check_bucket()
    ends = [(s["caller_type"], s["outcome"]) for s in st.summaries(job)]
    log(f"  summaries: {ends}")
    check(ends[0] == ("jwt", "in_progress"), f"the first summary: {ends[:1]}")
    check(ends[-1] == ("hand_on", "deleted"), f"the last summary: {ends[-1:]}")
    check(all(c == "hand_on" for c, _ in ends[1:]), f"summaries after the first: {ends[1:]}")
    for queue in ("HandOnQueueUrl", "HandOnDeadLetterQueueUrl"):
        check(st.queue_depth(st.out[queue]) == 0, f"{queue}: not empty")


def eventbridge_event(source: str, request: dict) -> dict:
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Delete Job", "source": source,
        "account": ACCOUNT, "time": "2026-12-02T10:00:00Z", "region": REGION,
        "resources": [], "detail": request,
    }


def scenario_failures(st: Stage, job: str) -> None:
    """4. What must fail into the failure queue, deleting nothing: an asynchronous invocation
    with a "Delete Job" from a source other than EVENT_SOURCE, and a "Delete Job" on the bus
    whose detail is invalid. A "Delete Job" from another source put on the bus must not reach
    the function at all (the rule's pattern)."""
    request = {"project_id": PROJECT, "job_id": job, "type": "ranking"}
    put = st.events.put_events(Entries=[{
        "EventBusName": st.out["DeleteJobBusName"], "Source": "other.jobs",
        "DetailType": "Delete Job", "Detail": json.dumps(request),
    }])
    check(put["FailedEntryCount"] == 0, f"put-events: {put}")
    invoked = st.lam.invoke(
        FunctionName=st.function, InvocationType="Event",
        Payload=json.dumps(eventbridge_event("evil.jobs", request)).encode(),
    )
    check(invoked["StatusCode"] == 202, f"asynchronous invoke: {invoked['StatusCode']}")
    invalid = dict(request, type="no-such-type")
    put = st.events.put_events(Entries=[{
        "EventBusName": st.out["DeleteJobBusName"], "Source": "res.jobs",
        "DetailType": "Delete Job", "Detail": json.dumps(invalid),
    }])
    check(put["FailedEntryCount"] == 0, f"put-events: {put}")
    failed = st.drain(st.out["FailedEventQueueUrl"], 2, 30)
    # A third would be the event from other.jobs, put first: the rule let it through.
    time.sleep(1)
    failed += st.drain(st.out["FailedEventQueueUrl"], 0, 0)
    records = [json.loads(m["Body"]) for m in failed]
    for r in records:
        error = r["responsePayload"].get("errorMessage", "")
        log(f"  failed: {r['requestPayload']['source']}: {error[:90]}")
    got = sorted(
        (r["requestPayload"]["source"], r["requestPayload"]["detail"]["type"],
         r["requestContext"]["condition"], r["requestContext"]["approximateInvokeCount"])
        for r in records
    )
    want = [
        ("evil.jobs", "ranking", "RetriesExhausted", 1),
        ("res.jobs", "no-such-type", "RetriesExhausted", 1),
    ]
    check(got == want, f"failure queue: {got}")
    callers = {s.get("caller", "") for s in st.summaries(None)}
    check(not any("source=other.jobs" in c for c in callers), "an event of other.jobs got through")
    check(st.queue_depth(st.out["EventDeadLetterQueueUrl"]) == 0, "event DLQ not empty")
    st.check_bucket()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--code", required=True, type=Path)
    ap.add_argument("--work", required=True, type=Path)
    args = ap.parse_args()
    st = Stage(args.endpoint, args.code.resolve(), args.work.resolve())
    run = uuid.uuid4().hex[:8]  # job ids of this run
    jobs = {name: f"{name}{run}" for name in ("bus", "queue", "big", "victim")}
    failures = []
    timings = []

    def step(name: str, fn, *fn_args, fatal: bool = False) -> None:
        t0 = time.monotonic()
        log(f"--- {name}")
        try:
            fn(*fn_args)
        except Exception as e:  # every failure is reported, and the stage goes on
            dt = time.monotonic() - t0
            log(f"FAIL {name} ({dt:.1f} s): {type(e).__name__}: {e}")
            failures.append(name)
            timings.append((name, dt))
            # The scenarios after it are checked against what the bucket now holds.
            with contextlib.suppress(Exception):
                st.expected = st.keys()
            if fatal:
                raise SystemExit(report()) from e
            return
        dt = time.monotonic() - t0
        timings.append((name, dt))
        log(f"ok   {name} ({dt:.1f} s)")

    def report() -> int:
        log(f"stack: {len(timings) - len(failures)} passed, {len(failures)} failed")
        return 1 if failures else 0

    doomed: dict[str, set[str]] = {}

    def seed():
        st.s3.create_bucket(Bucket=JOB_BUCKET)
        for name in ("bus", "queue", "victim"):
            doomed[name] = st.seed_job(PROJECT, jobs[name], 12)
        doomed["big"] = st.seed_job(PROJECT, jobs["big"], BIG_OBJECTS, "etl")
        # Neighbours that every deletion must leave: ids that extend a doomed one, and the same
        # ids in a project whose id extends the project's.
        for job in jobs.values():
            st.seed_job(PROJECT, job + "0", 3)
            st.seed_job(OTHER_PROJECT, job, 3)
        log(f"  {len(st.expected)} objects")

    step("seed the job bucket", seed, fatal=True)
    step("deploy the stack (template.yaml through aws-sam-translator)", st.deploy, fatal=True)
    step("shorten the request queue's visibility, no async retries", st.tune, fatal=True)
    step("1 smoke.sh; a Delete Job on the stack's bus", scenario_bus, st, jobs["bus"],
         doomed["bus"])
    step("2 an SQS batch with a bad message: partial failure, DLQ", scenario_queue, st,
         jobs["queue"], doomed["queue"])
    step("3 HTTP 202, then the hand-ons finish the job", scenario_hand_on, st, jobs["big"],
         doomed["big"])
    step("4 untrusted and invalid events into the failure queue", scenario_failures, st,
         jobs["victim"])
    return report()


if __name__ == "__main__":
    sys.exit(main())
