"""The cold regime: process start to first answer, deleting a 10-object job, del-job against a
boto3 handler under awslambdaric, unboxed and in the smallest box of --sizes (those figures go
in the sizes report, which cold_table serves too)."""
import sys

from harness.common import BUCKET, PEERS, PROJECT
from harness.events import http_event
from harness.process import Sample
from harness.report import median
from harness.store import benchkit


def measure(bench, boxed_mb):
    """Process start to first answer, deleting a 10-object job, for del-job and boto3; unboxed
    and in the box of `boxed_mb` MB."""
    bench.garage.restore("empty")
    endpoint = bench.garage.endpoint
    env = dict(bench.base_env, AWS_ENDPOINT_URL=endpoint, JOB_BUCKET=BUCKET)
    commands = {
        "del-job": ([bench.args.ours], None),
        "boto3 handler (awslambdaric)": ([sys.executable, "-m", "awslambdaric", "handler.handler"],
                                         str(PEERS)),
    }
    places = [None, boxed_mb]
    results = {(name, mb): [] for mb in places for name in commands}
    for i in range(bench.args.cold_runs):
        for mb in places:
            box = bench.box(mb) if mb else None
            for name, (cmd, cwd) in commands.items():
                job = f"cold{i}{name[0]}{mb or 0}"
                benchkit("seed", BUCKET, f"{PROJECT}/jobs/{job}/", 10, 2, endpoint=endpoint)
                if box:
                    box.reset()
                wall, answer, usage = bench.runtime.invoke(cmd, env, http_event(job), cwd=cwd,
                                                           box=box, memory_mb=mb or 512)
                if answer["statusCode"] != 200:
                    raise RuntimeError(f"{name} answered {answer}")
                sample = Sample(wall, usage)
                if box:
                    box.measure(sample)
                results[(name, mb)].append(sample)
    return results


def cold_table(cold, mb):
    lines = ["| handler | median ms | slowest – fastest ms | VmHWM MB | box peak MB |",
             "|---|---:|---:|---:|---:|"]
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


def report(cold, bootstrap_bytes, targets):
    lines = ["\n## Cold start: process start to first answer, deleting a 10-object job (unboxed)\n"]
    lines += cold_table(cold, None)
    ours = median([s.wall for s in cold[("del-job", None)]])
    theirs = median([s.wall for s in cold[("boto3 handler (awslambdaric)", None)]])
    targets.add("cold", "cold start ≥ 10× faster than the boto3 handler (unboxed)",
                f"{ours * 1000:.1f} against {theirs * 1000:.1f} ms: {theirs / ours:.1f}×",
                theirs >= 10 * ours)
    if bootstrap_bytes:
        lines.append(f"\nRelease arm64 `bootstrap` (`cargo lambda build --release --arm64`): "
                     f"{bootstrap_bytes / 2**20:.2f} MiB ({bootstrap_bytes:,} bytes)")
        targets.add("cold", "arm64 `bootstrap` < 8 MB",
                    f"{bootstrap_bytes:,} bytes ({bootstrap_bytes / 2**20:.2f} MiB)",
                    bootstrap_bytes < 8_000_000)
    else:
        targets.add("cold", "arm64 `bootstrap` < 8 MB", "not built in this run", None)
    return lines
