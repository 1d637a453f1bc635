"""A stand-in for the Lambda runtime API, through which the benchmark invokes a function (del-job
or the boto3 handler) as Lambda would, and times it from process start to its answer."""
import json
import os
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from harness.common import LAMBDA_TIMEOUT_S
from harness.process import PeakRss, Sample, ToolFailed, Usage, exit_reason, tail

# The function ARN the runtime stand-in sends in its context: an account the function takes as
# its own, as Lambda gives a deployed function its ARN.
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:del-job"


class RuntimeApi:
    """A stand-in for the Lambda runtime API: hands one event to the function and records when
    the answer arrives. Later polls for events wait until the function is stopped."""

    def __init__(self, work):
        api = self
        self.work = work
        self.event = None
        self.deadline_s = LAMBDA_TIMEOUT_S
        self.answer = None
        self.answered = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body=b"", headers=()):
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    return self.reply(404)
                event, api.event = api.event, None
                if event is None:
                    # The function polls again after answering; it is stopped before this returns.
                    threading.Event().wait(3600)
                    return
                deadline = int((time.time() + api.deadline_s) * 1000)
                self.reply(200, json.dumps(event).encode(), [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", str(uuid.uuid4())),
                    ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                    ("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN),
                    ("Lambda-Runtime-Trace-Id",
                     "Root=1-00000000-000000000000000000000000;Sampled=0"),
                ])

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                self.reply(202, b"{}", [("Content-Type", "application/json")])
                if "/response" in self.path or "/error" in self.path:
                    api.answer = (time.perf_counter(), self.path, body)
                    api.answered.set()

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # the function is killed while it polls for its next event

        self.server = Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, cmd, env, event, cwd=None, box=None, deadline_s=LAMBDA_TIMEOUT_S,
               memory_mb=512):
        """Starts the function (in `box` if given), hands it `event` with a deadline `deadline_s`
        away; returns (seconds from start to answer, answer, usage of the process). Raises
        ToolFailed if the function dies or does not answer by the deadline."""
        self.event, self.answer, self.deadline_s = event, None, deadline_s
        self.answered.clear()
        env = dict(env, AWS_LAMBDA_RUNTIME_API=self.address, AWS_LAMBDA_FUNCTION_NAME="del-job",
                   AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(memory_mb),
                   AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                   AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/del-job",
                   AWS_LAMBDA_LOG_STREAM_NAME="bench", RUST_LOG="warn")
        errors = self.work / "function.stderr"
        started = time.perf_counter()
        with open(errors, "w") as stderr:
            process = subprocess.Popen(box.wrap(cmd) if box else cmd, env=env, cwd=cwd,
                                       stdout=subprocess.DEVNULL, stderr=stderr)
        peak = PeakRss(process.pid, cmd)
        give_up = time.time() + deadline_s + 30
        exited = None
        while not self.answered.wait(0.05):
            pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                exited = (status, rusage)
                break
            if time.time() > give_up:
                break
        if self.answered.is_set():
            peak.read()  # the process is still alive: its peak is exact
        if exited is None:
            process.kill()
            _, status, rusage = os.wait4(process.pid, 0)
        else:
            status, rusage = exited
        process.returncode = os.waitstatus_to_exitcode(status)
        usage = Usage(rusage, peak.stop())
        if not self.answered.is_set():
            wall = time.perf_counter() - started
            reason = ("no answer by the deadline" if exited is None
                      else f"died ({exit_reason(process.returncode)})")
            raise ToolFailed(f"{Path(cmd[-1]).name}: {reason}: {tail(errors)}", Sample(wall, usage))
        at, path, body = self.answer
        if "/error" in path:
            raise ToolFailed(f"{Path(cmd[-1]).name} failed: {body[:300]!r}",
                             Sample(at - started, usage))
        return at - started, json.loads(body), usage
