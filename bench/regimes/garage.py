"""The garage regime, the store's own cases (by default 1,000 / 20,000 / 100,000 objects in 16
folders and 20,000 flat, at 0 and 30 ms): del-job against s3rm-rs (defaults and tuned), boto3 and
the floor (DeleteObjects of keys already known). With --tools, a tuning run of chosen tools."""
from harness.bench import Runner
from harness.common import log
from harness.report import median

# Best of the tunings tried against Garage here (worker sizes 8 to 64, batches 100 to 1000).
S3RM_TUNED = "--worker-size 64 --batch-size 100"
# (requests at once, keys a request). Garage deletes the keys of one request one after another,
# so many small requests keep it busier than a few large ones; beyond these no trial run was faster.
FLOORS = [(8, 1000), (32, 250), (64, 100)]


def measure(bench):
    """Every case: each object count in --folders folders and those of --flat flat, at each
    delay."""
    args = bench.args
    shapes = [(n, args.folders) for n in args.objects] + [(n, 0) for n in args.flat]
    return [measure_case(bench, objects, folders, delay)
            for delay in args.delays for objects, folders in shapes]


def measure_case(bench, objects, folders, delay_ms):
    layout = f"{folders} folders" if folders else "flat"
    log(f"garage case: {objects:,} objects, {layout}, {delay_ms} ms delay")
    snapshot = bench.seeded(objects, folders)
    tools = {"del-job": bench.ours_http(objects), "s3rm-rs default": bench.s3rm([]),
             "s3rm-rs tuned": bench.s3rm(bench.args.s3rm_tuned.split()), "boto3": bench.boto3()}
    for c, b in FLOORS:
        tools[f"floor c={c} b={b}"] = bench.floor(objects, folders, c, b)
    if bench.args.tools:
        # Tuning variants: "del-job NAME=VALUE ...", "s3rm-rs FLAGS", "floor c=N b=N".
        for name in bench.args.tools:
            tool, _, extra = name.partition(" ")
            if name not in tools and tool == "del-job":
                tools[name] = bench.ours_http(
                    objects, dict(setting.split("=", 1) for setting in extra.split()))
            elif name not in tools and tool == "s3rm-rs":
                tools[name] = bench.s3rm(extra.split())
            elif name not in tools and tool == "floor":
                c, b = (int(part.split("=")[1]) for part in extra.split())
                tools[name] = bench.floor(objects, folders, c, b)
        tools = {name: tool for name, tool in tools.items() if name in bench.args.tools}
    runners = [Runner(name, fn) for name, fn in tools.items()]
    rounds = bench.args.rounds if objects <= 20_000 else bench.args.rounds_large
    samples = bench.rounds(snapshot, objects, runners, rounds, delay_ms)
    return {"objects": objects, "folders": folders, "delay_ms": delay_ms, "samples": samples}


def report(cases, targets, args):
    lines = ["\n## Garage cases: del-job against s3rm-rs, boto3 and the floor\n",
             "Unboxed, straight to Garage (0 ms) or through s3-proxy (30 ms: every request held "
             f"for the delay). Rounds: {args.rounds} (100,000 objects: {args.rounds_large}), "
             "tools alternating; median, with the slowest and fastest round. Time runs from "
             "process start to the end of the deletion (del-job: to its answer to the runtime API "
             "stand-in), so start-up is included for every tool. s3rm-rs tuned: "
             f"`{args.s3rm_tuned}`. The floor is DeleteObjects of the already-known keys (no "
             "listing). Garage CPU is the store's own CPU time during a run: on two cores shared "
             "with the client it bounds every tool. LIST requests (ListObjects and "
             "ListMultipartUploads, as S3 bills them) are counted by s3-proxy, so in the cases "
             "with a delay; the least a listing can take is a full page per 1,000 keys per "
             "folder, the delimiter pages that find the folders, and one listing of uploads in "
             "progress.\n",
             "| case | ours / s3rm default | ours / s3rm tuned | ours / floor | ours / boto3 "
             "| ours VmHWM MB | ours CPU s | s3rm CPU s (default, tuned) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    tables = []
    for case in cases:
        n = case["objects"] + 1
        samples = case["samples"]
        rate = {tool: n / median([s.wall for s in runs]) for tool, runs in samples.items() if runs}
        floors = {t: r for t, r in rate.items() if t.startswith("floor")}
        best_floor = max(floors, key=floors.get) if floors else None
        ours = rate.get("del-job")
        # Counted by s3-proxy, so only where one stands in front of Garage (a delay).
        lists = {tool: round(median([s.counts["list_objects"] for s in runs]))
                 for tool, runs in samples.items() if runs and all(s.counts for s in runs)}
        layout = f"{case['folders']} folders" if case["folders"] else "flat"
        name = f"{case['objects']:,}, {layout}, {case['delay_ms']} ms"
        every = [s for runs in samples.values() for s in runs]
        stolen = 100 * sum(s.stolen for s in every) / max(sum(s.host for s in every), 1)
        tables.append(f"\n### {case['objects']:,} objects, {layout}, {case['delay_ms']} ms delay\n")
        tables.append(f"CPU time stolen from this machine during the timed runs: {stolen:.1f}%.\n")
        tables.append("| tool | objects/s (median) | slowest – fastest round | ours / tool "
                      "| CPU s (median) | Garage CPU s (median) | VmHWM MB | LIST requests |")
        tables.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for tool, r in sorted(rate.items(), key=lambda kv: -kv[1]):
            runs = samples[tool]
            spread = f"{n / max(s.wall for s in runs):,.0f} – {n / min(s.wall for s in runs):,.0f}"
            mark = " (best floor)" if tool == best_floor else ""
            versus = f"{ours / r:.2f}" if ours else "—"
            tables.append(f"| {tool}{mark} | {r:,.0f} | {spread} | {versus} "
                          f"| {median([s.cpu for s in runs]):.2f} "
                          f"| {median([s.store_cpu for s in runs]):.2f} "
                          f"| {max(s.rss_mb for s in runs):.1f} "
                          f"| {lists.get(tool, '—')} |")
        if not ours:
            continue
        s = {t: rate.get(t) for t in ("s3rm-rs default", "s3rm-rs tuned", "boto3")}
        ratios = {t: f"{ours / r:.2f}" if r else "—" for t, r in s.items()}
        case["summary"] = {"ours": ours, "rss": max(x.rss_mb for x in samples["del-job"]),
                           "cpu": median_cpu(samples, "del-job"),
                           "s3rm_cpu": median_cpu(samples, "s3rm-rs default"),
                           "s3rm_tuned_cpu": median_cpu(samples, "s3rm-rs tuned")}
        floor = f"{ours / floors[best_floor]:.2f}" if best_floor else "—"
        lines.append(f"| {name} | {ratios['s3rm-rs default']} | {ratios['s3rm-rs tuned']} "
                     f"| {floor} | {ratios['boto3']} | {case['summary']['rss']:.1f} "
                     f"| {case['summary']['cpu']:.2f} | {case['summary']['s3rm_cpu']:.2f}, "
                     f"{case['summary']['s3rm_tuned_cpu']:.2f} |")
        if s["s3rm-rs default"]:
            targets.add("garage", f"{name}: ≥ 1.0× s3rm-rs defaults",
                        f"{ours / s['s3rm-rs default']:.2f}", ours >= s["s3rm-rs default"])
        if s["boto3"]:
            targets.add("garage", f"{name}: ≥ 3× boto3", f"{ours / s['boto3']:.1f}×",
                        ours >= 3 * s["boto3"])
        if "del-job" in lists and "s3rm-rs default" in lists:
            targets.add("garage", f"{name}: LIST requests ≤ s3rm-rs defaults",
                        f"{lists['del-job']} against {lists['s3rm-rs default']}",
                        lists["del-job"] <= lists["s3rm-rs default"])
        if "del-job" in lists:
            fewest = least_lists(case["objects"], case["folders"])
            targets.add("garage", f"{name}: LIST requests ≤ 1.2× the least",
                        f"{lists['del-job']} / {fewest} = {lists['del-job'] / fewest:.2f}",
                        lists["del-job"] <= 1.2 * fewest)
    # Memory and CPU, per delay: 100,000 against 1,000 objects (16 folders).
    for delay in sorted({c["delay_ms"] for c in cases}):
        at = {c["objects"]: c["summary"] for c in cases
              if c["delay_ms"] == delay and c["folders"] and "summary" in c}
        if 100_000 in at and 1_000 in at:
            ratio = at[100_000]["rss"] / at[1_000]["rss"]
            targets.add("garage", f"{delay} ms: peak at 100,000 ≤ 1.2× the peak at 1,000",
                        f"{at[100_000]['rss']:.1f} / {at[1_000]['rss']:.1f} MB = {ratio:.2f}×",
                        ratio <= 1.2)
        if 100_000 in at:
            targets.add("garage", f"{delay} ms: peak < 32 MB at 100,000",
                        f"{at[100_000]['rss']:.1f} MB", at[100_000]["rss"] < 32)
            targets.add("garage", f"{delay} ms: CPU per 100,000 ≤ s3rm-rs defaults",
                        f"{at[100_000]['cpu']:.2f} s against {at[100_000]['s3rm_cpu']:.2f} s",
                        at[100_000]["cpu"] <= at[100_000]["s3rm_cpu"])
    if not any("summary" in c and c["objects"] == 100_000 for c in cases):
        targets.add("garage", "peak at 100,000 ≤ 1.2× the peak at 1,000; < 32 MB; "
                    "CPU per 100,000 ≤ s3rm-rs", "no 100,000-object case in this run", None)
    return lines + tables


def least_lists(objects, folders):
    """The fewest LIST requests that find every key of a job seeded as the benchmark seeds it
    (`output/` flat or in `folders` sub-folders, beside `job.json`): a full page of 1,000 keys at a
    time of each folder, the delimiter pages that find the folders (the root, and `output/` when
    it holds sub-folders), and one listing of the job's uploads in progress."""
    def pages(keys):
        return max(1, -(-keys // 1000))
    if not folders:
        return 1 + 1 + pages(objects)
    per = [objects // folders + (i < objects % folders) for i in range(folders)]
    return 1 + 2 + sum(pages(k) for k in per)


def median_cpu(samples, tool):
    """A tool's median CPU seconds in a case; NaN when the case did not run it."""
    return median([x.cpu for x in samples[tool]]) if tool in samples else float("nan")
