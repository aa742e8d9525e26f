"""The app on Ray Serve, on this machine, started as the README says for a cluster: ``ray start --head`` (2 CPUs),
then ``python -m spaces --ray-config FILE --ray-address HEAD`` with a config of two sentiment replicas (the ``text``
group, which also runs DeepDream here) and the API alone (``ui: false``).

- 200 requests: every one answered, by both replicas (``X-Mmhub-Replica``);
- one replica killed mid-run (``ray.kill`` of its actor, from another driver): no request lost (the ingress sends the
  ones in flight on it again), and Serve starts a new replica;
- a long job runs on its group's replica and reports there;
- the shipped config files are valid Serve configs of this app.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import ROOT, free_port, kill_family, running

from .conftest import KEY, png_bytes

CONFIG = """
proxy_location: HeadOnly
applications:
  - name: mmhub
    route_prefix: /
    import_path: spaces.api.ray_serve:app_builder
    args:
      options: ["--models", "tiny", "--api-key", "{key}", "--job-ttl", "600"]
      ui: false
      groups:
        text: [sentiment, deep-dream]
    deployments:
      - name: ingress
        ray_actor_options: {{num_cpus: 0.1}}
      - name: text
        num_replicas: 2
        max_ongoing_requests: 4
        ray_actor_options: {{num_cpus: 0.1}}
"""
START_TIMEOUT = 300  # a Ray head, then three replica processes importing torch on a busy 2-core machine
#: Ray 2.60's token authentication, with a token of this module's own: the head, the app's driver and the driver that
#: kills a replica all present it (RAY_AUTH_MODE=token; ~/.ray/auth_token, if any, is not used or touched)
RAY_ENV = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32), "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """``ray start --head --block`` on free ports, its files in a short temporary folder; the head's address."""
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    port = free_port()
    ports = {name: str(free_port()) for name in ("--ray-client-server-port", "--dashboard-agent-listen-port",
                                                 "--dashboard-agent-grpc-port", "--metrics-export-port",
                                                 "--runtime-env-agent-port", "--node-manager-port",
                                                 "--object-manager-port")}
    env = os.environ | RAY_ENV | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", "--port", str(port),
               "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", temp,
               *[item for pair in ports.items() for item in pair]]
    log = open(Path(temp) / "head.log", "w")  # noqa: SIM115 - closed below
    head = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in (Path(temp) / "head.log").read_text(errors="replace"):
            assert head.poll() is None and time.monotonic() < deadline, (Path(temp) / "head.log").read_text()
            time.sleep(0.5)
        yield address
    finally:  # the app has shut down through Serve by now (serve_app): the idle cluster's processes are killed
        kill_family(head.pid)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def serve_app(cluster, tmp_path_factory):
    config = tmp_path_factory.mktemp("ray") / "serve.yaml"
    config.write_text(CONFIG.format(key=KEY))
    args = ["-m", "spaces", "--ray-config", str(config), "--ray-address", cluster, "--host", "127.0.0.1"]
    env = RAY_ENV | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MMHUB_API_KEY": None}
    with running(args, "/health", "mmhub-ray", START_TIMEOUT, env=env) as server:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as http:
            deadline = time.monotonic() + START_TIMEOUT  # the groups may still be starting when the ingress answers
            seen: set[str] = set()
            while len(seen) < 2:
                answer = http.post("/models/text-classification", json={"inputs": "warm up"})
                assert answer.status_code == 200, answer.text
                seen.add(answer.headers["x-mmhub-replica"])
                assert time.monotonic() < deadline, f"only {seen} answered"
            yield server, http
        server.process.send_signal(signal.SIGTERM)  # its replicas shut down through Serve (the lifespan's hooks)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(90)


def _classify(http: httpx.Client, texts: list[str], on_answer=None) -> list[tuple[int, str, list]]:
    def one(text: str) -> tuple[int, str, list]:
        answer = http.post("/models/text-classification", json={"inputs": text})
        if on_answer is not None:
            on_answer()
        body = answer.json() if answer.status_code == 200 else answer.text
        return answer.status_code, answer.headers.get("x-mmhub-replica", ""), body

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, texts))


def test_two_replicas_answer_200_requests_and_none_is_lost(serve_app):
    server, http = serve_app
    texts = [f"Review number {i}: {'great' if i % 2 else 'awful'} product." for i in range(200)]
    answers = _classify(http, texts)
    assert [status for status, _, _ in answers] == [200] * 200, [a for a in answers if a[0] != 200][:3]
    assert all({e["label"] for e in body[0]} == {"negative", "neutral", "positive"} for _, _, body in answers)
    by_replica = collections.Counter(replica for _, replica, _ in answers)
    assert len(by_replica) == 2 and all(r.startswith("text#") for r in by_replica), by_replica
    assert httpx.post(f"{server.url}/models/text-classification", json={"inputs": "x"}).status_code == 401
    ingress = httpx.get(f"{server.url}/v1/models", headers=http.headers)
    assert ingress.status_code == 200 and ingress.headers["x-mmhub-replica"].startswith("ingress#")


KILLER = """
import sys, ray
ray.init(address=sys.argv[1], namespace="serve", log_to_driver=False)
print("ready", flush=True)
for line in sys.stdin:
    ray.kill(ray.get_actor("SERVE_REPLICA::mmhub#" + line.strip(), namespace="serve"), no_restart=True)
    print("killed", line.strip(), flush=True)
"""


@pytest.fixture(scope="module")
def killer(cluster) -> Iterator[Any]:
    """A second Ray driver, connected ahead, that ``ray.kill``s the replica named on each line of its stdin."""
    process = subprocess.Popen([sys.executable, "-c", KILLER, cluster], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=os.environ | RAY_ENV)
    assert process.stdout.readline().strip() == "ready"

    def kill(replica: str) -> None:
        process.stdin.write(replica + "\n")
        process.stdin.flush()

    kill.confirm = lambda: process.stdout.readline().strip()  # type: ignore[attr-defined]
    yield kill
    process.kill()
    process.wait(30)


def _metric(http: httpx.Client, line: str) -> float:
    for row in http.get("/metrics").text.splitlines():
        if row.startswith(line + " "):
            return float(row.rsplit(" ", 1)[1])
    return 0.0


def test_a_killed_replica_is_replaced_and_no_request_is_lost(serve_app, killer):
    """200 requests and 8 long ones (2000 texts each: seconds of work); one replica killed while each replica holds
    4 long ones (``max_ongoing_requests: 4``): every request is answered; the ones in flight on it were sent again."""
    server, http = serve_app
    victim = http.post("/models/text-classification", json={"inputs": "who?"}).headers["x-mmhub-replica"]
    long_texts = [f"Review {i}: it arrived on time and works as described." for i in range(2000)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        long_ones = [pool.submit(_post, http, long_texts) for _ in range(8)]
        deadline = time.monotonic() + 120
        while _metric(http, 'mmhub_ray_forwarded_in_flight{group="text"}') < 8:
            assert time.monotonic() < deadline and not any(f.done() for f in long_ones)
            time.sleep(0.05)
        killer(victim)
        short_ones = [pool.submit(_post, http, f"Text {i}") for i in range(200)]
        assert killer.confirm() == f"killed {victim}"
        answers = [f.result() for f in long_ones + short_ones]
    assert [status for status, _, _ in answers] == [200] * 208, [a for a in answers if a[0] != 200][:3]
    assert all(len(body) == 2000 for _, _, body in answers[:8])
    retries = _metric(http, 'mmhub_ray_retries_total{group="text",kind="request"}')
    assert retries >= 1
    deadline = time.monotonic() + 180  # Serve notices the dead replica and starts another
    replicas: set[str] = set()
    while len(replicas - {victim}) < 2:
        assert time.monotonic() < deadline, f"no replacement for {victim}: {replicas}"
        replicas |= {replica for _, replica, _ in _classify(http, ["again"] * 8)}
    assert victim not in {replica for _, replica, _ in _classify(http, ["after"] * 16)}
    print(f"killed {victim} holding 4 long requests: {retries:.0f} requests sent again, none lost")


def _post(http: httpx.Client, inputs: Any) -> tuple[int, str, Any]:
    answer = http.post("/models/text-classification", json={"inputs": inputs}, timeout=300)
    return answer.status_code, answer.headers.get("x-mmhub-replica", ""), answer.json()


def test_a_job_on_a_killed_replica_runs_again_on_another(serve_app, killer):
    server, http = serve_app
    job = http.post("/v1/deep-dreams", data={"model": "tiny", "steps": "100", "octaves": "3", "max_size": "256",
                                             "seed": "5"}, files={"image": ("photo.png", png_bytes((256, 192)))})
    assert job.status_code == 200, job.text
    path = f"/v1/deep-dreams/{job.json()['id']}"
    deadline = time.monotonic() + 120
    while not ((state := http.get(path).json())["status"] == "in_progress" and state["progress"] > 0):
        assert state["status"] in ("queued", "in_progress") and time.monotonic() < deadline, state
        time.sleep(0.05)
    victim = state["result"]["replica"]
    killer(victim)
    assert killer.confirm() == f"killed {victim}"
    while (state := http.get(path).json())["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline + 120, state
        time.sleep(0.2)
    assert state["status"] == "completed", state["error"]
    assert state["result"]["replica"] != victim and state["result"]["seed"] == 5
    assert _metric(http, 'mmhub_ray_retries_total{group="text",kind="job"}') == 1.0
    http.delete(path)


def test_a_job_runs_on_its_group(serve_app):
    server, http = serve_app
    job = http.post("/v1/deep-dreams", data={"model": "tiny", "steps": "2", "octaves": "2", "seed": "0"},
                    files={"image": ("photo.png", png_bytes((48, 48)))})
    assert job.status_code == 200, job.text
    deadline = time.monotonic() + 120
    while (state := http.get(f"/v1/deep-dreams/{job.json()['id']}").json())["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert state["status"] == "completed" and state["result"]["seed"] == 0, state
    assert http.get(f"/v1/deep-dreams/{state['id']}/content").content[:8] == b"\x89PNG\r\n\x1a\n"
    deadline = time.monotonic() + 60  # the replica's log reaches the driver's log through Ray's log monitor, later
    while f"job {state['id']} made by text#" not in server.log_tail(2_000_000):
        assert time.monotonic() < deadline, server.log_tail(4000)
        time.sleep(0.5)
    assert 'mmhub_jobs{kind="deep-dreams",status="completed"} 1.0' in http.get("/metrics").text


def test_the_shipped_configs_are_serve_configs_of_this_app():
    from spaces.api.ray_serve import app_builder, build_application, deployment_overrides, read_config

    for name in ("ray_serve.yaml", "ray_serve_gpu.yaml"):
        config = read_config(ROOT / "spaces" / name)
        app = config.applications[0]
        assert app.import_path == "spaces.api.ray_serve:app_builder"
        overrides = deployment_overrides(app)
        assert set(overrides) == {"ingress", *app.args["groups"]}
        built = build_application(dict(app.args) | {"options": ["--models", "tiny"]}, overrides)
        assert type(built).__name__ == "Application"
    gpu = deployment_overrides(read_config(ROOT / "spaces" / "ray_serve_gpu.yaml").applications[0])
    assert gpu["image"]["ray_actor_options"]["num_gpus"] == 0.5
    assert gpu["text"]["autoscaling_config"] == {"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 4}
    with pytest.raises(ValueError, match="two groups"):
        app_builder({"groups": {"a": ["sentiment"], "b": ["sentiment"]}})
    with pytest.raises(ValueError, match="no-such-task|known"):
        app_builder({"groups": {"a": ["no-such-task"]}})
    with pytest.raises(ValueError, match="--job-ttl"):
        app_builder({"options": ["--job-ttl", "nan"]})
