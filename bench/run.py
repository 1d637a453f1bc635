#!/usr/bin/env python3
"""The del-job benchmark. Run it with bench/run.sh, which installs the peers, builds the release
binaries and starts Garage (lmdb) before handing over to this driver.

Every case seeds a job beside a neighbour job (once: `benchkit seed`), snapshots Garage, and then,
in rounds that alternate the order of the tools, restores the snapshot and deletes the job with
each tool, checking after every run what is left of the job and that the neighbour is intact.
The regimes (`--regimes`, all by default):

- sizes: Lambda's CPU share. Every tool (del-job, s3rm-rs defaults, boto3) in a box of cgroup v1
  that gives what Lambda gives a function of 128, 512 and 1,769 MB (CPU in proportion to memory,
  one vCPU at 1,769 MB; the memory as its limit), Garage outside it; objects/s, peak memory, and
  what a million objects cost at each size.
- write-limit: S3's write limit, modelled by s3-proxy's token bucket of keys (--write-limit):
  time against the ideal (N - burst) / R, SlowDowns against DeleteObjects requests, objects left.
- million: one invocation of del-job in the 128 MB box through the SQS entry, with a 900 s
  deadline, against the same at 1,000 and 100,000 objects: peak memory and CPU per object.
- garage: the store's own cases (1,000 / 20,000 / 100,000 objects, 16 folders and flat, 0 and
  30 ms) against s3rm-rs (defaults, tuned), boto3 and the floor (DeleteObjects of known keys).
- cold: process start to first answer, del-job against a boto3 handler under awslambdaric,
  unboxed and in the 128 MB box.

Delays go through the project's s3-proxy, which also counts requests (LIST for the costs,
DeleteObjects and SlowDowns for the write limit). The run regenerates only the block between the
generated markers of its --out file (BENCHMARKS.md for a full run) and keeps the text around it.
"""
import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "target" / "release"
TOOLS = ROOT / "target" / "tools"
PEERS = ROOT / "bench" / "peers"
BENCHMARKS = ROOT / "BENCHMARKS.md"
BUCKET = os.environ.get("GARAGE_DEFAULT_BUCKET", "res-jobs")
PROJECT = "0a5e29b1c4d84f6e9b7a2c3d4e5f6a7b"
JOB = "aa22ac78f14142eaa7deacc8e88d477e"
JOB_ROOT = f"{PROJECT}/jobs/{JOB}/"
NEIGHBOUR_ROOT = f"{PROJECT}/jobs/{JOB}0/"
NEIGHBOUR_OBJECTS = 100
# The invoked function's ARN a runtime stand-in sends (decisions.md).
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:del-job"
# Best of the tunings tried against Garage here (worker sizes 8 to 64, batches 100 to 1000).
S3RM_TUNED = "--worker-size 64 --batch-size 100"
# (requests at once, keys a request). Garage deletes the keys of one request one after another,
# so many small requests keep it busier than a few large ones; beyond these no trial run was faster.
FLOORS = [(8, 1000), (32, 250), (64, 100)]

# Lambda gives a function one vCPU at 1,769 MB, and CPU in proportion to memory below that.
FULL_CPU_MB = 1769
CGROUP = Path("/sys/fs/cgroup")
BOX_PREFIX = "del-job-bench-"

# Public prices, US East (N. Virginia), us-east-1, as published on the AWS pricing pages for
# Lambda and S3: Lambda on arm64 (Graviton), first 7.5 billion GB-seconds a month; S3 Standard
# requests. DeleteObjects and DeleteObject requests are free; GET/HEAD (a few per job) are left out.
PRICES = {
    "region": "US East (N. Virginia), us-east-1",
    "lambda_gb_second": 0.0000133334,
    "lambda_request": 0.20 / 1_000_000,
    "s3_list_request": 0.005 / 1_000,
}
# Lambda's longest invocation: a deletion longer than this takes more than one request.
LAMBDA_TIMEOUT_S = 900

MARK_BEGIN = "<!-- generated:begin -->"
MARK_END = "<!-- generated:end -->"
TEMPLATE = f"""# Benchmarks

How fast del-job deletes a job's objects where users run it (Lambda's CPU share, S3's write limit,
a million objects) and on the project's own store, against the usual ways of doing it. The block
between the markers below is written by `bench/run.sh` (see the README) from one run, and only
that block: the text after it is written by hand.

{MARK_BEGIN}
{MARK_END}

## What bounds each figure

_Written by hand from the last full run: for each regime, what limits its figures (the box's CPU
quota, the store's CPU, the write limit, the delay), read from the columns that show it._
"""


def log(message):
    print(f"==> {message}", file=sys.stderr, flush=True)


def run(cmd, env=None, **kwargs):
    return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, **kwargs).stdout


class ToolFailed(Exception):
    """A tool that did not finish its deletion: killed, timed out, exited non-zero, or answered
    an error. Carries what was measured up to then."""

    def __init__(self, reason, sample):
        super().__init__(reason)
        self.reason = reason
        self.sample = sample


class Garage:
    """The Garage that bench/run.sh started, restartable from snapshots of its directories."""

    def __init__(self, work):
        self.config = os.environ["GARAGE_CONFIG"]
        self.pid = int(os.environ["GARAGE_PID"])
        self.process = None
        text = Path(self.config).read_text()
        self.dirs = [Path(re.search(rf'^{name} = "(.*)"', text, re.M).group(1)) for name in ("metadata_dir", "data_dir")]
        self.endpoint = os.environ["AWS_ENDPOINT_URL"]
        self.port = int(self.endpoint.rsplit(":", 1)[1])
        self.work = work

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait()
            self.process = None
        elif self.pid:
            # The Garage bench/run.sh started: not our child, so wait for it through /proc.
            try:
                os.kill(self.pid, signal.SIGTERM)
                while "zombie" not in Path(f"/proc/{self.pid}/status").read_text():
                    time.sleep(0.05)
            except (ProcessLookupError, FileNotFoundError):
                pass
            self.pid = None

    def start(self):
        log_file = open(self.work / "garage.log", "a")
        env = dict(os.environ, RUST_LOG="warn")
        self.process = subprocess.Popen(
            ["garage", "-c", self.config, "server", "--single-node", "--default-bucket"],
            env=env, stdout=log_file, stderr=log_file)
        deadline = time.time() + 60
        while time.time() < deadline:
            ok = subprocess.run(["garage", "-c", self.config, "bucket", "info", BUCKET], capture_output=True).returncode == 0
            if ok and count(self.endpoint, JOB_ROOT) is not None:
                self.wait_idle()
                return
            time.sleep(0.1)
        raise RuntimeError("garage did not come back")

    def wait_idle(self, timeout=120):
        """Garage goes on working after a burst of writes or a restart (Merkle trees, queues);
        timing a tool meanwhile would time that too. Waits until it has used under 2% of a core
        over half a second."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            before = self.cpu()
            time.sleep(0.5)
            if self.cpu() - before < 0.01:
                return
        log("garage did not settle; measuring anyway")

    def cpu(self):
        """User+system CPU seconds Garage has used so far."""
        pid = self.process.pid if self.process else self.pid
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def snapshot(self, name):
        self.wait_idle()
        self.stop()
        target = self.work / "snapshots" / name
        shutil.rmtree(target, ignore_errors=True)
        for d in self.dirs:
            shutil.copytree(d, target / d.name)
        self.start()

    def has(self, name):
        return (self.work / "snapshots" / name).exists()

    def restore(self, name):
        self.stop()
        for d in self.dirs:
            shutil.rmtree(d)
            shutil.copytree(self.work / "snapshots" / name / d.name, d)
        # Written back now, not by the kernel during the next timed run.
        os.sync()
        self.start()


def benchkit(*args, endpoint):
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint)
    return run([str(TOOLS / "benchkit"), *map(str, args)], env=env).strip()


def count(endpoint, prefix):
    try:
        return int(benchkit("count", BUCKET, prefix, endpoint=endpoint))
    except subprocess.CalledProcessError:
        return None


class Proxy:
    """The project's s3-proxy in front of Garage: the delay, S3's write limit, and the counts of
    what went through (printed by the proxy as it stops)."""

    def __init__(self, garage_port, delay_ms, write_limit=None):
        cmd = [str(TOOLS / "s3-proxy"), "--upstream", f"127.0.0.1:{garage_port}", "--delay-ms", str(delay_ms)]
        if write_limit:
            cmd += ["--write-limit", str(write_limit)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.url = "http://" + self.process.stdout.readline().strip()

    def stop(self):
        """Stops the proxy; returns its counts (requests, list_objects, delete_objects,
        delete_objects_throttled, delete_object, delete_object_throttled, throttled,
        keys_admitted)."""
        self.process.terminate()
        out, _ = self.process.communicate(timeout=30)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else None


class Box:
    """A Lambda-sized box: a cgroup (v1) whose CPU quota is the share Lambda gives `mb` MB
    (cfs_quota_us = cfs_period_us x MB / 1,769) and whose memory limit is MB MiB. A command runs
    in it through a shell that moves itself in before it execs the command."""

    def __init__(self, mb):
        self.mb = mb
        name = f"{BOX_PREFIX}{os.getpid()}-{mb}mb"
        self.cpu_dir = CGROUP / "cpu" / name
        self.mem_dir = CGROUP / "memory" / name
        self.cpu_dir.mkdir()
        self.mem_dir.mkdir()
        period = int((self.cpu_dir / "cpu.cfs_period_us").read_text())
        self.quota = max(1000, period * mb // FULL_CPU_MB)
        self.cpus = self.quota / period
        (self.cpu_dir / "cpu.cfs_quota_us").write_text(str(self.quota))
        (self.mem_dir / "memory.limit_in_bytes").write_text(str(mb << 20))
        memsw = self.mem_dir / "memory.memsw.limit_in_bytes"
        if memsw.exists():
            try:
                memsw.write_text(str(mb << 20))
            except OSError:
                pass
        self.before = (0, 0)

    def wrap(self, cmd):
        script = 'echo $$ > "$1" && echo $$ > "$2" && shift 2 && exec "$@"'
        return ["/bin/sh", "-c", script, "box", str(self.cpu_dir / "cgroup.procs"),
                str(self.mem_dir / "cgroup.procs"), *cmd]

    def reset(self):
        """Before a run: the page cache charged by earlier runs goes, the peak starts again."""
        try:
            (self.mem_dir / "memory.force_empty").write_text("0")
        except OSError:
            pass
        (self.mem_dir / "memory.max_usage_in_bytes").write_text("0")
        self.before = (self.throttled_ns(), self.oom_kills())

    def measure(self, sample):
        """After a run: the box's peak memory, the CPU time the quota held the run back, OOM kills."""
        sample.box_mb = int((self.mem_dir / "memory.max_usage_in_bytes").read_text()) / 2**20
        sample.throttled_s = (self.throttled_ns() - self.before[0]) / 1e9
        sample.oom = self.oom_kills() - self.before[1]

    def throttled_ns(self):
        text = (self.cpu_dir / "cpu.stat").read_text()
        found = re.search(r"^throttled_time (\d+)", text, re.M)
        return int(found.group(1)) if found else 0

    def oom_kills(self):
        text = (self.mem_dir / "memory.oom_control").read_text()
        found = re.search(r"^oom_kill (\d+)", text, re.M)
        return int(found.group(1)) if found else 0

    def remove(self):
        for d in (self.cpu_dir, self.mem_dir):
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)  # its last process is still exiting
            else:
                log(f"could not remove {d}")


def remove_stale_boxes():
    """Boxes left by an earlier run of this benchmark that was killed: removed if empty."""
    for hierarchy in ("cpu", "memory"):
        for d in (CGROUP / hierarchy).glob(f"{BOX_PREFIX}*"):
            pid = d.name[len(BOX_PREFIX):].split("-")[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                try:
                    d.rmdir()
                    log(f"removed a stale box {d}")
                except OSError:
                    pass


class RuntimeApi:
    """A stand-in for the Lambda runtime API: hands one event to the function and records when
    the answer arrives. Later polls for events wait until the function is stopped."""

    def __init__(self, work):
        api = self
        self.work = work
        self.event = None
        self.deadline_s = LAMBDA_TIMEOUT_S
        self.answer = None
        self.answered = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body=b"", headers=()):
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    return self.reply(404)
                event, api.event = api.event, None
                if event is None:
                    # The function polls again after answering; it is stopped before this returns.
                    threading.Event().wait(3600)
                    return
                deadline = int((time.time() + api.deadline_s) * 1000)
                self.reply(200, json.dumps(event).encode(), [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", str(uuid.uuid4())),
                    ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                    ("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN),
                    ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0"),
                ])

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                self.reply(202, b"{}", [("Content-Type", "application/json")])
                if "/response" in self.path or "/error" in self.path:
                    api.answer = (time.perf_counter(), self.path, body)
                    api.answered.set()

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # the function is killed while it polls for its next event

        self.server = Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, cmd, env, event, cwd=None, box=None, deadline_s=LAMBDA_TIMEOUT_S, memory_mb=512):
        """Starts the function (in `box` if given), hands it `event` with a deadline `deadline_s`
        away; returns (seconds from start to answer, answer, usage of the process). Raises
        ToolFailed if the function dies or does not answer by the deadline."""
        self.event, self.answer, self.deadline_s = event, None, deadline_s
        self.answered.clear()
        env = dict(env, AWS_LAMBDA_RUNTIME_API=self.address, AWS_LAMBDA_FUNCTION_NAME="del-job",
                   AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(memory_mb), AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                   AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/del-job", AWS_LAMBDA_LOG_STREAM_NAME="bench",
                   RUST_LOG="warn")
        errors = self.work / "function.stderr"
        started = time.perf_counter()
        with open(errors, "w") as stderr:
            process = subprocess.Popen(box.wrap(cmd) if box else cmd, env=env, cwd=cwd,
                                       stdout=subprocess.DEVNULL, stderr=stderr)
        peak = PeakRss(process.pid, cmd)
        give_up = time.time() + deadline_s + 30
        exited = None
        while not self.answered.wait(0.05):
            pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                exited = (status, rusage)
                break
            if time.time() > give_up:
                break
        if self.answered.is_set():
            peak.read()  # the process is still alive: its peak is exact
        if exited is None:
            process.kill()
            _, status, rusage = os.wait4(process.pid, 0)
        else:
            status, rusage = exited
        process.returncode = os.waitstatus_to_exitcode(status)
        usage = Usage(rusage, peak.stop())
        if not self.answered.is_set():
            wall = time.perf_counter() - started
            reason = "no answer by the deadline" if exited is None else f"died ({exit_reason(process.returncode)})"
            raise ToolFailed(f"{Path(cmd[-1]).name}: {reason}: {tail(errors)}", Sample(wall, usage))
        at, path, body = self.answer
        if "/error" in path:
            raise ToolFailed(f"{Path(cmd[-1]).name} failed: {body[:300]!r}", Sample(at - started, usage))
        return at - started, json.loads(body), usage


def exit_reason(code):
    return f"signal {-code}" if code < 0 else f"exit {code}"


def tail(path, chars=600):
    try:
        text = Path(path).read_text(errors="replace").strip()
    except FileNotFoundError:
        return ""
    return text[-chars:].replace("\n", " | ")


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
    body = {"project_id": PROJECT, "job_id": job, "type": "etl", "offline_platform": {"platform": "DLI"}}
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": "AQEBbench", "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000)),
                       "SenderId": "AROAEXAMPLE:bench", "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000))},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:del-job-requests", "awsRegion": "us-east-1",
    }]}


class PeakRss:
    """The peak resident memory of a running process: VmHWM from /proc, read every 5 ms.

    Not ru_maxrss: Linux carries the high-water mark of the forked Python driver across exec, so
    every child would seem to need at least the driver's own memory. VmHWM belongs to the image
    the process runs; the last reading before it exits misses at most the last 5 ms of growth.
    """

    def __init__(self, pid, cmd):
        self.path = f"/proc/{pid}/status"
        # Until exec the child still runs the driver's image (or the box's shell): readings count
        # once it runs its own. (A Python peer keeps the name python3; its own peak is far above
        # the driver's anyway.)
        self.name = Path(cmd[0]).name[:15]
        self.kb = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    def read(self):
        try:
            text = Path(self.path).read_text()
        except (FileNotFoundError, ProcessLookupError):
            return
        name = re.search(r"^Name:\s+(.*)$", text, re.M)
        found = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
        if found and name and name.group(1) == self.name:  # no VmHWM once a zombie
            self.kb = max(self.kb, int(found.group(1)))

    def poll(self):
        while not self.done.wait(0.005):
            self.read()

    def stop(self):
        self.done.set()
        self.thread.join()
        return self.kb


class Usage:
    def __init__(self, rusage, peak_kb):
        self.cpu = rusage.ru_utime + rusage.ru_stime
        self.peak_kb = peak_kb


class Sample:
    def __init__(self, wall, usage):
        self.wall = wall
        self.cpu = usage.cpu
        self.rss_mb = usage.peak_kb / 1024
        # Set by the caller that can see them: Garage's CPU during the run, the machine's stolen
        # and total CPU ticks, the proxy's counts, what is left of the job, whether the neighbour
        # is intact, and in a box its peak memory, the CPU time its quota held back and OOM kills.
        self.store_cpu = 0.0
        self.stolen = self.host = 0
        self.failed = None
        self.counts = None
        self.left = 0
        self.neighbour_ok = True
        self.box_mb = None
        self.throttled_s = 0.0
        self.oom = 0


def timed_process(cmd, env, cwd=None, box=None, timeout=None, errors=None):
    """Runs a command to its end (in `box` if given); raises ToolFailed if it exits non-zero or
    runs past `timeout` seconds."""
    started = time.perf_counter()
    errors = errors or Path("/dev/null")
    with open(errors, "w") as stderr:
        process = subprocess.Popen(box.wrap(cmd) if box else cmd, env=env, cwd=cwd,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    peak = PeakRss(process.pid, cmd)
    timed_out = threading.Event()

    def stop():
        timed_out.set()
        process.kill()

    timer = threading.Timer(timeout, stop) if timeout else None
    if timer:
        timer.start()
    _, status, rusage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if timer:
        timer.cancel()
    sample = Sample(wall, Usage(rusage, peak.stop()))
    process.returncode = os.waitstatus_to_exitcode(status)
    if timed_out.is_set():
        raise ToolFailed(f"timed out after {timeout} s", sample)
    if process.returncode != 0:
        raise ToolFailed(f"{exit_reason(process.returncode)}: {tail(errors)}", sample)
    return sample


class Runner:
    """A tool as a run sees it: a name, a function endpoint -> Sample, the box it runs in."""

    def __init__(self, name, fn, box=None):
        self.name, self.fn, self.box = name, fn, box


class Bench:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.garage = Garage(work)
        self.runtime = RuntimeApi(work)
        self.base_env = dict(os.environ)
        self.boxes = {}
        self.timings = {}

    def box(self, mb):
        if mb not in self.boxes:
            self.boxes[mb] = Box(mb)
        return self.boxes[mb]

    def close(self):
        for box in self.boxes.values():
            box.remove()
        self.boxes = {}

    # The tools. Each returns function(endpoint) -> Sample, raising ToolFailed when it fails.

    def s3_env(self, endpoint):
        return dict(self.base_env, AWS_ENDPOINT_URL=endpoint)

    def ours_http(self, objects, settings=None, box=None):
        def go(endpoint):
            # One invocation does the whole job, as behind a Function URL (up to 15 minutes):
            # the throughput of the engine is measured, not the hand-on of a 25 s API budget.
            env = dict(self.s3_env(endpoint), JOB_BUCKET=BUCKET, HTTP_BUDGET_MS="900000", **(settings or {}))
            wall, answer, usage = self.runtime.invoke([self.args.ours], env, http_event(), box=box,
                                                      memory_mb=box.mb if box else 512)
            sample = Sample(wall, usage)
            envelope = json.loads(answer.get("body") or "{}")
            if answer.get("statusCode") != 200 or envelope.get("deleted_objects") != objects + 1:
                raise ToolFailed(f"answered {answer.get('statusCode')}: {str(envelope)[:300]}", sample)
            return sample
        return go

    def ours_sqs(self, box, deadline_s):
        def go(endpoint):
            env = dict(self.s3_env(endpoint), JOB_BUCKET=BUCKET)
            wall, answer, usage = self.runtime.invoke([self.args.ours], env, sqs_event(), box=box,
                                                      deadline_s=deadline_s, memory_mb=box.mb)
            sample = Sample(wall, usage)
            if answer.get("batchItemFailures"):
                raise ToolFailed(f"the message failed: {answer}", sample)
            return sample
        return go

    def s3rm(self, extra, box=None, timeout=None):
        target = f"s3://{BUCKET}/{JOB_ROOT}"

        def go(endpoint):
            cmd = ["s3rm", target, "--force", "--show-no-progress", "--target-endpoint-url", endpoint,
                   "--target-force-path-style", "--target-region", os.environ["AWS_REGION"],
                   "--target-access-key", os.environ["AWS_ACCESS_KEY_ID"],
                   "--target-secret-access-key", os.environ["AWS_SECRET_ACCESS_KEY"], *extra]
            return timed_process(cmd, self.base_env, box=box, timeout=timeout, errors=self.work / "s3rm.stderr")
        return go

    def boto3(self, box=None, timeout=None):
        def go(endpoint):
            cmd = [sys.executable, str(PEERS / "boto3_delete.py"), BUCKET, JOB_ROOT]
            return timed_process(cmd, self.s3_env(endpoint), box=box, timeout=timeout, errors=self.work / "boto3.stderr")
        return go

    def floor(self, objects, folders, concurrency, batch):
        def go(endpoint):
            cmd = [str(TOOLS / "benchkit"), "floor", BUCKET, JOB_ROOT, str(objects), str(folders), str(concurrency), str(batch)]
            return timed_process(cmd, self.s3_env(endpoint), errors=self.work / "floor.stderr")
        return go

    # Cases.

    def seeded(self, objects, folders):
        """The snapshot of a job of `objects` objects beside the neighbour, seeded once a run."""
        name = f"{objects}-{folders}"
        if not self.garage.has(name):
            started = time.perf_counter()
            self.garage.restore("empty")
            benchkit("seed", BUCKET, JOB_ROOT, objects, folders, endpoint=self.garage.endpoint)
            benchkit("seed", BUCKET, NEIGHBOUR_ROOT, NEIGHBOUR_OBJECTS, 4, endpoint=self.garage.endpoint)
            self.garage.snapshot(name)
            log(f"seeded {objects:,} objects in {time.perf_counter() - started:.0f} s")
        return name

    def rounds(self, snapshot, objects, runners, rounds, delay_ms=0, write_limit=None, strict=True):
        """Runs every runner `rounds` times, in an order that rotates each round, each run from
        the snapshot. Strict: a run that fails or leaves anything stops the benchmark; otherwise
        it is recorded (failed, left, neighbour) and the rounds go on."""
        samples = {r.name: [] for r in runners}
        for round_no in range(rounds):
            k = round_no % len(runners)
            for runner in runners[k:] + runners[:k]:
                self.garage.restore(snapshot)
                proxy = Proxy(self.garage.port, delay_ms, write_limit) if delay_ms or write_limit else None
                endpoint = proxy.url if proxy else self.garage.endpoint
                if runner.box:
                    runner.box.reset()
                store_cpu, host = self.garage.cpu(), host_cpu()
                failure = None
                try:
                    sample = runner.fn(endpoint)
                except ToolFailed as failed:
                    sample, failure = failed.sample, failed.reason
                finally:
                    counts = proxy.stop() if proxy else None
                # The store's own work during the run (its background work after it is not counted).
                sample.store_cpu = self.garage.cpu() - store_cpu
                sample.stolen, sample.host = (after - before for after, before in zip(host_cpu(), host))
                sample.counts = counts
                if runner.box:
                    runner.box.measure(sample)
                    if failure and sample.oom:
                        failure = f"OOM-killed in the {runner.box.mb} MB box ({failure})"
                sample.failed = failure
                sample.left = count(self.garage.endpoint, JOB_ROOT)
                neighbour = count(self.garage.endpoint, NEIGHBOUR_ROOT)
                sample.neighbour_ok = neighbour == NEIGHBOUR_OBJECTS + 1
                if not sample.neighbour_ok:
                    log(f"!!! {runner.name}: the neighbour has {neighbour} objects, not {NEIGHBOUR_OBJECTS + 1}")
                if strict and (failure or sample.left or not sample.neighbour_ok):
                    raise RuntimeError(f"{runner.name}: {failure or ''} {sample.left} objects left in the job, "
                                       f"neighbour has {neighbour}")
                samples[runner.name].append(sample)
                self.log_sample(runner.name, sample, objects)
        return samples

    def log_sample(self, name, s, objects):
        parts = [f"{s.wall:.3f} s", f"{(objects + 1) / s.wall:,.0f} objects/s", f"cpu {s.cpu:.2f} s",
                 f"garage cpu {s.store_cpu:.2f} s", f"rss {s.rss_mb:.1f} MB"]
        if s.box_mb is not None:
            parts.append(f"box peak {s.box_mb:.1f} MB, cpu-throttled {s.throttled_s:.2f} s")
        if s.counts:
            c = s.counts
            parts.append(f"lists {c['list_objects']}, DeleteObjects {c['delete_objects']} "
                         f"({c['delete_objects_throttled']} SlowDown)")
        parts.append(f"stolen {100 * s.stolen / max(s.host, 1):.0f}%")
        if s.left:
            parts.append(f"LEFT {s.left}")
        if s.failed:
            parts.append(f"FAILED: {s.failed[:300]}")
        log(f"  {name}: " + ", ".join(parts))

    def garage_case(self, objects, folders, delay_ms):
        layout = f"{folders} folders" if folders else "flat"
        log(f"garage case: {objects:,} objects, {layout}, {delay_ms} ms delay")
        snapshot = self.seeded(objects, folders)
        tools = {"del-job": self.ours_http(objects), "s3rm-rs default": self.s3rm([]),
                 "s3rm-rs tuned": self.s3rm(self.args.s3rm_tuned.split()), "boto3": self.boto3()}
        for c, b in FLOORS:
            tools[f"floor c={c} b={b}"] = self.floor(objects, folders, c, b)
        if self.args.tools:
            # Tuning variants: "del-job NAME=VALUE ...", "s3rm-rs FLAGS", "floor c=N b=N".
            for name in self.args.tools:
                tool, _, extra = name.partition(" ")
                if name not in tools and tool == "del-job":
                    tools[name] = self.ours_http(objects, dict(setting.split("=", 1) for setting in extra.split()))
                elif name not in tools and tool == "s3rm-rs":
                    tools[name] = self.s3rm(extra.split())
                elif name not in tools and tool == "floor":
                    c, b = (int(part.split("=")[1]) for part in extra.split())
                    tools[name] = self.floor(objects, folders, c, b)
            tools = {name: tool for name, tool in tools.items() if name in self.args.tools}
        runners = [Runner(name, fn) for name, fn in tools.items()]
        rounds = self.args.rounds if objects <= 20_000 else self.args.rounds_large
        samples = self.rounds(snapshot, objects, runners, rounds, delay_ms)
        return {"objects": objects, "folders": folders, "delay_ms": delay_ms, "samples": samples}

    def sizes(self):
        a = self.args
        log(f"sizes: {a.size_objects:,} objects, {a.folders} folders, {a.size_delay} ms, boxes of {a.sizes} MB")
        snapshot = self.seeded(a.size_objects, a.folders)
        runners = []
        for mb in a.sizes:
            box = self.box(mb)
            runners += [Runner(f"del-job @ {mb}", self.ours_http(a.size_objects, box=box), box),
                        Runner(f"s3rm-rs default @ {mb}", self.s3rm([], box=box, timeout=a.tool_timeout), box),
                        Runner(f"boto3 @ {mb}", self.boto3(box=box, timeout=a.tool_timeout), box)]
        samples = self.rounds(snapshot, a.size_objects, runners, a.size_rounds, a.size_delay, strict=False)
        return {"objects": a.size_objects, "folders": a.folders, "delay_ms": a.size_delay, "sizes": a.sizes,
                "rounds": a.size_rounds, "samples": samples,
                "quota": {mb: self.box(mb).cpus for mb in a.sizes}}

    def write_limit(self):
        a = self.args
        snapshot = self.seeded(a.write_limit_objects, a.folders)
        results = []
        # First without a limit: how fast each tool goes here when only the store and the delay bound it.
        for rate in [None, *a.write_limits]:
            log(f"write limit: {a.write_limit_objects:,} objects, {a.write_limit_delay} ms, "
                + (f"{rate:,} keys/s" if rate else "no limit (reference)"))
            runners = [Runner("del-job", self.ours_http(a.write_limit_objects)),
                       Runner("s3rm-rs default", self.s3rm([], timeout=a.tool_timeout)),
                       Runner("boto3", self.boto3(timeout=a.tool_timeout))]
            samples = self.rounds(snapshot, a.write_limit_objects, runners, a.write_limit_rounds,
                                  a.write_limit_delay, write_limit=rate, strict=False)
            results.append({"rate": rate, "samples": samples})
        return {"objects": a.write_limit_objects, "folders": a.folders, "delay_ms": a.write_limit_delay,
                "rounds": a.write_limit_rounds, "rates": results}

    def million(self):
        a = self.args
        box = self.box(a.million_memory)
        cases = []
        for objects in sorted({1_000, 100_000, a.million_objects}):
            big = objects == a.million_objects
            rounds = a.million_rounds if big else max(2, a.million_rounds)
            log(f"million: {objects:,} objects, {a.folders} folders, {a.million_delay} ms, "
                f"{a.million_memory} MB box, SQS entry, {a.million_deadline} s deadline, {rounds} rounds")
            snapshot = self.seeded(objects, a.folders)
            runner = Runner("del-job (SQS)", self.ours_sqs(box, a.million_deadline), box)
            samples = self.rounds(snapshot, objects, [runner], rounds, a.million_delay, strict=False)
            cases.append({"objects": objects, "rounds": rounds, "samples": samples[runner.name], "big": big})
        return {"memory": a.million_memory, "delay_ms": a.million_delay, "deadline_s": a.million_deadline,
                "folders": a.folders, "target": a.million_objects, "cases": cases}

    def cold_start(self, boxed_mb):
        """Process start to first answer, deleting a 10-object job, for del-job and boto3; unboxed
        and in the box of `boxed_mb` MB."""
        self.garage.restore("empty")
        endpoint = self.garage.endpoint
        env = dict(self.base_env, AWS_ENDPOINT_URL=endpoint, JOB_BUCKET=BUCKET)
        commands = {
            "del-job": ([self.args.ours], None),
            "boto3 handler (awslambdaric)": ([sys.executable, "-m", "awslambdaric", "handler.handler"], str(PEERS)),
        }
        places = [None, boxed_mb]
        results = {(name, mb): [] for mb in places for name in commands}
        for i in range(self.args.cold_runs):
            for mb in places:
                box = self.box(mb) if mb else None
                for name, (cmd, cwd) in commands.items():
                    job = f"cold{i}{name[0]}{mb or 0}"
                    benchkit("seed", BUCKET, f"{PROJECT}/jobs/{job}/", 10, 2, endpoint=endpoint)
                    if box:
                        box.reset()
                    wall, answer, usage = self.runtime.invoke(cmd, env, http_event(job), cwd=cwd, box=box,
                                                              memory_mb=mb or 512)
                    if answer["statusCode"] != 200:
                        raise RuntimeError(f"{name} answered {answer}")
                    sample = Sample(wall, usage)
                    if box:
                        box.measure(sample)
                    results[(name, mb)].append(sample)
        return results

    def timed(self, name, fn):
        started = time.perf_counter()
        try:
            return fn()
        finally:
            self.timings[name] = self.timings.get(name, 0) + time.perf_counter() - started


def machine():
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) // 1024 // 1024
    versions = {
        "rustc": run(["rustc", "--version"]).strip(),
        "garage": run(["garage", "--version"]).splitlines()[0],
        "s3rm-rs": run(["s3rm", "--version"]).split(" (")[0].strip(),
        "boto3": "boto3 " + run([sys.executable, "-c", "import boto3; print(boto3.__version__)"]).strip(),
        "python": "Python " + platform.python_version(),
    }
    return f"{os.cpu_count()} × {cpu}, {memory} GiB, Linux {platform.release()}", versions


def engine_commit():
    try:
        commit = run(["git", "-C", str(ROOT), "log", "-1", "--format=%h", "--", "src", "Cargo.toml", "Cargo.lock"]).strip()
        dirty = run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"]).strip()
        return commit + (" with uncommitted changes" if dirty else "")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def host_cpu():
    """(stolen, total) CPU ticks of the whole machine so far, from /proc/stat. Stolen ticks are
    time the hypervisor gave the virtual CPUs to someone else: the store on them slows down."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[7], sum(fields[:8])


# The report.

def median(values):
    return statistics.median(values)


def ok(runs):
    return [s for s in runs if not s.failed and not s.left]


def rate_of(runs, n):
    """Median objects/s over the runs that finished, with the slowest and fastest round."""
    done = ok(runs)
    if not done:
        return None, None, None
    walls = [s.wall for s in done]
    return n / median(walls), n / max(walls), n / min(walls)


def fmt_rate(r):
    return "—" if r is None else f"{r:,.0f}"


def failures(runs):
    bad = [s for s in runs if s.failed or s.left]
    if not bad:
        return ""
    first = bad[0].failed or f"{bad[0].left:,} objects left"
    return f"{len(bad)} of {len(runs)} rounds failed ({first[:120]})"


def held(ok_):
    return "**held**" if ok_ else "**missed**"


class Targets:
    def __init__(self):
        self.rows = []

    def add(self, regime, target, result, passed):
        """passed: True, False, or None (not measured in this run)."""
        self.rows.append((regime, target, result, "not measured" if passed is None else held(passed)))

    def lines(self):
        out = ["| regime | target | result | |", "|---|---|---|---|"]
        out += [f"| {r} | {t} | {res} | {h} |" for r, t, res, h in self.rows]
        return out


def cost_per_million(mb, rate, lists_per_object):
    """Dollars to delete a million objects at `rate` objects/s in a function of `mb` MB."""
    seconds = 1_000_000 / rate
    invocations = max(1, math.ceil(seconds / LAMBDA_TIMEOUT_S))
    compute = mb / 1024 * seconds * PRICES["lambda_gb_second"] + invocations * PRICES["lambda_request"]
    listing = lists_per_object * 1_000_000 * PRICES["s3_list_request"]
    return compute, listing


def report_sizes(result, cold, targets):
    n = result["objects"] + 1
    samples = result["samples"]
    lines = [f"\n## Lambda sizes: {result['objects']:,} objects, {result['folders']} folders, {result['delay_ms']} ms delay\n",
             f"Each tool runs in a cgroup (v1) box of the size's CPU share (cfs quota = period × MB / {FULL_CPU_MB:,}: "
             + ", ".join(f"{mb} MB = {cpus:.3f} CPU" for mb, cpus in result["quota"].items())
             + ") and memory limit (MB MiB); Garage and the proxy run outside it. "
             f"Rounds: {result['rounds']}, tools and sizes alternating; median, with the slowest and fastest round. "
             "*CPU-throttled* is the time the box's quota held the tool back (summed over its threads), as a share of "
             "the run's wall time: near or above 100% the quota bounds the figure. Box peak is the cgroup's "
             "memory.max_usage_in_bytes (pages charged to the box: a binary's pages cached by an earlier run "
             "are not), VmHWM the process's own peak. Cost of a million objects: Lambda arm64 GB-seconds at this "
             "size and rate plus its requests (one per 900 s), and the LIST requests the tool made here (counted by "
             "s3-proxy) scaled to a million objects; DeleteObjects requests are free.\n",
             "| tool | MB | objects/s (median) | slowest – fastest | CPU s | CPU-throttled | Garage CPU s "
             "| VmHWM MB | box peak MB | LIST requests | $ / million objects (Lambda + LIST) | failed rounds |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    table = {}
    for tool in ("del-job", "s3rm-rs default", "boto3"):
        for mb in result["sizes"]:
            runs = samples[f"{tool} @ {mb}"]
            rate, slow, fast = rate_of(runs, n)
            done = ok(runs)
            if done:
                lists = median([s.counts["list_objects"] for s in done if s.counts] or [0])
                compute, listing = cost_per_million(mb, rate, lists / n)
                wall = median([s.wall for s in done])
                throttled = median([s.throttled_s for s in done]) / wall
                cost = compute + listing
                lines.append(
                    f"| {tool} | {mb:,} | {rate:,.0f} | {slow:,.0f} – {fast:,.0f} | {median([s.cpu for s in done]):.2f} "
                    f"| {100 * throttled:.0f}% | {median([s.store_cpu for s in done]):.2f} "
                    f"| {max(s.rss_mb for s in done):.1f} | {max(s.box_mb or 0 for s in done):.1f} | {lists:,.0f} "
                    f"| {cost:.4f} ({compute:.4f} + {listing:.4f}) | {failures(runs)} |")
            else:
                cost = None
                lines.append(f"| {tool} | {mb:,} | — | — | — | — | — | {max((s.rss_mb for s in runs), default=0):.1f} "
                             f"| {max((s.box_mb or 0 for s in runs), default=0):.1f} | — | — | {failures(runs)} |")
            table[(tool, mb)] = (rate, cost)
    labels, values = [], []
    for tool in ("del-job", "s3rm-rs default", "boto3"):
        for mb in result["sizes"]:
            labels.append(f'"{tool.replace(" default", "")} {mb}"')
            values.append(str(round(table[(tool, mb)][0] or 0)))
    lines += ["", "```mermaid", "xychart-beta",
              f'    title "Objects/s by tool and Lambda size (MB), {result["objects"]:,} objects, {result["delay_ms"]} ms"',
              f"    x-axis [{', '.join(labels)}]", '    y-axis "objects/s"', f"    bar [{', '.join(values)}]", "```"]
    lines.append("\n(A bar at 0: every round of that tool failed at that size; see the table.)")

    # Targets.
    sizes = result["sizes"]
    small, full = min(sizes), max(sizes)
    ours = {mb: table[("del-job", mb)][0] for mb in sizes}
    if ours[small] and ours[full]:
        ratio = ours[small] / ours[full]
        targets.add("sizes", f"del-job at {small} MB ≥ 0.9× its own {full:,} MB throughput",
                    f"{ours[small]:,.0f} / {ours[full]:,.0f} objects/s = {ratio:.2f}", ratio >= 0.9)
    else:
        targets.add("sizes", f"del-job at {small} MB ≥ 0.9× its own {full:,} MB throughput", "del-job failed", False)
    boto = table[("boto3", small)][0]
    if ours[small] and boto:
        targets.add("sizes", f"del-job at {small} MB ≥ 10× boto3 at {small} MB",
                    f"{ours[small]:,.0f} / {boto:,.0f} = {ours[small] / boto:.1f}×", ours[small] >= 10 * boto)
    else:
        targets.add("sizes", f"del-job at {small} MB ≥ 10× boto3 at {small} MB",
                    "del-job failed" if not ours[small] else "boto3 failed at every round", bool(ours[small]))
    s3rm = {mb: table[("s3rm-rs default", mb)][0] for mb in sizes if table[("s3rm-rs default", mb)][0]}
    if ours[small]:
        if s3rm:
            best = max(s3rm, key=s3rm.get)
            targets.add("sizes", f"del-job at {small} MB ahead of s3rm-rs (defaults) at any size",
                        f"{ours[small]:,.0f} against s3rm-rs's best, {s3rm[best]:,.0f} at {best:,} MB "
                        f"({ours[small] / s3rm[best]:.2f}×)", ours[small] > s3rm[best])
        else:
            targets.add("sizes", f"del-job at {small} MB ahead of s3rm-rs (defaults) at any size",
                        "s3rm-rs failed at every size", True)
    costs = {mb: table[("del-job", mb)][1] for mb in sizes if ours[mb]}
    if costs:
        fastest = max(ours[mb] for mb in costs)
        near = [mb for mb in costs if ours[mb] >= 0.9 * fastest]
        cheapest = min(near, key=lambda mb: costs[mb])
        lines.append(f"\n**Cheapest size within 10% of the fastest (del-job): {cheapest:,} MB** "
                     f"({ours[cheapest]:,.0f} objects/s against the fastest {fastest:,.0f}; "
                     f"${costs[cheapest]:.4f} a million objects). Sizes within 10%: "
                     + ", ".join(f"{mb:,} MB (${costs[mb]:.4f})" for mb in sorted(near)) + ".")
        targets.add("sizes", "name the cheapest size within 10% of the fastest (the template's MemorySize default)",
                    f"{cheapest:,} MB", True)

    if cold:
        lines.append(f"\n### Cold start in the {small} MB box\n")
        lines += cold_table(cold, small)
    return lines


def cold_table(cold, mb):
    lines = ["| handler | median ms | slowest – fastest ms | VmHWM MB | box peak MB |", "|---|---:|---:|---:|---:|"]
    for (name, where), runs in cold.items():
        if where != mb:
            continue
        walls = [s.wall * 1000 for s in runs]
        box = f"{max(s.box_mb or 0 for s in runs):.1f}" if mb else "—"
        lines.append(f"| {name} | {median(walls):.1f} | {max(walls):.1f} – {min(walls):.1f} "
                     f"| {max(s.rss_mb for s in runs):.1f} | {box} |")
    ours = median([s.wall for s in cold[("del-job", mb)]])
    theirs = median([s.wall for s in cold[("boto3 handler (awslambdaric)", mb)]])
    lines.append(f"\nboto3 handler / del-job: {theirs / ours:.1f}×")
    return lines


def report_write_limit(result, targets):
    n = result["objects"] + 1
    lines = [f"\n## S3's write limit: {result['objects']:,} objects, {result['folders']} folders, "
             f"{result['delay_ms']} ms delay\n",
             "s3-proxy's write limit: every key deleted draws a token from a bucket refilled at R keys a second "
             "and holding one second's worth (the burst, R); a deletion without enough tokens is answered "
             "503 SlowDown and not forwarded. The ideal time is (N − burst) / R for the N = "
             f"{n:,} keys (the record included); *ideal / time* is 1.0 for a tool that deletes at the limit from "
             "its first request. No tool can beat the slower of the ideal and its own run without a limit (the "
             "store and the delay): *bound / time* reads the time against that. "
             f"Rounds: {result['rounds']}, tools alternating; tools unboxed. Times and ratios are over the rounds "
             "that finished. *SlowDown share* is throttled DeleteObjects requests over all DeleteObjects requests "
             "sent (median over rounds). A tool that gives up is recorded with what it left.\n"]
    unlimited = {}
    for entry in result["rates"]:
        rate = entry["rate"]
        if rate is None:
            lines += ["\n### No limit (reference)\n",
                      "| tool | time s (median) | slowest – fastest | DeleteObjects requests | objects left (worst round) "
                      "| failed rounds |", "|---|---:|---:|---:|---:|---|"]
            for tool, runs in entry["samples"].items():
                done = ok(runs)
                walls = [s.wall for s in done]
                counted = [s.counts["delete_objects"] for s in done if s.counts]
                if walls:
                    unlimited[tool] = median(walls)
                    lines.append(f"| {tool} | {median(walls):.2f} | {max(walls):.2f} – {min(walls):.2f} "
                                 f"| {median(counted) if counted else 0:,.0f} | {max(s.left or 0 for s in runs):,} "
                                 f"| {failures(runs)} |")
                else:
                    lines.append(f"| {tool} | — | — | — | {max(s.left or 0 for s in runs):,} | {failures(runs)} |")
            continue
        ideal = max(n - rate, 0) / rate
        lines += [f"\n### R = {rate:,} keys/s (ideal {ideal:.2f} s)\n",
                  "| tool | time s (median) | slowest – fastest | ideal / time | bound / time | DeleteObjects requests "
                  "| SlowDown share | DeleteObject SlowDowns | objects left (worst round) | failed rounds |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for tool, runs in entry["samples"].items():
            done = ok(runs)
            counted = [s.counts for s in runs if s.counts]
            requests = median([c["delete_objects"] for c in counted]) if counted else 0
            shares = [c["delete_objects_throttled"] / c["delete_objects"] for c in counted if c["delete_objects"]]
            share = median(shares) if shares else 0.0
            single = median([c["delete_object_throttled"] for c in counted]) if counted else 0
            left = max(s.left or 0 for s in runs)
            if done:
                walls = [s.wall for s in done]
                wall = median(walls)
                bound = max(ideal, unlimited.get(tool, 0))
                timing = (f"{wall:.2f} | {max(walls):.2f} – {min(walls):.2f} | {ideal / wall:.2f} "
                          f"| {bound / wall:.2f}")
            else:
                wall = None
                gave_up = median([s.wall for s in runs])
                timing = f"gave up after {gave_up:.2f} | — | — | —"
            lines.append(f"| {tool} | {timing} | {requests:,.0f} | {100 * share:.1f}% | {single:,.0f} | {left:,} "
                         f"| {failures(runs)} |")
            if tool == "del-job":
                all_done = len(done) == len(runs)
                if ideal > 0:
                    targets.add("write limit", f"R = {rate:,}: del-job time ≥ 0.95 of the ideal (N − burst) / R",
                                f"{ideal:.2f} s / {wall:.2f} s = {ideal / wall:.2f}" if wall else "failed",
                                bool(wall) and ideal / wall >= 0.95 and all_done)
                targets.add("write limit", f"R = {rate:,}: del-job SlowDowns ≤ 2% of its DeleteObjects requests",
                            f"{100 * share:.1f}% of {requests:,.0f}", share <= 0.02)
                targets.add("write limit", f"R = {rate:,}: del-job leaves nothing, neighbour intact",
                            f"worst round: {left:,} left" + ("" if all(s.neighbour_ok for s in runs) else ", NEIGHBOUR DAMAGED"),
                            left == 0 and all(s.neighbour_ok for s in runs) and all_done)
    return lines


def report_million(result, targets):
    this_run = "" if result["target"] == 1_000_000 else f" (this run: {result['target']:,} objects)"
    lines = [f"\n## A million objects: one invocation in the {result['memory']} MB box{this_run}\n",
             f"del-job's release binary in the {result['memory']} MB box, one SQS event of one message "
             f"(`{{\"project_id\",\"job_id\",\"type\":\"etl\",\"offline_platform\"}}`) from the runtime stand-in, whose "
             f"Lambda-Runtime-Deadline-Ms is {result['deadline_s']} s away; {result['folders']} folders, "
             f"{result['delay_ms']} ms delay. The 1,000- and 100,000-object cases run the same way, for the peak and "
             "the CPU per object to be read against.\n",
             "| objects | rounds | time s (median) | slowest – fastest | objects/s | CPU s | CPU s per 100,000 "
             "| CPU-throttled | VmHWM MB | box peak MB | left (worst) | neighbour | failed rounds |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    by = {}
    for case in result["cases"]:
        runs, n = case["samples"], case["objects"] + 1
        walls = [s.wall for s in runs]
        wall, cpu = median(walls), median([s.cpu for s in runs])
        peak = max(s.rss_mb for s in runs)
        left = max(s.left or 0 for s in runs)
        neighbour = all(s.neighbour_ok for s in runs)
        by[case["objects"]] = {"cpu100k": cpu / n * 100_000, "peak": peak, "left": left, "neighbour": neighbour,
                               "failed": [s.failed for s in runs if s.failed], "wall": wall}
        lines.append(f"| {case['objects']:,} | {case['rounds']} | {wall:.1f} | {max(walls):.1f} – {min(walls):.1f} "
                     f"| {n / wall:,.0f} | {cpu:.2f} | {cpu / n * 100_000:.2f} "
                     f"| {100 * median([s.throttled_s for s in runs]) / wall:.0f}% | {peak:.1f} "
                     f"| {max(s.box_mb or 0 for s in runs):.1f} | {left:,} | {'intact' if neighbour else 'DAMAGED'} "
                     f"| {failures(runs)} |")
    big = by[result["target"]]
    label = f"{result['target']:,} objects"
    ratio = big["peak"] / by[1_000]["peak"]
    targets.add("million", f"{label}: peak memory ≤ 1.2× the 1,000-object peak",
                f"{big['peak']:.1f} / {by[1_000]['peak']:.1f} MB = {ratio:.2f}×", ratio <= 1.2)
    flat = big["cpu100k"] / by[100_000]["cpu100k"]
    targets.add("million", f"{label}: CPU per 100,000 objects flat (≤ 1.1× the 100,000-object case)",
                f"{big['cpu100k']:.2f} / {by[100_000]['cpu100k']:.2f} s = {flat:.2f}×", flat <= 1.1)
    targets.add("million", f"{label}: one invocation within the {result['deadline_s']} s deadline, nothing left, "
                "neighbour intact",
                f"{big['wall']:.0f} s, worst round {big['left']:,} left, neighbour "
                f"{'intact' if big['neighbour'] else 'DAMAGED'}" + (f"; {big['failed'][0][:100]}" if big["failed"] else ""),
                not big["failed"] and big["left"] == 0 and big["neighbour"])
    return lines


def report_garage(cases, targets, args):
    lines = ["\n## Garage cases: del-job against s3rm-rs, boto3 and the floor\n",
             f"Unboxed, straight to Garage (0 ms) or through s3-proxy (30 ms: every request held for the delay). "
             f"Rounds: {args.rounds} (100,000 objects: {args.rounds_large}), tools alternating; median, with the "
             "slowest and fastest round. Time runs from process start to the end of the deletion (del-job: to its "
             "answer to the runtime API stand-in), so start-up is included for every tool. s3rm-rs tuned: "
             f"`{args.s3rm_tuned}`. The floor is DeleteObjects of the already-known keys (no listing). Garage CPU "
             "is the store's own CPU time during a run: on two cores shared with the client it bounds every tool.\n",
             "| case | ours / s3rm default | ours / s3rm tuned | ours / floor | ours / boto3 | ours VmHWM MB "
             "| ours CPU s | s3rm CPU s (default, tuned) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    tables = []
    for case in cases:
        n = case["objects"] + 1
        samples = case["samples"]
        rate = {tool: n / median([s.wall for s in runs]) for tool, runs in samples.items() if runs}
        floors = {t: r for t, r in rate.items() if t.startswith("floor")}
        best_floor = max(floors, key=floors.get) if floors else None
        ours = rate.get("del-job")
        layout = f"{case['folders']} folders" if case["folders"] else "flat"
        name = f"{case['objects']:,}, {layout}, {case['delay_ms']} ms"
        every = [s for runs in samples.values() for s in runs]
        stolen = 100 * sum(s.stolen for s in every) / max(sum(s.host for s in every), 1)
        tables.append(f"\n### {case['objects']:,} objects, {layout}, {case['delay_ms']} ms delay\n")
        tables.append(f"CPU time stolen from this machine during the timed runs: {stolen:.1f}%.\n")
        tables.append("| tool | objects/s (median) | slowest – fastest round | ours / tool | CPU s (median) "
                      "| Garage CPU s (median) | VmHWM MB |")
        tables.append("|---|---:|---:|---:|---:|---:|---:|")
        for tool, r in sorted(rate.items(), key=lambda kv: -kv[1]):
            runs = samples[tool]
            spread = f"{n / max(s.wall for s in runs):,.0f} – {n / min(s.wall for s in runs):,.0f}"
            mark = " (best floor)" if tool == best_floor else ""
            versus = f"{ours / r:.2f}" if ours else "—"
            tables.append(f"| {tool}{mark} | {r:,.0f} | {spread} | {versus} | {median([s.cpu for s in runs]):.2f} "
                          f"| {median([s.store_cpu for s in runs]):.2f} | {max(s.rss_mb for s in runs):.1f} |")
        if not ours:
            continue
        s = {t: rate.get(t) for t in ("s3rm-rs default", "s3rm-rs tuned", "boto3")}
        cpu = lambda tool: median([x.cpu for x in samples[tool]]) if tool in samples else float("nan")
        ratio = lambda tool: f"{ours / s[tool]:.2f}" if s.get(tool) else "—"
        case["summary"] = {"ours": ours, "rss": max(x.rss_mb for x in samples["del-job"]), "cpu": cpu("del-job"),
                           "s3rm_cpu": cpu("s3rm-rs default"), "s3rm_tuned_cpu": cpu("s3rm-rs tuned")}
        floor = f"{ours / floors[best_floor]:.2f}" if best_floor else "—"
        lines.append(f"| {name} | {ratio('s3rm-rs default')} | {ratio('s3rm-rs tuned')} | {floor} | "
                     f"{ratio('boto3')} | {case['summary']['rss']:.1f} | {case['summary']['cpu']:.2f} "
                     f"| {case['summary']['s3rm_cpu']:.2f}, {case['summary']['s3rm_tuned_cpu']:.2f} |")
        if s["s3rm-rs default"]:
            targets.add("garage", f"{name}: ≥ 1.0× s3rm-rs defaults", f"{ours / s['s3rm-rs default']:.2f}",
                        ours >= s["s3rm-rs default"])
        if s["boto3"]:
            targets.add("garage", f"{name}: ≥ 3× boto3", f"{ours / s['boto3']:.1f}×", ours >= 3 * s["boto3"])
    # Memory and CPU, per delay: 100,000 against 1,000 objects (16 folders).
    for delay in sorted({c["delay_ms"] for c in cases}):
        at = {c["objects"]: c["summary"] for c in cases
              if c["delay_ms"] == delay and c["folders"] and "summary" in c}
        if 100_000 in at and 1_000 in at:
            ratio = at[100_000]["rss"] / at[1_000]["rss"]
            targets.add("garage", f"{delay} ms: peak at 100,000 ≤ 1.2× the peak at 1,000",
                        f"{at[100_000]['rss']:.1f} / {at[1_000]['rss']:.1f} MB = {ratio:.2f}×", ratio <= 1.2)
        if 100_000 in at:
            targets.add("garage", f"{delay} ms: peak < 32 MB at 100,000", f"{at[100_000]['rss']:.1f} MB",
                        at[100_000]["rss"] < 32)
            targets.add("garage", f"{delay} ms: CPU per 100,000 ≤ s3rm-rs defaults",
                        f"{at[100_000]['cpu']:.2f} s against {at[100_000]['s3rm_cpu']:.2f} s",
                        at[100_000]["cpu"] <= at[100_000]["s3rm_cpu"])
    if not any("summary" in c and c["objects"] == 100_000 for c in cases):
        targets.add("garage", "peak at 100,000 ≤ 1.2× the peak at 1,000; < 32 MB; CPU per 100,000 ≤ s3rm-rs",
                    "no 100,000-object case in this run", None)
    return lines + tables


def report_cold(cold, bootstrap_bytes, targets):
    lines = ["\n## Cold start: process start to first answer, deleting a 10-object job (unboxed)\n"]
    lines += cold_table(cold, None)
    ours = median([s.wall for s in cold[("del-job", None)]])
    theirs = median([s.wall for s in cold[("boto3 handler (awslambdaric)", None)]])
    targets.add("cold", "cold start ≥ 10× faster than the boto3 handler (unboxed)",
                f"{ours * 1000:.1f} against {theirs * 1000:.1f} ms: {theirs / ours:.1f}×", theirs >= 10 * ours)
    if bootstrap_bytes:
        lines.append(f"\nRelease arm64 `bootstrap` (`cargo lambda build --release --arm64`): "
                     f"{bootstrap_bytes / 2**20:.2f} MiB ({bootstrap_bytes:,} bytes)")
        targets.add("cold", "arm64 `bootstrap` < 8 MB", f"{bootstrap_bytes:,} bytes ({bootstrap_bytes / 2**20:.2f} MiB)",
                    bootstrap_bytes < 8_000_000)
    else:
        targets.add("cold", "arm64 `bootstrap` < 8 MB", "not built in this run", None)
    return lines


def generated(bench, results, args, started):
    described, versions = machine()
    targets = Targets()
    body = []
    if "sizes" in results:
        body += report_sizes(results["sizes"], results.get("cold"), targets)
    if "write-limit" in results:
        body += report_write_limit(results["write-limit"], targets)
    if "million" in results:
        body += report_million(results["million"], targets)
    if "garage" in results:
        body += report_garage(results["garage"], targets, args)
    if "cold" in results and "cold" in args.regimes:
        bootstrap = Path(args.bootstrap).stat().st_size if args.bootstrap and Path(args.bootstrap).exists() else 0
        body += report_cold(results["cold"], bootstrap, targets)
    minutes = (time.perf_counter() - started) / 60
    parts = ", ".join(f"{name} {seconds / 60:.1f}" for name, seconds in bench.timings.items())
    mode = "quick (one round of the headline cases; for development, not for conclusions)" if args.quick else "full"
    head = [
        "_Written by `bench/run.sh`; the run replaces everything between the generated markers._",
        "",
        f"Run: {mode}; regimes {', '.join(args.regimes)}; {minutes:.0f} minutes ({parts} min). "
        f"del-job: release binary of commit {engine_commit()}.",
        "",
        f"Machine: {described}. " + ", ".join(versions.values()) + ".",
        "",
        f"Prices ({PRICES['region']}): Lambda arm64 ${PRICES['lambda_gb_second']:.10f} per GB-second and "
        f"${PRICES['lambda_request'] * 1e6:.2f} per million requests; S3 Standard LIST "
        f"${PRICES['s3_list_request'] * 1000:.3f} per 1,000 requests; DeleteObjects and DeleteObject free.",
        "",
        "Medians, with the slowest and fastest round beside them: rounds of identical work land up to 2× apart "
        "on this machine, so read a ratio of medians with that spread in mind.",
        "",
        "## Targets\n",
        *targets.lines(),
    ]
    return "\n".join(head + body) + "\n"


def write_report(out, text):
    """Replaces the generated block of `out` (made from the template if it has none) with `text`."""
    current = out.read_text() if out.exists() else ""
    if MARK_BEGIN not in current or MARK_END not in current:
        if current:
            log(f"{out} had no generated block: written afresh from the template")
        current = TEMPLATE
    before, rest = current.split(MARK_BEGIN, 1)
    _, after = rest.split(MARK_END, 1)
    out.write_text(f"{before}{MARK_BEGIN}\n{text}{MARK_END}{after}")


REGIMES = ["sizes", "write-limit", "million", "garage", "cold"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one round of the headline cases (sizes, write limit, 20,000 objects / 30 ms, cold "
                             "starts); the million only with --million-objects")
    parser.add_argument("--regimes", nargs="+", choices=REGIMES, help=f"run only these (default: all of {REGIMES})")
    parser.add_argument("--skip-million", action="store_true", help="leave the million out")
    # Garage cases.
    parser.add_argument("--objects", type=int, nargs="+", default=None, help="Garage cases (default 1000 20000 100000)")
    parser.add_argument("--delays", type=int, nargs="+", default=None, help="Garage cases (default 0 30)")
    parser.add_argument("--rounds", type=int, default=None, help="Garage cases up to 20,000 objects (default 5)")
    parser.add_argument("--rounds-large", type=int, default=None, help="Garage cases above 20,000 objects (default 3)")
    parser.add_argument("--folders", type=int, default=16)
    parser.add_argument("--flat", type=int, nargs="*", default=None, help="object counts also run flat (default 20000)")
    parser.add_argument("--tools", nargs="*", help="Garage cases: only these tools; also \"del-job NAME=VALUE ...\", "
                                                  "\"s3rm-rs FLAGS\", \"floor c=N b=N\" (tuning; no report)")
    # Sizes.
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 512, 1769], help="Lambda sizes, MB")
    parser.add_argument("--size-objects", type=int, default=20_000)
    parser.add_argument("--size-delay", type=int, default=30)
    parser.add_argument("--size-rounds", type=int, default=None, help="default 3")
    # Write limit.
    parser.add_argument("--write-limits", type=int, nargs="+", default=[1_000, 3_500, 10_000], help="keys a second")
    parser.add_argument("--write-limit-objects", type=int, default=20_000)
    parser.add_argument("--write-limit-delay", type=int, default=30)
    parser.add_argument("--write-limit-rounds", type=int, default=None, help="default 3")
    # Million.
    parser.add_argument("--million-objects", type=int, default=None, help="default 1000000")
    parser.add_argument("--million-memory", type=int, default=128, help="the box, MB")
    parser.add_argument("--million-delay", type=int, default=30)
    parser.add_argument("--million-deadline", type=int, default=LAMBDA_TIMEOUT_S, help="seconds")
    parser.add_argument("--million-rounds", type=int, default=1, help="rounds of the million (1,000 and 100,000: "
                                                                     "at least 2)")
    # Common.
    parser.add_argument("--cold-runs", type=int, default=None, help="default 10 (quick: 3)")
    parser.add_argument("--tool-timeout", type=int, default=600, help="seconds before a peer is stopped")
    parser.add_argument("--bootstrap", default="", help="path of the arm64 bootstrap, to report its size")
    parser.add_argument("--out", default=None, help="the report (default: BENCHMARKS.md for a full run of every "
                                                    "regime, /tmp/del-job-bench.md otherwise)")
    parser.add_argument("--ours", default=str(RELEASE / "del-job"), help="the del-job binary to measure")
    parser.add_argument("--s3rm-tuned", default=S3RM_TUNED, help="the flags of the tuned s3rm-rs run")
    args = parser.parse_args()

    quick = args.quick
    explicit_million = args.million_objects is not None
    full_set = args.regimes is None
    if args.regimes is None:
        args.regimes = [r for r in REGIMES if not (r == "million" and quick and not explicit_million)]
    if args.skip_million:
        args.regimes = [r for r in args.regimes if r != "million"]
    if args.tools:
        args.regimes = ["garage"]
    defaults = {"objects": ([20_000], [1_000, 20_000, 100_000]), "delays": ([30], [0, 30]), "flat": ([], [20_000]),
                "rounds": (1, 5), "rounds_large": (1, 3), "size_rounds": (1, 3), "write_limit_rounds": (1, 3),
                "cold_runs": (3, 10), "million_objects": (1_000_000, 1_000_000)}
    for name, (fast, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, fast if quick else full)
    if args.out is None:
        whole = full_set and not quick and not args.skip_million and not args.tools
        args.out = str(BENCHMARKS if whole else Path("/tmp/del-job-bench.md"))
    boxed = any(r in args.regimes for r in ("sizes", "million", "cold"))
    if boxed and not os.access(CGROUP / "cpu", os.W_OK):
        sys.exit("the sizes, million and cold regimes need cgroup v1 (cpu, memory) under /sys/fs/cgroup, as root")

    started = time.perf_counter()
    work = Path(os.environ.get("BENCH_WORK", "/tmp/del-job-bench"))
    if boxed:
        remove_stale_boxes()
    bench = Bench(args, work)
    # A TERM (run.sh stopped) ends the run through the finally below: boxes removed, Garage stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = {}
    try:
        bench.garage.stop()
        bench.garage.start()
        bench.garage.snapshot("empty")
        if "sizes" in args.regimes:
            results["sizes"] = bench.timed("sizes", bench.sizes)
        if "write-limit" in args.regimes:
            results["write-limit"] = bench.timed("write limit", bench.write_limit)
        if "million" in args.regimes:
            results["million"] = bench.timed("million", bench.million)
        if "garage" in args.regimes:
            shapes = [(n, args.folders) for n in args.objects] + [(n, 0) for n in args.flat]
            results["garage"] = bench.timed("garage", lambda: [
                bench.garage_case(objects, folders, delay) for delay in args.delays for objects, folders in shapes])
            if args.tools:
                return  # a tuning run: the log lines are the result
        if "cold" in args.regimes or "sizes" in args.regimes:
            # Unboxed (the cold regime) and in the smallest box (reported with the sizes).
            log("cold starts")
            results["cold"] = bench.timed("cold", lambda: bench.cold_start(min(args.sizes)))
    finally:
        bench.garage.stop()
        bench.close()
    text = generated(bench, results, args, started)
    out = Path(args.out)
    write_report(out, text)
    print(text)
    log(f"wrote the generated block of {out}")


if __name__ == "__main__":
    main()
