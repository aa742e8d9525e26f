"""Real HTTP servers for the tests: `transformers serve` on the tiny text-generation models, and a plain web server.

No mock of a client or a server: `transformers serve` (transformers' own OpenAI-compatible server, ``pip install
"transformers[serving]"``) runs in a subprocess, once per session, serving both tiny models from `pipelines.tiny`;
`html_server` is Python's ``http.server`` answering every request with an HTML page, as a web server on the
wrong port would.

    python -m tests.servers html PORT      # the HTML server alone
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 180  # seconds: importing torch + transformers on a busy 2-core machine is slow (~5 s when idle)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A server process: its base URL (``http://127.0.0.1:P``), the API's base (``.../v1``) and its log."""

    url: str
    process: subprocess.Popen
    log: Path
    models: dict[str, str] = field(default_factory=dict)  # tiny variant -> the served name (its folder)

    @property
    def api(self) -> str:
        return self.url + "/v1"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _env(overrides: dict[str, str | None]) -> dict[str, str]:
    """This process's environment, offline and unbuffered, with `overrides` (None: remove that variable)."""
    env = os.environ | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


@contextlib.contextmanager
def running(args: list[str], ready_path: str, name: str, timeout: float, *, cwd: Path = ROOT,
            env: dict[str, str | None] | None = None) -> Iterator[Server]:
    """Start ``python <args> --port P`` in `cwd` (environment: `_env(env)`), poll ``ready_path`` until it answers
    200, yield, then stop the process. A process that exits or does not answer in `timeout` s fails the test."""
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"mmhub-{name}-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, *args, "--port", str(port)], cwd=cwd, env=_env(env or {}),
                                   stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{server.log_tail()}")
            with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
                if _get(server.url + ready_path)[0] == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"{name} did not answer within {timeout} s:\n{server.log_tail()}")
            time.sleep(0.25)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def kill_family(pid: int) -> None:
    """SIGKILL a process a test started and every process below it (a launcher's workers), then reap them."""
    import psutil

    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(family, timeout=30)


def run_launcher(argv: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess:
    """`subprocess.run` for a launcher (accelerate, torchrun) that kills its workers too when it times out."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_family(process.pid)
        out, err = process.communicate()
        err += f"\n(killed after {timeout} s)"
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


def serve_available() -> str | None:
    """None when `transformers serve` can run here, else what to install."""
    from transformers.utils.import_utils import is_serve_available

    return None if is_serve_available() else 'pip install "transformers[serving]" openai'


@contextlib.contextmanager
def transformers_serve(variants: tuple[str, ...] = ("tiny", "tiny-chat"),
                       timeout: float = START_TIMEOUT) -> Iterator[Server]:
    """`transformers serve` on CPU serving the tiny models `variants` (by their folder, the name it reports).

    Facts relied on (transformers 5.24, ``transformers/cli/serve.py`` and ``cli/serving/``): without a model argument
    it loads any model a request names, a local folder included, and ``--model-timeout -1`` keeps it loaded
    (``model_manager.py``: ``TimedModel``); ``POST /load_model`` loads one ahead (``server.py``) and ``/v1/models``
    then lists it (``ModelManager.list_models``); ``GET /health`` answers 200 once uvicorn serves.
    """
    from pipelines import tiny

    models = {v: str(tiny.build("text-generation", v)) for v in variants}
    args = ["-m", "transformers.cli.transformers", "serve", "--host", "127.0.0.1", "--device", "cpu",
            "--model-timeout", "-1", "--log-level", "error"]
    quiet = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "TRANSFORMERS_VERBOSITY": "error"}
    with running(args, "/health", "transformers-serve", timeout, env=quiet) as server:
        for path in models.values():
            request = urllib.request.Request(server.url + "/load_model", data=json.dumps({"model": path}).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                events = response.read().decode()
            if '"ready"' not in events:
                raise RuntimeError(f"transformers serve could not load {path}: {events[-2000:]}\n{server.log_tail()}")
        server.models = models
        yield server


class _HTMLHandler(http.server.BaseHTTPRequestHandler):
    PAGE = b"<!doctype html><html><body><h1>It works!</h1></body></html>"

    def _answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.PAGE)))
        self.end_headers()
        self.wfile.write(self.PAGE)

    do_GET = _answer

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def html_server(timeout: float = 60) -> Iterator[Server]:
    """A plain web server (Python's http.server) that answers every GET and POST with an HTML page."""
    with running(["-m", "tests.servers", "html"], "/", "html-server", timeout) as server:
        yield server


@pytest.fixture(scope="session")
def llm_server() -> Iterator[Server]:
    """`transformers serve` on the tiny models, once per session (skipped when its extras are not installed)."""
    missing = serve_available()
    if missing:
        pytest.skip(f"transformers serve is not available: {missing}")
    try:
        with transformers_serve() as server:
            yield server
    except RuntimeError as err:
        pytest.fail(f"transformers serve could not start: {err}")


@pytest.fixture(scope="session")
def web_server() -> Iterator[Server]:
    """A real web server that answers HTML, not JSON, to everything."""
    with html_server() as server:
        yield server


if __name__ == "__main__":
    if sys.argv[1:2] == ["html"]:
        port = int(sys.argv[sys.argv.index("--port") + 1])
        http.server.ThreadingHTTPServer(("127.0.0.1", port), _HTMLHandler).serve_forever()
