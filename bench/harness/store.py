"""The store: the Garage that bench/run.sh started, which the benchmark restarts from snapshots,
and benchkit, the project's tool that seeds and counts objects in it."""
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from harness.common import BUCKET, JOB_ROOT, TOOLS, log, run


class Garage:
    """The Garage that bench/run.sh started, restartable from snapshots of its directories."""

    def __init__(self, work):
        self.config = os.environ["GARAGE_CONFIG"]
        self.pid = int(os.environ["GARAGE_PID"])
        self.process = None
        text = Path(self.config).read_text()
        self.dirs = [Path(re.search(rf'^{name} = "(.*)"', text, re.M).group(1))
                     for name in ("metadata_dir", "data_dir")]
        self.endpoint = os.environ["AWS_ENDPOINT_URL"]
        self.port = int(self.endpoint.rsplit(":", 1)[1])
        self.work = work

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait()
            self.process = None
        elif self.pid:
            # The Garage bench/run.sh started: not our child, so wait for it through /proc.
            try:
                os.kill(self.pid, signal.SIGTERM)
                while "zombie" not in Path(f"/proc/{self.pid}/status").read_text():
                    time.sleep(0.05)
            except (ProcessLookupError, FileNotFoundError):
                pass
            self.pid = None

    def start(self):
        log_file = open(self.work / "garage.log", "a")
        env = dict(os.environ, RUST_LOG="warn")
        self.process = subprocess.Popen(
            ["garage", "-c", self.config, "server", "--single-node", "--default-bucket"],
            env=env, stdout=log_file, stderr=log_file)
        deadline = time.time() + 60
        while time.time() < deadline:
            ok = subprocess.run(["garage", "-c", self.config, "bucket", "info", BUCKET],
                                capture_output=True).returncode == 0
            if ok and count(self.endpoint, JOB_ROOT) is not None:
                self.wait_idle()
                return
            time.sleep(0.1)
        raise RuntimeError("garage did not come back")

    def wait_idle(self, timeout=120):
        """Garage goes on working after a burst of writes or a restart (Merkle trees, queues);
        timing a tool meanwhile would time that too. Waits until it has used under 2% of a core
        over half a second."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            before = self.cpu()
            time.sleep(0.5)
            if self.cpu() - before < 0.01:
                return
        log("garage did not settle; measuring anyway")

    def cpu(self):
        """User+system CPU seconds Garage has used so far."""
        pid = self.process.pid if self.process else self.pid
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def snapshot(self, name):
        self.wait_idle()
        self.stop()
        target = self.work / "snapshots" / name
        shutil.rmtree(target, ignore_errors=True)
        for d in self.dirs:
            shutil.copytree(d, target / d.name)
        self.start()

    def has(self, name):
        return (self.work / "snapshots" / name).exists()

    def restore(self, name):
        self.stop()
        for d in self.dirs:
            shutil.rmtree(d)
            shutil.copytree(self.work / "snapshots" / name / d.name, d)
        # Written back now, not by the kernel during the next timed run.
        os.sync()
        self.start()


def benchkit(*args, endpoint):
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint)
    return run([str(TOOLS / "benchkit"), *map(str, args)], env=env).strip()


def count(endpoint, prefix):
    try:
        return int(benchkit("count", BUCKET, prefix, endpoint=endpoint))
    except subprocess.CalledProcessError:
        return None
