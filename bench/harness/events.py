"""The events the benchmark sends the function: an HTTP API request and an SQS batch, each asking
to delete one job, built by the project's test kit (`benchkit event`), as the tests build them."""
import json
import subprocess

from harness.common import JOB, PROJECT, TOOLS


def _event(entry, job):
    out = subprocess.check_output([str(TOOLS / "benchkit"), "event", entry, PROJECT, job])
    return json.loads(out)


def http_event(job=JOB):
    return _event("http", job)


def sqs_event(job=JOB):
    """An SQS batch of one message carrying the request."""
    return _event("sqs", job)
