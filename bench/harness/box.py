"""Lambda-sized boxes: cgroup (v1) hierarchies under /sys/fs/cgroup that give a command the CPU
share and the memory limit Lambda gives a function of a size."""
import os
import re
import time
from pathlib import Path

from harness.common import log

# Lambda gives a function one vCPU at 1,769 MB, and CPU in proportion to memory below that.
FULL_CPU_MB = 1769
CGROUP = Path("/sys/fs/cgroup")
BOX_PREFIX = "del-job-bench-"


class Box:
    """A Lambda-sized box: a cgroup (v1) whose CPU quota is the share Lambda gives `mb` MB
    (cfs_quota_us = cfs_period_us x MB / 1,769) and whose memory limit is MB MiB. A command runs
    in it through a shell that moves itself in before it execs the command."""

    def __init__(self, mb):
        self.mb = mb
        name = f"{BOX_PREFIX}{os.getpid()}-{mb}mb"
        self.cpu_dir = CGROUP / "cpu" / name
        self.mem_dir = CGROUP / "memory" / name
        self.cpu_dir.mkdir()
        self.mem_dir.mkdir()
        period = int((self.cpu_dir / "cpu.cfs_period_us").read_text())
        self.quota = max(1000, period * mb // FULL_CPU_MB)
        self.cpus = self.quota / period
        (self.cpu_dir / "cpu.cfs_quota_us").write_text(str(self.quota))
        (self.mem_dir / "memory.limit_in_bytes").write_text(str(mb << 20))
        memsw = self.mem_dir / "memory.memsw.limit_in_bytes"
        if memsw.exists():
            try:
                memsw.write_text(str(mb << 20))
            except OSError:
                pass
        self.before = (0, 0)

    def wrap(self, cmd):
        script = 'echo $$ > "$1" && echo $$ > "$2" && shift 2 && exec "$@"'
        return ["/bin/sh", "-c", script, "box", str(self.cpu_dir / "cgroup.procs"),
                str(self.mem_dir / "cgroup.procs"), *cmd]

    def reset(self):
        """Before a run: the page cache charged by earlier runs goes, the peak starts again."""
        try:
            (self.mem_dir / "memory.force_empty").write_text("0")
        except OSError:
            pass
        (self.mem_dir / "memory.max_usage_in_bytes").write_text("0")
        self.before = (self.throttled_ns(), self.oom_kills())

    def measure(self, sample):
        """After a run: the box's peak memory, the CPU time the quota held the run back, OOM
        kills."""
        sample.box_mb = int((self.mem_dir / "memory.max_usage_in_bytes").read_text()) / 2**20
        sample.throttled_s = (self.throttled_ns() - self.before[0]) / 1e9
        sample.oom = self.oom_kills() - self.before[1]

    def throttled_ns(self):
        text = (self.cpu_dir / "cpu.stat").read_text()
        found = re.search(r"^throttled_time (\d+)", text, re.M)
        return int(found.group(1)) if found else 0

    def oom_kills(self):
        text = (self.mem_dir / "memory.oom_control").read_text()
        found = re.search(r"^oom_kill (\d+)", text, re.M)
        return int(found.group(1)) if found else 0

    def remove(self):
        for d in (self.cpu_dir, self.mem_dir):
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)  # its last process is still exiting
            else:
                log(f"could not remove {d}")


def remove_stale_boxes():
    """Boxes left by an earlier run of this benchmark that was killed: removed if empty."""
    for hierarchy in ("cpu", "memory"):
        for d in (CGROUP / hierarchy).glob(f"{BOX_PREFIX}*"):
            pid = d.name[len(BOX_PREFIX):].split("-")[0]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                try:
                    d.rmdir()
                    log(f"removed a stale box {d}")
                except OSError:
                    pass
