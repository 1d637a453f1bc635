"""The million regime: one invocation of del-job in the 128 MB box (--million-memory) through
the SQS entry, with a 900 s deadline (--million-deadline), against the same at 1,000 and 100,000
objects: peak memory and CPU per object, which should not grow with the job."""
from harness.bench import Runner
from harness.common import log
from harness.report import failures, median


def measure(bench):
    a = bench.args
    box = bench.box(a.million_memory)
    cases = []
    for objects in sorted({1_000, 100_000, a.million_objects}):
        big = objects == a.million_objects
        rounds = a.million_rounds if big else max(2, a.million_rounds)
        log(f"million: {objects:,} objects, {a.folders} folders, {a.million_delay} ms, "
            f"{a.million_memory} MB box, SQS entry, {a.million_deadline} s deadline, "
            f"{rounds} rounds")
        snapshot = bench.seeded(objects, a.folders)
        runner = Runner("del-job (SQS)", bench.ours_sqs(box, a.million_deadline), box)
        samples = bench.rounds(snapshot, objects, [runner], rounds, a.million_delay, strict=False)
        cases.append({"objects": objects, "rounds": rounds, "samples": samples[runner.name],
                      "big": big})
    return {"memory": a.million_memory, "delay_ms": a.million_delay,
            "deadline_s": a.million_deadline, "folders": a.folders, "target": a.million_objects,
            "cases": cases}


def report(result, targets):
    this_run = ("" if result["target"] == 1_000_000
                else f" (this run: {result['target']:,} objects)")
    lines = [f"\n## A million objects: one invocation in the {result['memory']} MB box{this_run}\n",
             f"del-job's release binary in the {result['memory']} MB box, one SQS event of one "
             f"message (`{{\"project_id\",\"job_id\",\"type\":\"etl\",\"offline_platform\"}}`) "
             "from the runtime stand-in, whose Lambda-Runtime-Deadline-Ms is "
             f"{result['deadline_s']} s away; {result['folders']} folders, "
             f"{result['delay_ms']} ms delay. The 1,000- and 100,000-object cases run the same "
             "way, for the peak and the CPU per object to be read against.\n",
             "| objects | rounds | time s (median) | slowest – fastest | objects/s | CPU s "
             "| CPU s per 100,000 | CPU-throttled | VmHWM MB | box peak MB | left (worst) "
             "| neighbour | failed rounds |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    by = {}
    for case in result["cases"]:
        runs, n = case["samples"], case["objects"] + 1
        walls = [s.wall for s in runs]
        wall, cpu = median(walls), median([s.cpu for s in runs])
        peak = max(s.rss_mb for s in runs)
        left = max(s.left or 0 for s in runs)
        neighbour = all(s.neighbour_ok for s in runs)
        by[case["objects"]] = {"cpu100k": cpu / n * 100_000, "peak": peak, "left": left,
                               "neighbour": neighbour,
                               "failed": [s.failed for s in runs if s.failed], "wall": wall}
        lines.append(f"| {case['objects']:,} | {case['rounds']} | {wall:.1f} "
                     f"| {max(walls):.1f} – {min(walls):.1f} "
                     f"| {n / wall:,.0f} | {cpu:.2f} | {cpu / n * 100_000:.2f} "
                     f"| {100 * median([s.throttled_s for s in runs]) / wall:.0f}% | {peak:.1f} "
                     f"| {max(s.box_mb or 0 for s in runs):.1f} | {left:,} "
                     f"| {'intact' if neighbour else 'DAMAGED'} | {failures(runs)} |")
    big = by[result["target"]]
    label = f"{result['target']:,} objects"
    ratio = big["peak"] / by[1_000]["peak"]
    targets.add("million", f"{label}: peak memory ≤ 1.2× the 1,000-object peak",
                f"{big['peak']:.1f} / {by[1_000]['peak']:.1f} MB = {ratio:.2f}×", ratio <= 1.2)
    flat = big["cpu100k"] / by[100_000]["cpu100k"]
    targets.add("million",
                f"{label}: CPU per 100,000 objects flat (≤ 1.1× the 100,000-object case)",
                f"{big['cpu100k']:.2f} / {by[100_000]['cpu100k']:.2f} s = {flat:.2f}×", flat <= 1.1)
    targets.add("million", f"{label}: one invocation within the {result['deadline_s']} s deadline, "
                "nothing left, neighbour intact",
                f"{big['wall']:.0f} s, worst round {big['left']:,} left, neighbour "
                f"{'intact' if big['neighbour'] else 'DAMAGED'}"
                + (f"; {big['failed'][0][:100]}" if big["failed"] else ""),
                not big["failed"] and big["left"] == 0 and big["neighbour"])
    return lines
