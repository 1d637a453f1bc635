#!/usr/bin/env python3
"""The del-job benchmark. Run it with bench/run.sh, which installs the peers, builds the release
binaries and starts Garage (lmdb) before handing over to this driver.

For every case (objects, layout, delay) it seeds a job beside a neighbour job, snapshots Garage,
and then, in rounds that alternate the order of the tools, restores the snapshot and deletes the
job with each tool, checking after every run that the job is empty and the neighbour intact:

- ours: the release `del-job` binary, the real handler, serving one API Gateway event from a
  local stand-in for the Lambda runtime API (timed from process start to the answer);
- s3rm-rs with its defaults, and tuned;
- boto3: `bucket.objects.filter(Prefix=...).delete()`, the usual Python Lambda way;
- the floor: DeleteObjects of the already-known keys, no listing, at several concurrencies and
  batch sizes.

Delay cases go through the project's latency proxy (s3-proxy), the others straight to Garage.
It then measures cold starts (process start to first answer) of del-job and of an equivalent
boto3 handler under awslambdaric, and writes everything to BENCHMARKS.md.
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
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
BUCKET = os.environ.get("GARAGE_DEFAULT_BUCKET", "res-jobs")
PROJECT = "0a5e29b1c4d84f6e9b7a2c3d4e5f6a7b"
JOB = "aa22ac78f14142eaa7deacc8e88d477e"
JOB_ROOT = f"{PROJECT}/jobs/{JOB}/"
NEIGHBOUR_ROOT = f"{PROJECT}/jobs/{JOB}0/"
NEIGHBOUR_OBJECTS = 100
# Best of the tunings tried against Garage here (worker sizes 8 to 64, batches 100 to 1000).
S3RM_TUNED = "--worker-size 64 --batch-size 100"
# (requests at once, keys a request). Garage deletes the keys of one request one after another,
# so many small requests keep it busier than a few large ones; beyond these no trial run was faster.
FLOORS = [(8, 1000), (32, 250), (64, 100)]


def log(message):
    print(f"==> {message}", file=sys.stderr, flush=True)


def run(cmd, env=None, **kwargs):
    return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, **kwargs).stdout


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
    """The project's latency proxy in front of Garage."""

    def __init__(self, garage_port, delay_ms):
        self.process = subprocess.Popen(
            [str(TOOLS / "s3-proxy"), "--upstream", f"127.0.0.1:{garage_port}", "--delay-ms", str(delay_ms)],
            stdout=subprocess.PIPE, text=True)
        self.url = "http://" + self.process.stdout.readline().strip()

    def stop(self):
        self.process.terminate()
        self.process.wait()


class RuntimeApi:
    """A stand-in for the Lambda runtime API: hands one event to the function and records when
    the answer arrives. Later polls for events wait until the function is stopped."""

    def __init__(self):
        api = self
        self.event = None
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
                deadline = int((time.time() + 900) * 1000)
                self.reply(200, json.dumps(event).encode(), [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", str(uuid.uuid4())),
                    ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                    ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:123456789012:function:del-job"),
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

    def invoke(self, cmd, env, event, cwd=None):
        """Starts the function, hands it `event`; returns (seconds from start to answer, answer,
        rusage of the process)."""
        self.event, self.answer = event, None
        self.answered.clear()
        env = dict(env, AWS_LAMBDA_RUNTIME_API=self.address, AWS_LAMBDA_FUNCTION_NAME="del-job",
                   AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                   AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/del-job", AWS_LAMBDA_LOG_STREAM_NAME="bench",
                   RUST_LOG="warn")
        started = time.perf_counter()
        process = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peak = PeakRss(process.pid, cmd)
        if not self.answered.wait(600):
            process.kill()
            raise RuntimeError(f"{cmd[0]} never answered: {process.stderr.read().decode()[-2000:]}")
        peak.read()  # the process is still alive: its peak is exact
        process.kill()
        _, _, usage = os.wait4(process.pid, 0)
        process.returncode = -9
        at, path, body = self.answer
        if "/error" in path:
            raise RuntimeError(f"{cmd[0]} failed: {body[:500]}")
        return at - started, json.loads(body), Usage(usage, peak.stop())


def delete_event(job=JOB):
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


class PeakRss:
    """The peak resident memory of a running process: VmHWM from /proc, read every 5 ms.

    Not ru_maxrss: Linux carries the high-water mark of the forked Python driver across exec, so
    every child would seem to need at least the driver's own memory. VmHWM belongs to the image
    the process runs; the last reading before it exits misses at most the last 5 ms of growth.
    """

    def __init__(self, pid, cmd):
        self.path = f"/proc/{pid}/status"
        # Until exec the child still runs the driver's image: readings count once it runs its own.
        # (A Python peer keeps the name python3; its own peak is far above the driver's anyway.)
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
        # Set by the caller that can see them: Garage's CPU during the run, and the machine's
        # stolen and total CPU ticks.
        self.store_cpu = 0.0
        self.stolen = self.host = 0


def timed_process(cmd, env, cwd=None):
    started = time.perf_counter()
    process = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = PeakRss(process.pid, cmd)
    _, status, rusage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    usage = Usage(rusage, peak.stop())
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {process.stderr.read().decode()[-2000:]}")
    return Sample(wall, usage)


class Bench:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.garage = Garage(work)
        self.runtime = RuntimeApi()
        self.base_env = dict(os.environ)

    def tools(self, objects, folders):
        """name -> function(endpoint) -> Sample"""
        s3_env = lambda endpoint: dict(self.base_env, AWS_ENDPOINT_URL=endpoint)
        target = f"s3://{BUCKET}/{JOB_ROOT}"

        def ours(settings):
            def go(endpoint):
                # One invocation does the whole job, as behind a Function URL (up to 15 minutes):
                # the throughput of the engine is measured, not the hand-on of a 25 s API budget.
                env = dict(s3_env(endpoint), JOB_BUCKET=BUCKET, HTTP_BUDGET_MS="900000", **settings)
                wall, answer, usage = self.runtime.invoke([self.args.ours], env, delete_event())
                envelope = json.loads(answer["body"])
                if answer["statusCode"] != 200 or envelope["deleted_objects"] != objects + 1:
                    raise RuntimeError(f"del-job answered {answer}")
                return Sample(wall, usage)
            return go

        def s3rm(extra):
            def go(endpoint):
                cmd = ["s3rm", target, "--force", "--show-no-progress", "--target-endpoint-url", endpoint,
                       "--target-force-path-style", "--target-region", os.environ["AWS_REGION"],
                       "--target-access-key", os.environ["AWS_ACCESS_KEY_ID"],
                       "--target-secret-access-key", os.environ["AWS_SECRET_ACCESS_KEY"], *extra]
                return timed_process(cmd, self.base_env)
            return go

        def boto3(endpoint):
            return timed_process([sys.executable, str(PEERS / "boto3_delete.py"), BUCKET, JOB_ROOT], s3_env(endpoint))

        def floor(concurrency, batch):
            def go(endpoint):
                cmd = [str(TOOLS / "benchkit"), "floor", BUCKET, JOB_ROOT, str(objects), str(folders), str(concurrency), str(batch)]
                return timed_process(cmd, s3_env(endpoint))
            return go

        tools = {"del-job": ours({}), "s3rm-rs default": s3rm([]), "s3rm-rs tuned": s3rm(self.args.s3rm_tuned.split()), "boto3": boto3}
        for c, b in FLOORS:
            tools[f"floor c={c} b={b}"] = floor(c, b)
        if self.args.tools:
            # Tuning variants: "del-job NAME=VALUE ...", "s3rm-rs FLAGS", "floor c=N b=N".
            for name in self.args.tools:
                tool, _, extra = name.partition(" ")
                if name not in tools and tool == "del-job":
                    tools[name] = ours(dict(setting.split("=", 1) for setting in extra.split()))
                elif name not in tools and tool == "s3rm-rs":
                    tools[name] = s3rm(extra.split())
                elif name not in tools and tool == "floor":
                    c, b = (int(part.split("=")[1]) for part in extra.split())
                    tools[name] = floor(c, b)
            tools = {name: tool for name, tool in tools.items() if name in self.args.tools}
        return tools

    def case(self, objects, folders, delay_ms):
        name = f"{objects}-{folders}"
        layout = f"{folders} folders" if folders else "flat"
        log(f"case: {objects} objects, {layout}, {delay_ms} ms delay")
        if not (self.work / "snapshots" / name).exists():
            self.garage.restore("empty")
            benchkit("seed", BUCKET, JOB_ROOT, objects, folders, endpoint=self.garage.endpoint)
            benchkit("seed", BUCKET, NEIGHBOUR_ROOT, NEIGHBOUR_OBJECTS, 4, endpoint=self.garage.endpoint)
            self.garage.snapshot(name)
        tools = self.tools(objects, folders)
        samples = {tool: [] for tool in tools}
        names = list(tools)
        rounds = self.args.rounds if objects <= 20_000 else self.args.rounds_large
        for round_no in range(rounds):
            order = names[round_no % len(names):] + names[:round_no % len(names)]
            for tool in order:
                self.garage.restore(name)
                proxy = Proxy(self.garage.port, delay_ms) if delay_ms else None
                endpoint = proxy.url if proxy else self.garage.endpoint
                store_cpu, host = self.garage.cpu(), host_cpu()
                try:
                    sample = tools[tool](endpoint)
                finally:
                    if proxy:
                        proxy.stop()
                # The store's own work during the run (its background work after it is not counted).
                sample.store_cpu = self.garage.cpu() - store_cpu
                sample.stolen, sample.host = (after - before for after, before in zip(host_cpu(), host))
                left = count(self.garage.endpoint, JOB_ROOT)
                neighbour = count(self.garage.endpoint, NEIGHBOUR_ROOT)
                if left != 0 or neighbour != NEIGHBOUR_OBJECTS + 1:
                    raise RuntimeError(f"{tool}: {left} objects left in the job, neighbour has {neighbour}")
                samples[tool].append(sample)
                log(f"  {tool}: {sample.wall:.3f} s, {(objects + 1) / sample.wall:,.0f} objects/s, "
                    f"cpu {sample.cpu:.2f} s, garage cpu {sample.store_cpu:.2f} s, rss {sample.rss_mb:.1f} MB, "
                    f"stolen {100 * sample.stolen / max(sample.host, 1):.0f}%")
        return {"objects": objects, "folders": folders, "delay_ms": delay_ms, "samples": samples}

    def cold_start(self, endpoint):
        """Process start to first answer, deleting a 10-object job, for del-job and boto3."""
        results = {"del-job": [], "boto3 handler (awslambdaric)": []}
        env = dict(self.base_env, AWS_ENDPOINT_URL=endpoint, JOB_BUCKET=BUCKET)
        commands = {
            "del-job": ([self.args.ours], None),
            "boto3 handler (awslambdaric)": ([sys.executable, "-m", "awslambdaric", "handler.handler"], str(PEERS)),
        }
        for i in range(self.args.cold_runs):
            for name, (cmd, cwd) in commands.items():
                job = f"cold{i}{name[0]}"
                benchkit("seed", BUCKET, f"{PROJECT}/jobs/{job}/", 10, 2, endpoint=endpoint)
                wall, answer, usage = self.runtime.invoke(cmd, env, delete_event(job), cwd=cwd)
                if answer["statusCode"] != 200:
                    raise RuntimeError(f"{name} answered {answer}")
                results[name].append(Sample(wall, usage))
        return results


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
        "s3rm-rs": run(["s3rm", "--version"]).strip(),
        "boto3": run([sys.executable, "-c", "import boto3; print(boto3.__version__)"]).strip(),
        "python": platform.python_version(),
    }
    return f"{os.cpu_count()} × {cpu}, {memory} GiB, Linux {platform.release()}", versions


def host_cpu():
    """(stolen, total) CPU ticks of the whole machine so far, from /proc/stat. Stolen ticks are
    time the hypervisor gave the virtual CPUs to someone else: the store on them slows down."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[7], sum(fields[:8])


def median(values):
    return statistics.median(values)


def report(cases, cold, bootstrap_bytes, args):
    lines = []
    for case in cases:
        n = case["objects"] + 1
        samples = case["samples"]
        rate = {tool: n / median([s.wall for s in runs]) for tool, runs in samples.items() if runs}
        floors = {t: r for t, r in rate.items() if t.startswith("floor")}
        best_floor = max(floors, key=floors.get)
        ours = rate["del-job"]
        layout = f"{case['folders']} folders" if case["folders"] else "flat"
        every = [s for runs in samples.values() for s in runs]
        stolen = 100 * sum(s.stolen for s in every) / max(sum(s.host for s in every), 1)
        lines.append(f"\n### {case['objects']:,} objects, {layout}, {case['delay_ms']} ms delay\n")
        lines.append(f"CPU time stolen from this machine during the timed runs: {stolen:.1f}%.\n")
        lines.append("| tool | objects/s (median) | slowest – fastest round | ours / tool | cpu s (median) "
                     "| Garage cpu s (median) | peak RSS MB |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        for tool, r in sorted(rate.items(), key=lambda kv: -kv[1]):
            runs = samples[tool]
            spread = f"{n / max(s.wall for s in runs):,.0f} – {n / min(s.wall for s in runs):,.0f}"
            cpu = median([s.cpu for s in runs])
            store = median([s.store_cpu for s in runs])
            rss = max(s.rss_mb for s in runs)
            mark = " (best floor)" if tool == best_floor else ""
            lines.append(f"| {tool}{mark} | {r:,.0f} | {spread} | {ours / r:.2f} | {cpu:.2f} | {store:.2f} | {rss:.1f} |")
        case["summary"] = {"ours": ours, "floor": floors[best_floor], "best_floor": best_floor,
                           **{t: rate[t] for t in ("s3rm-rs default", "s3rm-rs tuned", "boto3") if t in rate},
                           "ours_rss": max(s.rss_mb for s in samples["del-job"]),
                           "ours_cpu": median([s.cpu for s in samples["del-job"]]),
                           "s3rm_cpu": median([s.cpu for s in samples["s3rm-rs default"]]),
                           "s3rm_tuned_cpu": median([s.cpu for s in samples["s3rm-rs tuned"]])}
    summary = ["\n## Ratios (from the tables below)\n",
               "| case | ours/s3rm default | ours/s3rm tuned | ours/floor | ours/boto3 | ours peak RSS MB | ours cpu s | s3rm cpu s (default, tuned) |",
               "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for case in cases:
        s = case["summary"]
        layout = f"{case['folders']} folders" if case["folders"] else "flat"
        boto = f"{s['ours'] / s['boto3']:.1f}" if "boto3" in s else "—"
        summary.append(
            f"| {case['objects']:,}, {layout}, {case['delay_ms']} ms | {s['ours'] / s['s3rm-rs default']:.2f} | "
            f"{s['ours'] / s['s3rm-rs tuned']:.2f} | {s['ours'] / s['floor']:.2f} | {boto} | {s['ours_rss']:.1f} | "
            f"{s['ours_cpu']:.2f} | {s['s3rm_cpu']:.2f}, {s['s3rm_tuned_cpu']:.2f} |")
    cold_lines = ["\n## Cold start: process start to first answer, deleting a 10-object job\n",
                  "| handler | median ms | min ms | peak RSS MB |", "|---|---:|---:|---:|"]
    for name, runs in cold.items():
        walls = [s.wall * 1000 for s in runs]
        cold_lines.append(f"| {name} | {median(walls):.1f} | {min(walls):.1f} | {max(s.rss_mb for s in runs):.1f} |")
    ratio = median([s.wall for s in cold["boto3 handler (awslambdaric)"]]) / median([s.wall for s in cold["del-job"]])
    cold_lines.append(f"\nboto3 handler / del-job: {ratio:.1f}×")
    if bootstrap_bytes:
        cold_lines.append(f"\nRelease arm64 `bootstrap` (`cargo lambda build --release --arm64`): "
                          f"{bootstrap_bytes / 1024 / 1024:.2f} MiB ({bootstrap_bytes:,} bytes)")
    return summary, lines, cold_lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[1_000, 20_000, 100_000])
    parser.add_argument("--delays", type=int, nargs="+", default=[0, 30])
    parser.add_argument("--rounds", type=int, default=7, help="rounds for up to 20,000 objects")
    parser.add_argument("--rounds-large", type=int, default=5, help="rounds for more objects")
    parser.add_argument("--folders", type=int, default=16)
    parser.add_argument("--flat", type=int, nargs="*", default=[20_000], help="object counts also run flat")
    parser.add_argument("--cold-runs", type=int, default=10)
    parser.add_argument("--bootstrap", default="", help="path of the arm64 bootstrap, to report its size")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--ours", default=str(RELEASE / "del-job"), help="the del-job binary to measure")
    parser.add_argument("--s3rm-tuned", default=S3RM_TUNED, help="the flags of the tuned s3rm-rs run")
    parser.add_argument("--tools", nargs="*", help="run only these tools; also \"del-job NAME=VALUE ...\", \"s3rm-rs FLAGS\", \"floor c=N b=N\" (tuning)")
    args = parser.parse_args()

    work = Path(os.environ.get("BENCH_WORK", "/tmp/del-job-bench"))
    bench = Bench(args, work)
    bench.garage.stop()
    bench.garage.start()
    bench.garage.snapshot("empty")
    cases = []
    try:
        shapes = [(n, args.folders) for n in args.objects] + [(n, 0) for n in args.flat]
        for delay in args.delays:
            for objects, folders in shapes:
                cases.append(bench.case(objects, folders, delay))
        if args.tools:
            return  # a tuning run: the log lines are the result
        bench.garage.restore("empty")
        log("cold starts")
        cold = bench.cold_start(bench.garage.endpoint)
    finally:
        bench.garage.stop()
    bootstrap = Path(args.bootstrap).stat().st_size if args.bootstrap and Path(args.bootstrap).exists() else 0
    summary, tables, cold_lines = report(cases, cold, bootstrap, args)
    described, versions = machine()
    text = "\n".join([
        "# Benchmarks",
        "",
        "Written by `bench/run.sh` (see the README); every figure below comes from one run of it.",
        "",
        f"Machine: {described}. " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        f"Garage with `db_engine = \"lmdb\"` on the same machine; delay cases go through `s3-proxy` "
        f"(every request held for the delay). Rounds: {args.rounds} (100,000 objects: {args.rounds_large}), tools "
        f"alternating; the median is shown. "
        f"Time runs from process start to the end of the deletion (del-job: to its answer to the "
        f"runtime API stand-in), so start-up is included for every tool. s3rm-rs tuned: `{args.s3rm_tuned}`. "
        f"Garage cpu is the store's own CPU time during a run: on two cores shared with the client it "
        f"bounds every tool, and it varies from round to round for the same work, hence the spread.",
        *summary, *cold_lines, "\n## Throughput, every tool", *tables, "",
    ])
    # The analysis written by hand below the marker survives a new run.
    out = Path(args.out)
    marker = "<!-- analysis: kept across runs -->"
    kept = out.read_text().split(marker, 1)[1] if out.exists() and marker in out.read_text() else "\n"
    out.write_text(text + "\n" + marker + kept)
    print(text)


if __name__ == "__main__":
    main()
