"""Run a Lambda function's `bootstrap` as a local process and serve it the Lambda Runtime API.

Why: LocalStack community runs functions only in docker (a container per execution
environment, LocalStack's Go "init" inside it serving the Runtime API), and the machines the
tests run on have no docker engine. This executor plays both parts on the host:

* start()  spawns <unzipped code>/bootstrap (the provided.al2023 custom-runtime convention)
           with the environment LocalStack computed for the function, plus
           AWS_LAMBDA_RUNTIME_API pointing at a small HTTP server of ours on 127.0.0.1
           (a new one, on a new port, for every process: a killed process can leave a
           GET /next behind that must never receive a later event); the environment is
           "ready" once the bootstrap first asks for the next event.
* invoke() hands LocalStack's invoke payload to the bootstrap's pending
           GET /2018-06-01/runtime/invocation/next and waits for its
           POST .../{id}/response or .../{id}/error (or the timeout, or the process dying).
* stop()   kills the process group and closes the server.

One executor is one execution environment is one process. LocalStack never gives an
environment two invokes at once (ExecutionEnvironment.reserve()), so there is one slot,
not a queue; concurrency comes from LocalStack starting more environments.

Not covered: container-image functions, layers (/opt), extensions, managed runtimes
(python3.x/nodejs handlers: only a `bootstrap` in the code root is run), memory limits,
any isolation from the host.
"""

import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import StatusErrorException
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

LOG = logging.getLogger(__name__)

API = "/2018-06-01/runtime"
# Lambda's own PATH. The host's (venv, pyenv shims) is not passed on; the function's
# Environment.Variables may still set PATH, since they override everything here.
LAMBDA_PATH = "/usr/local/bin:/usr/bin:/bin:/opt/bin"


class LocalProcessExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.lock = threading.Condition()
        self.server: ThreadingHTTPServer | None = None  # Runtime API of the current process
        self.gen: object | None = None  # identifies the current process's server
        self.env: dict[str, str] = {}
        self.proc: subprocess.Popen | None = None
        self.ready: Future | None = None  # done at the first GET /next, init/error or exit
        self.next_event: dict | None = None  # invoke payload waiting for GET /next
        self.current: tuple[str, Future] | None = None  # (request id, result) in flight
        self.output: deque[str] = deque(maxlen=2000)  # process output, for get_logs()
        self.inv_output: list[str] = []  # output during the current invocation
        self.stopped = False
        self.spawned_mtime = 0  # of bootstrap, to notice a rebuild of hot-reload code

    # ---- RuntimeExecutor interface -------------------------------------------------------

    def start(self, env_vars: dict[str, str]) -> None:
        code = self._code_dir()
        self.env = {"PATH": LAMBDA_PATH, "LANG": "en_US.UTF-8"}
        # LocalStack's variables (AWS_LAMBDA_*, credentials of the function's role,
        # AWS_ENDPOINT_URL, ...) with the function's Environment.Variables applied last.
        # Some are ints (memory size, timeout): the process environment wants strings.
        self.env.update({k: str(v) for k, v in env_vars.items()})
        self.env["LAMBDA_TASK_ROOT"] = str(code)  # LocalStack says /var/task: the container's
        self._start_process()

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            self.lock.notify_all()  # wake a GET /next that is waiting
            if self.ready and not self.ready.done():
                self.ready.set_exception(LambdaRuntimeException("stopped during startup"))
        self._kill()

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        # payload = {"invoke-id", "invoked-function-arn", "payload" (str), "trace-id"}
        if self.proc.poll() is not None or self._code_changed():
            # Dead (crash, timeout kill) or stale (hot-reload code rebuilt): start a fresh
            # process, as Lambda re-inits an environment.
            self._kill()
            self._start_process()
        req_id = payload["invoke-id"]
        result: Future = Future()
        timeout = self.function_version.config.timeout
        started = time.monotonic()
        with self.lock:
            self.current = (req_id, result)
            self.inv_output = []
            payload = dict(payload, deadline_ms=int((time.time() + timeout) * 1000))
            self.next_event = payload
            self.lock.notify_all()
        try:
            res = result.result(timeout=timeout)
        except FutureTimeout:
            self._kill()  # like Lambda: the environment does not survive a timeout
            msg = f"{req_id} Task timed out after {timeout:.2f} seconds"
            res = InvocationResult(req_id, _error("Sandbox.Timedout", msg), True, None)
        time.sleep(0.01)  # let the output pump catch the last lines printed before answering
        with self.lock:
            self.current = None
            lines, self.inv_output = self.inv_output, []
        ms = (time.monotonic() - started) * 1000
        res.logs = "\n".join(
            [f"START RequestId: {req_id} Version: {self.function_version.id.qualifier}"]
            + lines
            + [
                f"END RequestId: {req_id}",
                f"REPORT RequestId: {req_id}\tDuration: {ms:.2f} ms\t"
                f"Memory Size: {self.function_version.config.memory_size} MB",
            ]
        )
        return res

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        # How the function reaches LocalStack: same host. LocalStack builds
        # AWS_ENDPOINT_URL=http://<this>:<gateway port> and LOCALSTACK_HOSTNAME from it.
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        # Only LocalStack's Go init uses this (LOCALSTACK_RUNTIME_ENDPOINT); kept informative.
        return f"http://127.0.0.1:{config.GATEWAY_LISTEN[0].port}/_localstack_lambda/{self.id}"

    def get_logs(self) -> str:
        with self.lock:
            return "\n".join(self.output)

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        if function_version.config.package_type != PackageType.Zip:
            raise LambdaRuntimeException("local executor: only Zip functions are supported")
        if function_version.config.code:
            # Unzips to a temp dir (chmod 0755, so bootstrap is executable); a no-op for
            # hot-reload code (S3Bucket "hot-reload", S3Key = a host directory).
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    # ---- process ------------------------------------------------------------------------

    def _code_dir(self) -> Path:
        return Path(self.function_version.config.code.get_unzipped_code_location())

    def _code_changed(self) -> bool:
        if not self.function_version.config.code.is_hot_reloading():
            return False  # an unzipped archive never changes
        try:
            return (self._code_dir() / "bootstrap").stat().st_mtime_ns != self.spawned_mtime
        except OSError:
            return True

    def _start_process(self) -> None:
        """Spawn the bootstrap; return once it asks for an event (the end of its init)."""
        self._spawn()
        limit = config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT
        try:
            self.ready.result(timeout=limit)  # raises on init/error or exit first
        except FutureTimeout:
            self._kill()
            msg = f"bootstrap did not ask for an event within {limit} s of starting"
            raise StatusErrorException(msg, payload=_error("Sandbox.Timedout", msg)) from None

    def _spawn(self) -> None:
        code = self._code_dir()
        bootstrap = code / "bootstrap"
        if not os.access(bootstrap, os.X_OK):
            # As Lambda reports it: a function error, not a service error (which SDKs retry).
            msg = f"Couldn't find valid bootstrap(s): [{bootstrap}]"
            raise StatusErrorException(msg, payload=_error("Runtime.InvalidEntrypoint", msg))
        self.spawned_mtime = bootstrap.stat().st_mtime_ns
        gen = object()
        server = _Server(("127.0.0.1", 0), _handler_for(self, gen))  # bound; served below
        ready: Future = Future()
        try:
            proc = subprocess.Popen(
                [str(bootstrap)],
                cwd=code,
                env=dict(self.env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}"),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: _kill() takes its children too
            )
        except OSError as e:  # e.g. "Exec format error": built for arm64, run on x86_64
            server.server_close()
            msg = f"cannot run {bootstrap}: {e}"
            raise StatusErrorException(msg, payload=_error("Runtime.InvalidEntrypoint", msg)) from e
        api = threading.Thread(
            target=server.serve_forever, daemon=True, name=f"lambda-api-{self.id}"
        )
        api.start()
        with self.lock:
            self.ready, self.proc, self.server, self.gen = ready, proc, server, gen
        threading.Thread(
            target=self._pump, args=(proc, ready), daemon=True, name=f"lambda-out-{self.id}"
        ).start()

    def _pump(self, proc: subprocess.Popen, ready: Future) -> None:
        """Collect the process output; when it exits, fail whatever waits on it."""
        name = self.function_version.id.function_name
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            LOG.info("[lambda %s] %s", name, line)
            with self.lock:
                self.output.append(line)
                self.inv_output.append(line)
        rc = proc.wait()
        how = f"signal {-rc}" if rc < 0 else f"exit status {rc}"
        msg = f"Runtime exited with error: {how}"
        with self.lock:
            if not ready.done():  # died before asking for an event: an init failure
                ready.set_exception(
                    StatusErrorException(msg, payload=_error("Runtime.ExitError", msg))
                )
            if proc is self.proc and self.current and not self.current[1].done():
                req_id = self.current[0]
                self.current[1].set_result(
                    InvocationResult(req_id, _error("Runtime.ExitError", msg), True, None)
                )

    def _kill(self) -> None:
        proc, server = self.proc, self.server
        if proc and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        with self.lock:
            self.gen = None  # the dead process's waiting GET /next (if any) gets nothing
            self.next_event = None  # nor does the next process get an event nobody took
            self.lock.notify_all()
        if server:
            # shutdown() waits for the serve loop's next poll (0.5 s): not on the invoke path
            threading.Thread(target=lambda: (server.shutdown(), server.server_close())).start()
            self.server = None

    # ---- Runtime API, called from the HTTP handler threads -------------------------------

    def _next(self, gen: object) -> dict | None:
        with self.lock:
            if gen is self.gen and self.ready and not self.ready.done():
                self.ready.set_result(True)  # the first GET /next ends the init phase
            while self.next_event is None and gen is self.gen and not self.stopped:
                self.lock.wait()
            if gen is not self.gen or self.stopped:
                return None
            event, self.next_event = self.next_event, None
            return event

    def _finish(self, req_id: str, body: bytes, is_error: bool) -> bool:
        with self.lock:
            if not self.current or self.current[0] != req_id or self.current[1].done():
                return False
            self.current[1].set_result(InvocationResult(req_id, body, is_error, None))
            return True

    def _init_error(self, gen: object, body: bytes) -> None:
        with self.lock:
            if gen is self.gen and self.ready and not self.ready.done():
                # Same exception as the docker path, so LocalStack answers the invoke with
                # the runtime's error payload instead of a generic failure.
                self.ready.set_exception(StatusErrorException("init error", payload=body))


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a killed process leaves a half-closed connection behind: not worth a traceback
        LOG.debug("runtime API connection error from %s", client_address, exc_info=True)


def _handler_for(executor: LocalProcessExecutor, gen: object):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # runtime clients keep one connection open

        def log_message(self, fmt, *args):
            LOG.debug("runtime API: " + fmt, *args)

        def do_GET(self):
            if self.path != f"{API}/invocation/next":
                return self._reply(404, _error("NotFound", self.path))
            event = executor._next(gen)
            if event is None:  # environment stopping
                return self._reply(500, _error("Runtime.Stopping", "environment stopped"))
            headers = {
                "Lambda-Runtime-Aws-Request-Id": event["invoke-id"],
                "Lambda-Runtime-Deadline-Ms": str(event["deadline_ms"]),
                "Lambda-Runtime-Invoked-Function-Arn": event["invoked-function-arn"],
                "Lambda-Runtime-Trace-Id": event.get("trace-id") or "",
            }
            self._reply(200, (event.get("payload") or "").encode(), headers)

        def do_POST(self):
            body = self._read_body()
            parts = self.path[len(API) + 1 :].split("/") if self.path.startswith(API) else []
            if parts == ["init", "error"]:
                executor._init_error(gen, body or self._header_error())
                return self._reply(202, b'{"status":"OK"}')
            if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                is_error = parts[2] == "error"
                if is_error and not body:
                    body = self._header_error()
                if executor._finish(parts[1], body, is_error):
                    return self._reply(202, b'{"status":"OK"}')
                return self._reply(400, _error("InvalidRequestID", parts[1]))
            self._reply(404, _error("NotFound", self.path))

        def _header_error(self) -> bytes:
            kind = self.headers.get("Lambda-Runtime-Function-Error-Type") or "Unhandled"
            return _error(kind, kind)

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                # streamed responses (Lambda-Runtime-Function-Response-Mode: streaming)
                out = bytearray()
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    out += self.rfile.read(size)
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(out)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _reply(self, status: int, body: bytes, headers: dict | None = None):
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
