"""The project's s3-proxy in front of Garage, started for a run that needs a delay or a write
limit."""
import json
import subprocess

from harness.common import TOOLS


class Proxy:
    """The project's s3-proxy in front of Garage: the delay, S3's write limit, and the counts of
    what went through (printed by the proxy as it stops)."""

    def __init__(self, garage_port, delay_ms, write_limit=None):
        cmd = [str(TOOLS / "s3-proxy"), "--upstream", f"127.0.0.1:{garage_port}",
               "--delay-ms", str(delay_ms)]
        if write_limit:
            cmd += ["--write-limit", str(write_limit)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.url = "http://" + self.process.stdout.readline().strip()

    def stop(self):
        """Stops the proxy; returns its counts (requests, list_objects, delete_objects,
        delete_objects_throttled, delete_object, delete_object_throttled, throttled,
        keys_admitted)."""
        self.process.terminate()
        out, _ = self.process.communicate(timeout=30)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else None
