"""The machinery every regime runs on: the tools under test (del-job through the runtime API
stand-in, s3rm-rs, boto3 and the floor), each as a function endpoint -> Sample; the seeded
snapshots of a case; and the rounds that restore a snapshot, run each tool on it and check what
it left. A regime module asks a Bench for these and builds its own cases from them."""
import json
import os
import sys
import time

from harness.box import Box
from harness.common import BUCKET, JOB_ROOT, NEIGHBOUR_OBJECTS, NEIGHBOUR_ROOT, PEERS, TOOLS, log
from harness.events import http_event, sqs_event
from harness.process import Sample, ToolFailed, host_cpu, timed_process
from harness.proxy import Proxy
from harness.runtime import RuntimeApi
from harness.store import Garage, benchkit, count


class Runner:
    """A tool as a run sees it: a name, a function endpoint -> Sample, the box it runs in."""

    def __init__(self, name, fn, box=None):
        self.name, self.fn, self.box = name, fn, box


class Bench:
    """One run: its options, the store, the runtime API stand-in, the boxes made so far (removed
    by close) and the time each regime took."""

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
            env = dict(self.s3_env(endpoint), JOB_BUCKET=BUCKET, HTTP_BUDGET_MS="900000",
                       **(settings or {}))
            wall, answer, usage = self.runtime.invoke([self.args.ours], env, http_event(), box=box,
                                                      memory_mb=box.mb if box else 512)
            sample = Sample(wall, usage)
            envelope = json.loads(answer.get("body") or "{}")
            if answer.get("statusCode") != 200 or envelope.get("deleted_objects") != objects + 1:
                raise ToolFailed(f"answered {answer.get('statusCode')}: {str(envelope)[:300]}",
                                 sample)
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
            cmd = ["s3rm", target, "--force", "--show-no-progress",
                   "--target-endpoint-url", endpoint, "--target-force-path-style",
                   "--target-region", os.environ["AWS_REGION"],
                   "--target-access-key", os.environ["AWS_ACCESS_KEY_ID"],
                   "--target-secret-access-key", os.environ["AWS_SECRET_ACCESS_KEY"], *extra]
            return timed_process(cmd, self.base_env, box=box, timeout=timeout,
                                 errors=self.work / "s3rm.stderr")
        return go

    def boto3(self, box=None, timeout=None):
        def go(endpoint):
            cmd = [sys.executable, str(PEERS / "boto3_delete.py"), BUCKET, JOB_ROOT]
            return timed_process(cmd, self.s3_env(endpoint), box=box, timeout=timeout,
                                 errors=self.work / "boto3.stderr")
        return go

    def floor(self, objects, folders, concurrency, batch):
        def go(endpoint):
            cmd = [str(TOOLS / "benchkit"), "floor", BUCKET, JOB_ROOT, str(objects), str(folders),
                   str(concurrency), str(batch)]
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
            benchkit("seed", BUCKET, NEIGHBOUR_ROOT, NEIGHBOUR_OBJECTS, 4,
                     endpoint=self.garage.endpoint)
            self.garage.snapshot(name)
            log(f"seeded {objects:,} objects in {time.perf_counter() - started:.0f} s")
        return name

    def rounds(self, snapshot, objects, runners, rounds, delay_ms=0, write_limit=None,
               strict=True):
        """Runs every runner `rounds` times, in an order that rotates each round, each run from
        the snapshot. Strict: a run that fails or leaves anything stops the benchmark; otherwise
        it is recorded (failed, left, neighbour) and the rounds go on."""
        samples = {r.name: [] for r in runners}
        for round_no in range(rounds):
            k = round_no % len(runners)
            for runner in runners[k:] + runners[:k]:
                self.garage.restore(snapshot)
                proxy = (Proxy(self.garage.port, delay_ms, write_limit)
                         if delay_ms or write_limit else None)
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
                # The store's own work during the run; its background work after it is not counted.
                sample.store_cpu = self.garage.cpu() - store_cpu
                sample.stolen, sample.host = (
                    after - before for after, before in zip(host_cpu(), host, strict=True))
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
                    log(f"!!! {runner.name}: the neighbour has {neighbour} objects, "
                        f"not {NEIGHBOUR_OBJECTS + 1}")
                if strict and (failure or sample.left or not sample.neighbour_ok):
                    raise RuntimeError(f"{runner.name}: {failure or ''} {sample.left} objects left "
                                       f"in the job, neighbour has {neighbour}")
                samples[runner.name].append(sample)
                self.log_sample(runner.name, sample, objects)
        return samples

    def log_sample(self, name, s, objects):
        parts = [f"{s.wall:.3f} s", f"{(objects + 1) / s.wall:,.0f} objects/s",
                 f"cpu {s.cpu:.2f} s", f"garage cpu {s.store_cpu:.2f} s", f"rss {s.rss_mb:.1f} MB"]
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

    def timed(self, name, measure, *args):
        """Runs a regime's measure(bench, *args), adding its time to the run's timings."""
        started = time.perf_counter()
        try:
            return measure(self, *args)
        finally:
            self.timings[name] = self.timings.get(name, 0) + time.perf_counter() - started
