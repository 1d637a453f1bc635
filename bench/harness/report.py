"""What the regimes' reports share: medians over the rounds that finished, the table of targets,
the cost of a million objects at public prices, the machine and commit a run describes, and the
generated block of BENCHMARKS.md (its markers, the template around them, and its rewriting)."""
import math
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

from harness.common import LAMBDA_TIMEOUT_S, ROOT, log, run

BENCHMARKS = ROOT / "BENCHMARKS.md"

# Public prices, US East (N. Virginia), us-east-1, as published on the AWS pricing pages for
# Lambda and S3: Lambda on arm64 (Graviton), first 7.5 billion GB-seconds a month; S3 Standard
# requests. DeleteObjects and DeleteObject requests are free; GET/HEAD (a few per job) are left out.
PRICES = {
    "region": "US East (N. Virginia), us-east-1",
    "lambda_gb_second": 0.0000133334,
    "lambda_request": 0.20 / 1_000_000,
    "s3_list_request": 0.005 / 1_000,
}

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
        self.rows.append((regime, target, result,
                          "not measured" if passed is None else held(passed)))

    def lines(self):
        out = ["| regime | target | result | |", "|---|---|---|---|"]
        out += [f"| {r} | {t} | {res} | {h} |" for r, t, res, h in self.rows]
        return out


def cost_per_million(mb, rate, lists_per_object):
    """Dollars to delete a million objects at `rate` objects/s in a function of `mb` MB."""
    seconds = 1_000_000 / rate
    invocations = max(1, math.ceil(seconds / LAMBDA_TIMEOUT_S))
    compute = (mb / 1024 * seconds * PRICES["lambda_gb_second"]
               + invocations * PRICES["lambda_request"])
    listing = lists_per_object * 1_000_000 * PRICES["s3_list_request"]
    return compute, listing


def machine():
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = (int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
              // 1024 // 1024)
    versions = {
        "rustc": run(["rustc", "--version"]).strip(),
        "garage": run(["garage", "--version"]).splitlines()[0],
        "s3rm-rs": run(["s3rm", "--version"]).split(" (")[0].strip(),
        "boto3": "boto3 " + run([sys.executable, "-c",
                                 "import boto3; print(boto3.__version__)"]).strip(),
        "python": "Python " + platform.python_version(),
    }
    return f"{os.cpu_count()} × {cpu}, {memory} GiB, Linux {platform.release()}", versions


def engine_commit():
    try:
        commit = run(["git", "-C", str(ROOT), "log", "-1", "--format=%h",
                      "--", "src", "Cargo.toml", "Cargo.lock"]).strip()
        dirty = run(["git", "-C", str(ROOT), "status", "--porcelain",
                     "--", "src", "Cargo.toml", "Cargo.lock"]).strip()
        return commit + (" with uncommitted changes" if dirty else "")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


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
