"""The events the benchmark sends the function: an HTTP API request and an SQS batch, each asking
to delete one job. Kept apart from the rest so that they can come from elsewhere (a Rust tool
that builds them from the project's own types) without touching the driver."""
import json
import time
import uuid

from harness.common import JOB, PROJECT


def http_event(job=JOB):
    return {
        "version": "2.0", "routeKey": "DELETE /v1/{project_id}/del-job",
        "rawPath": f"/v1/{PROJECT}/del-job", "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "pathParameters": {"project_id": PROJECT},
        "requestContext": {
            "http": {"method": "DELETE", "path": f"/v1/{PROJECT}/del-job"}, "stage": "$default",
            "requestId": "bench", "authorizer": {"jwt": {"claims": {"project_id": PROJECT}}},
        },
        "body": json.dumps({"job_id": job, "type": "etl", "offline_platform": {"platform": "DLI"}}),
        "isBase64Encoded": False,
    }


def sqs_event(job=JOB):
    """An SQS batch of one message carrying the request (the shape of events/sqs-*.json)."""
    body = {"project_id": PROJECT, "job_id": job, "type": "etl",
            "offline_platform": {"platform": "DLI"}}
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": "AQEBbench", "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1",
                       "SentTimestamp": str(int(time.time() * 1000)),
                       "SenderId": "AROAEXAMPLE:bench",
                       "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000))},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:del-job-requests",
        "awsRegion": "us-east-1",
    }]}
