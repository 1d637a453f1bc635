"""What every part of the benchmark shares: the checkout's paths, the job it deletes and the
neighbour job that must survive, Lambda's time limit, and how the driver logs and runs commands."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "target" / "release"
TOOLS = ROOT / "target" / "tools"
PEERS = ROOT / "bench" / "peers"
BUCKET = os.environ.get("GARAGE_DEFAULT_BUCKET", "res-jobs")
PROJECT = "0a5e29b1c4d84f6e9b7a2c3d4e5f6a7b"
JOB = "aa22ac78f14142eaa7deacc8e88d477e"
JOB_ROOT = f"{PROJECT}/jobs/{JOB}/"
NEIGHBOUR_ROOT = f"{PROJECT}/jobs/{JOB}0/"
NEIGHBOUR_OBJECTS = 100

# Lambda's longest invocation: a deletion longer than this takes more than one request.
LAMBDA_TIMEOUT_S = 900


def log(message):
    print(f"==> {message}", file=sys.stderr, flush=True)


def run(cmd, env=None, **kwargs):
    return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, **kwargs).stdout
