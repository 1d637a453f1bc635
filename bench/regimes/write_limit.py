"""The write-limit regime, S3's write limit: s3-proxy's token bucket of keys (--write-limits R
keys a second) in front of Garage; each tool's time against the ideal (N - burst) / R and against
its own run without a limit, SlowDowns against DeleteObjects requests, and what it left."""
from harness.bench import Runner
from harness.common import log
from harness.report import failures, median, ok


def measure(bench):
    a = bench.args
    snapshot = bench.seeded(a.write_limit_objects, a.folders)
    results = []
    # First without a limit: how fast each tool goes here when only the store and the delay bound
    # it.
    for rate in [None, *a.write_limits]:
        log(f"write limit: {a.write_limit_objects:,} objects, {a.write_limit_delay} ms, "
            + (f"{rate:,} keys/s" if rate else "no limit (reference)"))
        runners = [Runner("del-job", bench.ours_http(a.write_limit_objects)),
                   Runner("s3rm-rs default", bench.s3rm([], timeout=a.tool_timeout)),
                   Runner("boto3", bench.boto3(timeout=a.tool_timeout))]
        # Settings tried beside the defaults: "del-job NAME=VALUE ..." (--tools).
        runners += [Runner(name, bench.ours_http(a.write_limit_objects, dict(
                        setting.split("=", 1) for setting in name.split()[1:])))
                    for name in a.tools or [] if name.startswith("del-job ")]
        samples = bench.rounds(snapshot, a.write_limit_objects, runners, a.write_limit_rounds,
                               a.write_limit_delay, write_limit=rate, strict=False)
        results.append({"rate": rate, "samples": samples})
    return {"objects": a.write_limit_objects, "folders": a.folders,
            "delay_ms": a.write_limit_delay, "rounds": a.write_limit_rounds, "rates": results}


def report(result, targets):
    n = result["objects"] + 1
    lines = [f"\n## S3's write limit: {result['objects']:,} objects, {result['folders']} folders, "
             f"{result['delay_ms']} ms delay\n",
             "s3-proxy's write limit: every key deleted draws a token from a bucket refilled at R "
             "keys a second and holding one second's worth (the burst, R); a deletion without "
             "enough tokens is answered 503 SlowDown and not forwarded. The ideal time is "
             f"(N − burst) / R for the N = {n:,} keys (the record included); *ideal / time* is 1.0 "
             "for a tool that deletes at the limit from its first request. No tool can beat the "
             "slower of the ideal and its own run without a limit (the store and the delay): "
             "*bound / time* reads the time against that. "
             f"Rounds: {result['rounds']}, tools alternating; tools unboxed. Times and ratios are "
             "over the rounds that finished. *SlowDown share* is throttled DeleteObjects requests "
             "over all DeleteObjects requests sent (median over rounds). A tool that gives up is "
             "recorded with what it left.\n"]
    unlimited = {}
    for entry in result["rates"]:
        rate = entry["rate"]
        if rate is None:
            lines += ["\n### No limit (reference)\n",
                      "| tool | time s (median) | slowest – fastest | DeleteObjects requests "
                      "| objects left (worst round) | failed rounds |",
                      "|---|---:|---:|---:|---:|---|"]
            for tool, runs in entry["samples"].items():
                done = ok(runs)
                walls = [s.wall for s in done]
                counted = [s.counts["delete_objects"] for s in done if s.counts]
                if walls:
                    unlimited[tool] = median(walls)
                    lines.append(f"| {tool} | {median(walls):.2f} "
                                 f"| {max(walls):.2f} – {min(walls):.2f} "
                                 f"| {median(counted) if counted else 0:,.0f} "
                                 f"| {max(s.left or 0 for s in runs):,} | {failures(runs)} |")
                else:
                    lines.append(f"| {tool} | — | — | — | {max(s.left or 0 for s in runs):,} "
                                 f"| {failures(runs)} |")
            continue
        ideal = max(n - rate, 0) / rate
        lines += [f"\n### R = {rate:,} keys/s (ideal {ideal:.2f} s)\n",
                  "| tool | time s (median) | slowest – fastest | ideal / time | bound / time "
                  "| DeleteObjects requests | SlowDown share | DeleteObject SlowDowns "
                  "| objects left (worst round) | failed rounds |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for tool, runs in entry["samples"].items():
            done = ok(runs)
            counted = [s.counts for s in runs if s.counts]
            requests = median([c["delete_objects"] for c in counted]) if counted else 0
            shares = [c["delete_objects_throttled"] / c["delete_objects"] for c in counted
                      if c["delete_objects"]]
            share = median(shares) if shares else 0.0
            single = median([c["delete_object_throttled"] for c in counted]) if counted else 0
            left = max(s.left or 0 for s in runs)
            if done:
                walls = [s.wall for s in done]
                wall = median(walls)
                bound = max(ideal, unlimited.get(tool, 0))
                timing = (f"{wall:.2f} | {max(walls):.2f} – {min(walls):.2f} "
                          f"| {ideal / wall:.2f} | {bound / wall:.2f}")
            else:
                wall = None
                gave_up = median([s.wall for s in runs])
                timing = f"gave up after {gave_up:.2f} | — | — | —"
            lines.append(f"| {tool} | {timing} | {requests:,.0f} | {100 * share:.1f}% "
                         f"| {single:,.0f} | {left:,} | {failures(runs)} |")
            if tool == "del-job":
                all_done = len(done) == len(runs)
                if ideal > 0:
                    targets.add("write limit",
                                f"R = {rate:,}: del-job time ≥ 0.95 of the ideal (N − burst) / R",
                                f"{ideal:.2f} s / {wall:.2f} s = {ideal / wall:.2f}"
                                if wall else "failed",
                                bool(wall) and ideal / wall >= 0.95 and all_done)
                targets.add("write limit",
                            f"R = {rate:,}: del-job SlowDowns ≤ 2% of its DeleteObjects requests",
                            f"{100 * share:.1f}% of {requests:,.0f}", share <= 0.02)
                targets.add("write limit",
                            f"R = {rate:,}: del-job leaves nothing, neighbour intact",
                            f"worst round: {left:,} left"
                            + ("" if all(s.neighbour_ok for s in runs) else ", NEIGHBOUR DAMAGED"),
                            left == 0 and all(s.neighbour_ok for s in runs) and all_done)
    return lines
