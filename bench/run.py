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

This file parses the options and runs the regimes in order; harness/ holds what they share (the
store, s3-proxy, the boxes, the runtime API stand-in, the events, timing, the report's helpers)
and regimes/ one module per regime, with what measures it and the section of the report it writes.
"""
import argparse
import os
import signal
import sys
import time
from pathlib import Path

from harness.bench import Bench
from harness.box import CGROUP, remove_stale_boxes
from harness.common import LAMBDA_TIMEOUT_S, RELEASE, log
from harness.report import BENCHMARKS, PRICES, Targets, engine_commit, machine, write_report
from regimes import cold, garage, million, sizes, write_limit

REGIMES = ["sizes", "write-limit", "million", "garage", "cold"]


def generated(bench, results, args, started):
    """The generated block of the report: what ran and where, the targets, then each regime's
    section, in the order the regimes ran."""
    described, versions = machine()
    targets = Targets()
    body = []
    if "sizes" in results:
        body += sizes.report(results["sizes"], results.get("cold"), targets)
    if "write-limit" in results:
        body += write_limit.report(results["write-limit"], targets)
    if "million" in results:
        body += million.report(results["million"], targets)
    if "garage" in results:
        body += garage.report(results["garage"], targets, args)
    if "cold" in results and "cold" in args.regimes:
        bootstrap = (Path(args.bootstrap).stat().st_size
                     if args.bootstrap and Path(args.bootstrap).exists() else 0)
        body += cold.report(results["cold"], bootstrap, targets)
    minutes = (time.perf_counter() - started) / 60
    parts = ", ".join(f"{name} {seconds / 60:.1f}" for name, seconds in bench.timings.items())
    mode = ("quick (one round of the headline cases; for development, not for conclusions)"
            if args.quick else "full")
    head = [
        "_Written by `bench/run.sh`; the run replaces everything between the generated markers._",
        "",
        f"Run: {mode}; regimes {', '.join(args.regimes)}; {minutes:.0f} minutes ({parts} min). "
        f"del-job: release binary of commit {engine_commit()}.",
        "",
        f"Machine: {described}. " + ", ".join(versions.values()) + ".",
        "",
        f"Prices ({PRICES['region']}): Lambda arm64 ${PRICES['lambda_gb_second']:.10f} per "
        f"GB-second and ${PRICES['lambda_request'] * 1e6:.2f} per million requests; S3 Standard "
        f"LIST ${PRICES['s3_list_request'] * 1000:.3f} per 1,000 requests; DeleteObjects and "
        "DeleteObject free.",
        "",
        "Medians, with the slowest and fastest round beside them: rounds of identical work land up "
        "to 2× apart on this machine, so read a ratio of medians with that spread in mind.",
        "",
        "## Targets\n",
        *targets.lines(),
    ]
    return "\n".join(head + body) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one round of the headline cases (sizes, write limit, 20,000 "
                             "objects / 30 ms, cold starts); the million only with "
                             "--million-objects")
    parser.add_argument("--regimes", nargs="+", choices=REGIMES,
                        help=f"run only these (default: all of {REGIMES})")
    parser.add_argument("--skip-million", action="store_true", help="leave the million out")
    # Garage cases.
    parser.add_argument("--objects", type=int, nargs="+", default=None,
                        help="Garage cases (default 1000 20000 100000)")
    parser.add_argument("--delays", type=int, nargs="+", default=None,
                        help="Garage cases (default 0 30)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="Garage cases up to 20,000 objects (default 5)")
    parser.add_argument("--rounds-large", type=int, default=None,
                        help="Garage cases above 20,000 objects (default 3)")
    parser.add_argument("--folders", type=int, default=16)
    parser.add_argument("--flat", type=int, nargs="*", default=None,
                        help="object counts also run flat (default 20000)")
    parser.add_argument("--tools", nargs="*",
                        help="Garage cases: only these tools; also \"del-job NAME=VALUE ...\", "
                             "\"s3rm-rs FLAGS\", \"floor c=N b=N\" (tuning; no report); the Garage "
                             "cases alone unless --regimes names others. Write limit: "
                             "\"del-job NAME=VALUE ...\" run beside the defaults")
    # Sizes.
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 512, 1769],
                        help="Lambda sizes, MB")
    parser.add_argument("--size-objects", type=int, default=20_000)
    parser.add_argument("--size-delay", type=int, default=30)
    parser.add_argument("--size-rounds", type=int, default=None, help="default 3")
    # Write limit.
    parser.add_argument("--write-limits", type=int, nargs="+", default=[1_000, 3_500, 10_000],
                        help="keys a second")
    parser.add_argument("--write-limit-objects", type=int, default=20_000)
    parser.add_argument("--write-limit-delay", type=int, default=30)
    parser.add_argument("--write-limit-rounds", type=int, default=None, help="default 3")
    # Million.
    parser.add_argument("--million-objects", type=int, default=None, help="default 1000000")
    parser.add_argument("--million-memory", type=int, default=128, help="the box, MB")
    parser.add_argument("--million-delay", type=int, default=30)
    parser.add_argument("--million-deadline", type=int, default=LAMBDA_TIMEOUT_S, help="seconds")
    parser.add_argument("--million-rounds", type=int, default=1,
                        help="rounds of the million (1,000 and 100,000: at least 2)")
    # Common.
    parser.add_argument("--cold-runs", type=int, default=None, help="default 10 (quick: 3)")
    parser.add_argument("--tool-timeout", type=int, default=600,
                        help="seconds before a peer is stopped")
    parser.add_argument("--bootstrap", default="",
                        help="path of the arm64 bootstrap, to report its size")
    parser.add_argument("--out", default=None,
                        help="the report (default: BENCHMARKS.md for a full run of every regime, "
                             "/tmp/del-job-bench.md otherwise)")
    parser.add_argument("--ours", default=str(RELEASE / "del-job"),
                        help="the del-job binary to measure")
    parser.add_argument("--s3rm-tuned", default=garage.S3RM_TUNED,
                        help="the flags of the tuned s3rm-rs run")
    args = parser.parse_args()

    quick = args.quick
    explicit_million = args.million_objects is not None
    full_set = args.regimes is None
    if args.regimes is None:
        args.regimes = [r for r in REGIMES
                        if not (r == "million" and quick and not explicit_million)]
    if args.skip_million:
        args.regimes = [r for r in args.regimes if r != "million"]
    if args.tools and full_set:
        args.regimes = ["garage"]
    defaults = {"objects": ([20_000], [1_000, 20_000, 100_000]), "delays": ([30], [0, 30]),
                "flat": ([], [20_000]), "rounds": (1, 5), "rounds_large": (1, 3),
                "size_rounds": (1, 3), "write_limit_rounds": (1, 3), "cold_runs": (3, 10),
                "million_objects": (1_000_000, 1_000_000)}
    for name, (fast, full) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, fast if quick else full)
    if args.out is None:
        whole = full_set and not quick and not args.skip_million and not args.tools
        args.out = str(BENCHMARKS if whole else Path("/tmp/del-job-bench.md"))
    boxed = any(r in args.regimes for r in ("sizes", "million", "cold"))
    if boxed and not os.access(CGROUP / "cpu", os.W_OK):
        sys.exit("the sizes, million and cold regimes need cgroup v1 (cpu, memory) under "
                 "/sys/fs/cgroup, as root")

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
            results["sizes"] = bench.timed("sizes", sizes.measure)
        if "write-limit" in args.regimes:
            results["write-limit"] = bench.timed("write limit", write_limit.measure)
        if "million" in args.regimes:
            results["million"] = bench.timed("million", million.measure)
        if "garage" in args.regimes:
            results["garage"] = bench.timed("garage", garage.measure)
            if args.tools:
                return  # a tuning run: the log lines are the result
        if "cold" in args.regimes or "sizes" in args.regimes:
            # Unboxed (the cold regime) and in the smallest box (reported with the sizes).
            log("cold starts")
            results["cold"] = bench.timed("cold", cold.measure, min(args.sizes))
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
