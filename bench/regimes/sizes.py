"""The sizes regime, Lambda's CPU share: every tool (del-job, s3rm-rs defaults, boto3) in a box
of what Lambda gives a function of each size (--sizes), Garage outside it; objects/s, peak memory,
and what a million objects cost at each size. Its report also shows the cold starts in the
smallest box."""
from harness.bench import Runner
from harness.box import FULL_CPU_MB
from harness.common import log
from harness.report import cost_per_million, failures, median, ok, rate_of
from regimes.cold import cold_table


def measure(bench):
    a = bench.args
    log(f"sizes: {a.size_objects:,} objects, {a.folders} folders, {a.size_delay} ms, "
        f"boxes of {a.sizes} MB")
    snapshot = bench.seeded(a.size_objects, a.folders)
    runners = []
    for mb in a.sizes:
        box = bench.box(mb)
        runners += [Runner(f"del-job @ {mb}", bench.ours_http(a.size_objects, box=box), box),
                    Runner(f"s3rm-rs default @ {mb}",
                           bench.s3rm([], box=box, timeout=a.tool_timeout), box),
                    Runner(f"boto3 @ {mb}", bench.boto3(box=box, timeout=a.tool_timeout), box)]
    samples = bench.rounds(snapshot, a.size_objects, runners, a.size_rounds, a.size_delay,
                           strict=False)
    return {"objects": a.size_objects, "folders": a.folders, "delay_ms": a.size_delay,
            "sizes": a.sizes, "rounds": a.size_rounds, "samples": samples,
            "quota": {mb: bench.box(mb).cpus for mb in a.sizes}}


def report(result, cold, targets):
    n = result["objects"] + 1
    samples = result["samples"]
    lines = [f"\n## Lambda sizes: {result['objects']:,} objects, {result['folders']} folders, "
             f"{result['delay_ms']} ms delay\n",
             "Each tool runs in a cgroup (v1) box of the size's CPU share "
             f"(cfs quota = period × MB / {FULL_CPU_MB:,}: "
             + ", ".join(f"{mb} MB = {cpus:.3f} CPU" for mb, cpus in result["quota"].items())
             + ") and memory limit (MB MiB); Garage and the proxy run outside it. "
             f"Rounds: {result['rounds']}, tools and sizes alternating; median, with the slowest "
             "and fastest round. *CPU-throttled* is the time the box's quota held the tool back "
             "(summed over its threads), as a share of the run's wall time: near or above 100% the "
             "quota bounds the figure. Box peak is the cgroup's memory.max_usage_in_bytes (pages "
             "charged to the box: a binary's pages cached by an earlier run are not), VmHWM the "
             "process's own peak. Cost of a million objects: Lambda arm64 GB-seconds at this size "
             "and rate plus its requests (one per 900 s), and the LIST requests the tool made here "
             "(counted by s3-proxy) scaled to a million objects; DeleteObjects requests are "
             "free.\n",
             "| tool | MB | objects/s (median) | slowest – fastest | CPU s | CPU-throttled "
             "| Garage CPU s | VmHWM MB | box peak MB | LIST requests "
             "| $ / million objects (Lambda + LIST) | failed rounds |",
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
                    f"| {tool} | {mb:,} | {rate:,.0f} | {slow:,.0f} – {fast:,.0f} "
                    f"| {median([s.cpu for s in done]):.2f} "
                    f"| {100 * throttled:.0f}% | {median([s.store_cpu for s in done]):.2f} "
                    f"| {max(s.rss_mb for s in done):.1f} | {max(s.box_mb or 0 for s in done):.1f} "
                    f"| {lists:,.0f} | {cost:.4f} ({compute:.4f} + {listing:.4f}) "
                    f"| {failures(runs)} |")
            else:
                cost = None
                lines.append(f"| {tool} | {mb:,} | — | — | — | — | — "
                             f"| {max((s.rss_mb for s in runs), default=0):.1f} "
                             f"| {max((s.box_mb or 0 for s in runs), default=0):.1f} | — | — "
                             f"| {failures(runs)} |")
            table[(tool, mb)] = (rate, cost)
    labels, values = [], []
    for tool in ("del-job", "s3rm-rs default", "boto3"):
        for mb in result["sizes"]:
            labels.append(f'"{tool.replace(" default", "")} {mb}"')
            values.append(str(round(table[(tool, mb)][0] or 0)))
    lines += ["", "```mermaid", "xychart-beta",
              f'    title "Objects/s by tool and Lambda size (MB), {result["objects"]:,} objects, '
              f'{result["delay_ms"]} ms"',
              f"    x-axis [{', '.join(labels)}]", '    y-axis "objects/s"',
              f"    bar [{', '.join(values)}]", "```"]
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
        targets.add("sizes", f"del-job at {small} MB ≥ 0.9× its own {full:,} MB throughput",
                    "del-job failed", False)
    boto = table[("boto3", small)][0]
    if ours[small] and boto:
        targets.add("sizes", f"del-job at {small} MB ≥ 10× boto3 at {small} MB",
                    f"{ours[small]:,.0f} / {boto:,.0f} = {ours[small] / boto:.1f}×",
                    ours[small] >= 10 * boto)
    else:
        targets.add("sizes", f"del-job at {small} MB ≥ 10× boto3 at {small} MB",
                    "del-job failed" if not ours[small] else "boto3 failed at every round",
                    bool(ours[small]))
    s3rm = {mb: table[("s3rm-rs default", mb)][0] for mb in sizes
            if table[("s3rm-rs default", mb)][0]}
    if ours[small]:
        if s3rm:
            best = max(s3rm, key=s3rm.get)
            targets.add("sizes", f"del-job at {small} MB ahead of s3rm-rs (defaults) at any size",
                        f"{ours[small]:,.0f} against s3rm-rs's best, {s3rm[best]:,.0f} "
                        f"at {best:,} MB ({ours[small] / s3rm[best]:.2f}×)",
                        ours[small] > s3rm[best])
        else:
            targets.add("sizes", f"del-job at {small} MB ahead of s3rm-rs (defaults) at any size",
                        "s3rm-rs failed at every size", True)
    for mb in sizes:
        ours_cost, s3rm_cost = table[("del-job", mb)][1], table[("s3rm-rs default", mb)][1]
        if ours_cost is not None and s3rm_cost is not None:
            targets.add("sizes", f"del-job's cost a million objects at {mb:,} MB ≤ s3rm-rs's",
                        f"${ours_cost:.5f} against ${s3rm_cost:.5f}", ours_cost <= s3rm_cost)
    costs = {mb: table[("del-job", mb)][1] for mb in sizes if ours[mb]}
    if costs:
        fastest = max(ours[mb] for mb in costs)
        near = [mb for mb in costs if ours[mb] >= 0.9 * fastest]
        cheapest = min(near, key=lambda mb: costs[mb])
        lines.append(f"\n**Cheapest size within 10% of the fastest (del-job): {cheapest:,} MB** "
                     f"({ours[cheapest]:,.0f} objects/s against the fastest {fastest:,.0f}; "
                     f"${costs[cheapest]:.4f} a million objects). Sizes within 10%: "
                     + ", ".join(f"{mb:,} MB (${costs[mb]:.4f})" for mb in sorted(near)) + ".")
        targets.add("sizes", "name the cheapest size within 10% of the fastest "
                    "(the template's MemorySize default)", f"{cheapest:,} MB", True)

    if cold:
        lines.append(f"\n### Cold start in the {small} MB box\n")
        lines += cold_table(cold, small)
    return lines
