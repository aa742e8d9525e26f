"""The API's cost: a request to ``python -m spaces`` vs the same pipeline called in this process; latency under load;
Ray Serve with 1 vs 2 replicas of the sentiment group.

    python -m benchmarks.service [--quick] [--no-ray]

1. Overhead, as ratios of medians (round-robin; goal <= 1.10x) of the wall time and of the CPU time (this process's
   plus the server's, so that other jobs on a shared machine count less): 64 reviews in one Inference API request
   (``POST /models/sentiment/<folder>``) vs ``clf(texts)`` on the same MiniLM-sized classifier (random weights,
   `benchmarks.sentiment`'s, loaded from an allowed folder); and a tiny SD image (64 px, 10 steps, seed 0) through
   ``POST /v1/images/generations`` (b64 PNG) vs ``t2i(...)``.
2. Latency: one review per request from 1, 8 and 32 clients at once (asyncio + httpx): p50 / p99 and requests/s.
   The server runs ``--api-concurrency sentiment=4 --api-queue 64`` (no 429 at 32).
3. Ray Serve: ``ray start --head`` (2 CPUs), ``python -m spaces --ray-config`` with the sentiment group at 1, then
   2 replicas (one thread each); 16 clients, 32 reviews per request: requests/s, p50 and p99.

The server is a subprocess on this machine: it shares the CPU with the client, as a local deployment does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import parser
from benchmarks.sentiment import GEOMETRIES, build_classifier, reviews

ROOT = Path(__file__).resolve().parents[1]
ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
       "PYTHONUNBUFFERED": "1", "RAY_USAGE_STATS_ENABLED": "0"}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server(args: list[str], timeout: float = 600, env: dict[str, str] | None = None,
           port: int | None = None) -> Iterator[str]:
    """``python -m spaces <args> --port P`` until ``/health`` answers; its URL (``server.pid``: the process id);
    SIGTERM at the end."""
    port = port or free_port()
    log = open(Path(tempfile.gettempdir()) / f"mmhub-bench-service-{port}.log", "w")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "-m", "spaces", *args, "--port", str(port)], cwd=ROOT,
                               env=os.environ | ENV | (env or {}), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited ({process.returncode}); see {log.name}")
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(url + "/health", timeout=5).status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start in {timeout} s; see {log.name}")
            time.sleep(0.5)
        server.pid = process.pid  # type: ignore[attr-defined]
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def _load(url: str, path: str, body: dict, clients: int, total: int) -> tuple[list[float], float]:
    import httpx

    seconds: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as http:
        await http.post(path, json=body)  # warm: the model loaded, the connection open
        queue = list(range(total))

        async def client() -> None:
            while queue:
                queue.pop()
                started = time.perf_counter()
                answer = await http.post(path, json=body)
                answer.raise_for_status()
                seconds.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return seconds, total / elapsed


def measure(fns: dict[str, Any], repeat: int, server_pid: int) -> dict[str, tuple[float, float]]:
    """{name: (median wall s, median CPU s)} of each function, round-robin after one warm-up call; CPU is this
    process's plus the server's (every thread), so an HTTP call counts both ends' work."""
    import psutil

    server = psutil.Process(server_pid)

    def cpu() -> float:
        times = server.cpu_times()
        return time.process_time() + times.user + times.system

    for fn in fns.values():
        fn()
    walls: dict[str, list[float]] = {name: [] for name in fns}
    cpus: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            wall, used = time.perf_counter(), cpu()
            fn()
            walls[name].append(time.perf_counter() - wall)
            cpus[name].append(cpu() - used)
    return {name: (statistics.median(walls[name]), statistics.median(cpus[name])) for name in fns}


def _print_overhead(title: str, results: dict[str, tuple[float, float]]) -> tuple[float, float]:
    (base_name, (base_wall, base_cpu)), (api_name, (api_wall, api_cpu)) = results.items()
    print(f"\n## {title}")
    for name, (wall, used) in results.items():
        print(f"  {name:<44} {wall * 1000:8.1f} ms wall {wall / base_wall:5.2f}x   {used * 1000:8.1f} ms CPU "
              f"{used / base_cpu:5.2f}x")
    return api_wall / base_wall, api_cpu / base_cpu


def overhead(url: str, folder: str, texts: list[str], repeat: int) -> None:
    import httpx

    from pipelines import load

    clf = load("sentiment", model=folder, device="cpu")
    http = httpx.Client(base_url=url, timeout=600)
    path = f"/models/sentiment/{folder}"  # the folder's absolute path: /models/sentiment//tmp/...
    assert len(http.post(path, json={"inputs": texts}).json()) == len(texts)
    text = _print_overhead(f"sentiment, MiniLM-sized (6x384), {len(texts)} reviews in one request", measure({
        "in process: clf(texts)": lambda: clf(texts),
        "API: POST /models/sentiment/<folder>": lambda: http.post(path, json={"inputs": texts})},
        repeat, server.pid))  # type: ignore[attr-defined]
    t2i = load("text-to-image", model="tiny", device="cpu")
    body = {"model": "tiny", "prompt": "a watercolor fox", "size": "64x64", "num_inference_steps": 10, "seed": 0,
            "guidance_scale": 7.5}
    http.post("/v1/images/generations", json=body).raise_for_status()
    image = _print_overhead("text-to-image, tiny SD, 64x64, 10 steps", measure({
        "in process: t2i(...)": lambda: t2i("a watercolor fox", height=64, width=64, num_inference_steps=10, seed=0,
                                            guidance_scale=7.5),
        "API: POST /v1/images/generations (b64 PNG)": lambda: http.post("/v1/images/generations", json=body)},
        repeat, server.pid))  # type: ignore[attr-defined]
    print(f"  API overhead (wall / CPU, goal <= 1.10x): sentiment x64 {text[0]:.3f}x / {text[1]:.3f}x, "
          f"text-to-image {image[0]:.3f}x / {image[1]:.3f}x")


def latency(url: str, folder: str, totals: dict[int, int]) -> None:
    print("\n## latency, one review per request (MiniLM-sized), server --api-concurrency sentiment=4")
    for clients, total in totals.items():
        seconds, rate = asyncio.run(_load(url, f"/models/sentiment/{folder}", {"inputs": "Great product!"},
                                          clients, total))
        print(f"  {clients:>2} clients, {total:>4} requests: p50 {percentile(seconds, 0.5) * 1000:7.1f} ms  "
              f"p99 {percentile(seconds, 0.99) * 1000:7.1f} ms  {rate:6.1f} requests/s")


RAY_CONFIG = """
proxy_location: HeadOnly
applications:
  - name: mmhub
    route_prefix: /
    import_path: spaces.api.ray_serve:app_builder
    args:
      options: ["--allow-local-models", "{folder}", "--api-concurrency", "sentiment=4", "--api-queue", "64"]
      ui: false
      groups:
        text: [sentiment]
    deployments:
      - name: ingress
        ray_actor_options: {{num_cpus: 0.1}}
      - name: text
        num_replicas: {replicas}
        max_ongoing_requests: 8
        ray_actor_options: {{num_cpus: 0.1}}
"""


def ray_replicas(folder: str, texts: list[str], total: int) -> None:
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    port = free_port()
    ray_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32), "PYTHONPATH": str(ROOT),
               "OMP_NUM_THREADS": "1"}
    head = subprocess.Popen([str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", "--port",
                             str(port), "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats",
                             "--temp-dir", temp, "--ray-client-server-port", str(free_port()),
                             "--dashboard-agent-listen-port", str(free_port()), "--metrics-export-port",
                             str(free_port()), "--runtime-env-agent-port", str(free_port())],
                            cwd=ROOT, env=os.environ | ENV | ray_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    print(f"\n## Ray Serve, sentiment group (MiniLM-sized, 1 thread per replica), 16 clients x {len(texts)} reviews")
    try:
        time.sleep(15)
        rates = {}
        http_port = free_port()  # one for both runs: Serve keeps the HTTP options it was first started with
        for replicas in (1, 2):
            config = Path(temp) / f"serve-{replicas}.yaml"
            config.write_text(RAY_CONFIG.format(folder=str(Path(folder).parent), replicas=replicas))
            args = ["--ray-config", str(config), "--ray-address", f"127.0.0.1:{port}"]
            with server(args, env=ray_env, port=http_port) as url:
                import httpx

                for _ in range(2 * replicas):  # every replica loaded
                    httpx.post(f"{url}/models/sentiment/{folder}", json={"inputs": texts}, timeout=600)
                seconds, rate = asyncio.run(_load(url, f"/models/sentiment/{folder}", {"inputs": texts}, 16, total))
            rates[replicas] = rate
            print(f"  {replicas} replica{'s' if replicas > 1 else ' '}: {rate:6.1f} requests/s "
                  f"({rate * len(texts):6.0f} reviews/s), p50 {percentile(seconds, 0.5) * 1000:6.0f} ms, "
                  f"p99 {percentile(seconds, 0.99) * 1000:6.0f} ms")
        print(f"  2 replicas vs 1: {rates[2] / rates[1]:.2f}x the throughput")
    finally:
        import psutil

        with contextlib.suppress(psutil.NoSuchProcess):
            family = [psutil.Process(head.pid), *psutil.Process(head.pid).children(recursive=True)]
            for member in family:
                with contextlib.suppress(psutil.NoSuchProcess):
                    member.kill()
            psutil.wait_procs(family, timeout=30)
        shutil.rmtree(temp, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__)
    p.add_argument("--no-ray", action="store_true", help="leave out the Ray Serve comparison")
    args = p.parse_args(argv)
    repeat, totals, ray_total = (3, {1: 16, 8: 64, 32: 128}, 32) if args.quick else (
        11, {1: 64, 8: 256, 32: 512}, 128)
    with tempfile.TemporaryDirectory(prefix="mmhub-bench-") as root:
        folder = str(Path(root) / "minilm")
        build_classifier(folder, *GEOMETRIES["MiniLM-sized (6x384)"])
        options = ["--models", "tiny", "--allow-local-models", root, "--api-concurrency", "sentiment=4",
                   "--api-queue", "64"]
        with server(options) as url:
            overhead(url, folder, reviews(64), repeat)
            latency(url, folder, totals)
        if not args.no_ray:
            ray_replicas(folder, reviews(32, seed=3), ray_total)


if __name__ == "__main__":
    main()
