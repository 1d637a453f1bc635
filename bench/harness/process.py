"""Running a tool and measuring it: the process's wall and CPU time, its own peak memory, and the
whole machine's stolen CPU; ToolFailed carries what was measured of a run that did not finish."""
import os
import re
import subprocess
import threading
import time
from pathlib import Path


class ToolFailed(Exception):
    """A tool that did not finish its deletion: killed, timed out, exited non-zero, or answered
    an error. Carries what was measured up to then."""

    def __init__(self, reason, sample):
        super().__init__(reason)
        self.reason = reason
        self.sample = sample


def exit_reason(code):
    return f"signal {-code}" if code < 0 else f"exit {code}"


def tail(path, chars=600):
    try:
        text = Path(path).read_text(errors="replace").strip()
    except FileNotFoundError:
        return ""
    return text[-chars:].replace("\n", " | ")


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


def host_cpu():
    """(stolen, total) CPU ticks of the whole machine so far, from /proc/stat. Stolen ticks are
    time the hypervisor gave the virtual CPUs to someone else: the store on them slows down."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[7], sum(fields[:8])
