"""The usual Python way to empty a prefix: boto3's resource API, as a hand-written Lambda does.

usage: boto3_delete.py BUCKET PREFIX   (endpoint, keys and region from the AWS_* variables)
"""
import sys

import boto3
from botocore.config import Config

bucket, prefix = sys.argv[1], sys.argv[2]
s3 = boto3.resource("s3", config=Config(s3={"addressing_style": "path"}))
s3.Bucket(bucket).objects.filter(Prefix=prefix).delete()
