"""A Python Lambda handler equivalent to del-job's core, on boto3, for the cold-start comparison:
read the job's record, check it, delete the job's objects, the record last, answer the envelope.
"""
import json
import os

import boto3
from botocore.config import Config

s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}))
BUCKET = os.environ["JOB_BUCKET"]


def handler(event, context):
    project = event["pathParameters"]["project_id"]
    request = json.loads(event["body"])
    job = request["job_id"]
    root = f"{project}/jobs/{job}/"
    record_key = root + "job.json"
    try:
        record = json.loads(s3.get_object(Bucket=BUCKET, Key=record_key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return answer(404, {"is_success": False, "error_code": "res.3301",
                            "error_msg": "Resource is not found."})
    if record["type"] != request["type"] or record["status"] in ("starting", "running"):
        return answer(400, {"is_success": False, "error_code": "res.1001",
                            "error_msg": "invalid"})
    deleted = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=root):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", []) if o["Key"] != record_key]
        if keys:
            reply = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys, "Quiet": True})
            if reply.get("Errors"):
                return answer(500, {"is_success": False, "error_code": "res.5001",
                                    "error_msg": "failed"})
            deleted += len(keys)
    s3.delete_object(Bucket=BUCKET, Key=record_key)
    message = f"Succeed to delete job {job}."
    return answer(200, {"is_success": True, "message": message, "job_id": job,
                        "deleted_objects": deleted + 1})


def answer(status, envelope):
    return {"statusCode": status, "headers": {"content-type": "application/json"},
            "body": json.dumps(envelope)}
