"""Long jobs (``/v1/videos`` and its siblings) from the outside: the official ``openai`` SDK creates a tiny Wan video
job, polls it with its own helper and downloads the MP4; songs and music through plain HTTP; cancel; the per-key bound
(429); a job that outlives the connection that made it; hostile inputs refused naming the field; job counts in
``/metrics``. Then, on servers of their own (in this process, started from the real option parser): expiry with
``--job-ttl``, shutdown with and without ``--jobs-dir`` (kept and run again, or failed; never a half-written file),
and one server per jobs folder."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import struct
import threading
import time
import zipfile
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from tests.servers import free_port

from .conftest import KEY, png_bytes, wav_bytes

VIDEO = {"model": "tiny", "num_inference_steps": 2, "seed": 0}


def wait_for(client: httpx.Client, path: str, statuses: tuple[str, ...] = ("completed", "failed"),
              timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(path)
        assert answer.status_code == 200, answer.text
        job = answer.json()
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, f"{path} still {job['status']} after {timeout} s"
        time.sleep(0.2)


@pytest.fixture
def client(api) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, headers=api.headers, timeout=120) as http:
        yield http


# -- on the shared server (python -m spaces --models tiny) ---------------------------------------------------------


def test_a_video_job_through_the_openai_sdk(api):
    import openai

    sdk = api.openai()
    video = sdk.videos.create(prompt="a red fox in the snow", model="tiny", seconds="1",
                              extra_body={"num_inference_steps": 2, "seed": 0})
    assert video.object == "video" and video.status == "queued" and video.progress == 0
    assert video.id.startswith("video_") and video.prompt == "a red fox in the snow" and video.seconds == "1"
    done = sdk.videos.poll(video.id, poll_interval_ms=200)
    assert done.status == "completed" and done.progress == 100, done.error
    # 1 s at tiny Wan's 16 fps: 4k + 1 frames nearest 16 -> 17 frames; its 16x16 default size
    assert done.seconds == "1.0625" and done.size == "16x16" and done.completed_at >= done.created_at
    assert done.expires_at - done.completed_at in (3600, 3601)  # --job-ttl's default, in whole seconds
    mp4 = sdk.videos.download_content(video.id).content
    assert mp4[4:8] == b"ftyp"
    frames = _decode_mp4(mp4)
    assert frames.shape == (17, 16, 16, 3)
    thumbnail = sdk.videos.download_content(video.id, variant="thumbnail").content
    assert thumbnail[:4] == b"RIFF" and thumbnail[8:12] == b"WEBP"
    assert sdk.videos.download_content(video.id, variant="spritesheet").content[:3] == b"\xff\xd8\xff"
    # the same seed through the pipeline in this process: the same first frame (up to the MP4's lossy coding)
    from pipelines import load

    direct = load("text-to-video", model="tiny")("a red fox in the snow", num_frames=17, num_inference_steps=2, seed=0)
    assert np.abs(frames.astype(int) - direct.frames.astype(int)).mean() < 12
    assert video.id in [v.id for v in sdk.videos.list()]
    assert sdk.videos.delete(video.id).deleted
    with pytest.raises(openai.NotFoundError, match="No video job"):
        sdk.videos.retrieve(video.id)


def _decode_mp4(data: bytes) -> np.ndarray:
    import imageio.v3 as iio

    return np.stack(list(iio.imiter(data, extension=".mp4")))


def test_song_and_music_jobs(client):
    song = client.post("/v1/songs", json={"model": "tiny", "prompt": "indie pop", "lyrics": "[verse]\nla la la",
                                          "duration": 10, "seed": 1, "num_inference_steps": 2,
                                          "response_format": "flac"}).json()
    music = client.post("/v1/music", data={"model": "tiny", "prompt": "calm piano", "duration": "1", "seed": "3"})
    assert music.status_code == 200, music.text
    music = music.json()
    assert (song["object"], song["status"], music["object"]) == ("song", "queued", "music")
    song = wait_for(client, f"/v1/songs/{song['id']}")
    music = wait_for(client, f"/v1/music/{music['id']}")
    assert song["status"] == music["status"] == "completed", (song["error"], music["error"])
    assert song["result"]["seed"] == 1 and song["result"]["seconds"] == 10.0 and music["result"]["seed"] == 3
    import soundfile as sf

    audio, rate = sf.read(io.BytesIO(client.get(f"/v1/songs/{song['id']}/content").content))
    assert rate == song["result"]["sample_rate"] and abs(len(audio) / rate - 10) < 0.01
    answer = client.get(f"/v1/music/{music['id']}/content")
    assert answer.headers["content-type"] == "audio/wav"
    clip, rate = sf.read(io.BytesIO(answer.content))
    assert abs(len(clip) / rate - 1.0) < 0.05 and np.isfinite(clip).all()
    bad = client.get(f"/v1/music/{music['id']}/content", params={"variant": "video"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "variant"
    for kind, job in (("songs", song), ("music", music)):
        assert client.delete(f"/v1/{kind}/{job['id']}").json()["deleted"] is True


def test_cancel_and_the_per_key_bound(api, client):
    slow = {"model": "tiny", "prompt": "a long one", "num_inference_steps": 400, "num_frames": 9}
    made = []
    try:
        for _ in range(4):  # --job-limit's default: 4 queued or running per key
            answer = client.post("/v1/videos", json=slow)
            assert answer.status_code == 200, answer.text
            made.append(answer.json()["id"])
        refused = client.post("/v1/videos", json=slow)
        assert refused.status_code == 429 and refused.headers["retry-after"].isdigit()
        assert refused.json()["error"]["code"] == "too_many_jobs" and "--job-limit 4" in refused.text
        running = wait_for(client, f"/v1/videos/{made[0]}", ("in_progress", "completed", "failed"), timeout=120)
        assert running["status"] == "in_progress"
        deadline = time.monotonic() + 60
        while client.get(f"/v1/videos/{made[0]}").json()["progress"] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert 0 < client.get(f"/v1/videos/{made[0]}").json()["progress"] < 100
        before = _metric(client, 'mmhub_jobs_finished_total{kind="videos",status="cancelled"}')
        for job_id in made:  # the running one stops at its next step, the queued ones never start
            assert client.delete(f"/v1/videos/{job_id}").json() == {"id": job_id, "object": "video.deleted",
                                                                  "deleted": True}
            assert client.get(f"/v1/videos/{job_id}").status_code == 404
        made.clear()
        deadline = time.monotonic() + 60
        while _metric(client, 'mmhub_jobs_finished_total{kind="videos",status="cancelled"}') <= before:
            assert time.monotonic() < deadline, "the running job did not stop"
            time.sleep(0.2)
        other = httpx.post(f"{api.url}/v1/videos", json=VIDEO | {"prompt": "x"}, timeout=60)  # no key: refused
        assert other.status_code == 401
        again = client.post("/v1/videos", json=VIDEO | {"prompt": "after the cancel"})
        assert again.status_code == 200
        assert wait_for(client, f"/v1/videos/{again.json()['id']}")["status"] == "completed"
        client.delete(f"/v1/videos/{again.json()['id']}")
    finally:
        for job_id in made:
            client.delete(f"/v1/videos/{job_id}")


def _metric(client: httpx.Client, line: str) -> float:
    for row in client.get("/metrics").text.splitlines():
        if row.startswith(line + " "):
            return float(row.rsplit(" ", 1)[1])
    return 0.0


def _drop(sock: socket.socket) -> None:
    """Hang up abruptly (a reset, as a killed client's kernel sends)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_a_job_outlives_the_connection_that_made_it(api, client):
    prompt = f"made over a dropped connection {time.time()}"
    body = json.dumps(VIDEO | {"prompt": prompt, "num_inference_steps": 20}).encode()
    host, port = api.url.removeprefix("http://").split(":")
    raw = socket.create_connection((host, int(port)), timeout=60)
    raw.sendall(b"POST /v1/videos HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {KEY}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    assert raw.recv(12) == b"HTTP/1.1 200"  # the job exists: the client goes away without reading its id
    _drop(raw)
    found = [v for v in client.get("/v1/videos", params={"limit": 100}).json()["data"] if v["prompt"] == prompt]
    assert len(found) == 1 and found[0]["status"] in ("queued", "in_progress")
    job = wait_for(client, f"/v1/videos/{found[0]['id']}")
    assert job["status"] == "completed"
    raw = socket.create_connection((host, int(port)), timeout=60)  # a download cut short: nothing else changes
    raw.sendall(f"GET /v1/videos/{job['id']}/content HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}"
                f"\r\n\r\n".encode())
    assert raw.recv(12) == b"HTTP/1.1 200"
    _drop(raw)
    assert client.get(f"/v1/videos/{job['id']}/content").content[4:8] == b"ftyp"
    client.delete(f"/v1/videos/{job['id']}")


HOSTILE = [  # (route, JSON body or form (dict with files), the field the 400 must name)
    ("videos", {"model": "tiny"}, "prompt"),
    ("videos", {"model": "tiny", "prompt": ""}, "prompt"),
    ("videos", {"model": "tiny", "prompt": 7}, "prompt"),
    ("videos", {"model": "tiny", "prompt": "x", "seconds": "abc"}, "seconds"),
    ("videos", {"model": "tiny", "prompt": "x", "seconds": "nan"}, "seconds"),
    ("videos", {"model": "tiny", "prompt": "x", "seconds": "-4"}, "seconds"),
    ("videos", {"model": "tiny", "prompt": "x", "seconds": "1e309"}, "seconds"),
    ("videos", {"model": "tiny", "prompt": "x", "size": "0x0"}, "size"),
    ("videos", {"model": "tiny", "prompt": "x", "size": "17x16"}, "size"),
    ("videos", {"model": "tiny", "prompt": "x", "size": "99999999x16"}, "size"),
    ("videos", {"model": "tiny", "prompt": "x", "size": "1６x16"}, "size"),
    ("videos", {"model": "tiny", "prompt": "x", "num_frames": 10}, "num_frames"),
    ("videos", {"model": "tiny", "prompt": "x", "num_frames": 2**70}, "num_frames"),
    ("videos", {"model": "tiny", "prompt": "x", "seed": -1}, "seed"),
    ("videos", {"model": "tiny", "prompt": "x", "guidance_scale": float("inf")}, "guidance_scale"),
    ("videos", {"model": "tiny", "prompt": "x", "num_inference_steps": True}, "num_inference_steps"),
    ("videos", {"model": "tiny", "prompt": "x", "sora_magic": 1}, "sora_magic"),
    ("videos", {"model": "../../../etc", "prompt": "x"}, "model"),
    ("videos", {"model": "tiny-chat", "prompt": "x"}, "model"),
    ("videos", {"model": "tiny", "prompt": "x", "input_reference": "https://example.com/a.png"}, "input_reference"),
    ("videos", {"files": {"input_reference": b"not a picture"}, "prompt": "x", "model": "tiny"}, "input_reference"),
    ("videos", {"files": {"input_reference": png_bytes((1, 1))}, "prompt": "x", "model": "tiny"}, "input_reference"),
    ("videos", {"files": {"input_reference": b""}, "prompt": "x", "model": "tiny"}, "input_reference"),
    ("videos", {"files": {"prompt": b"a file"}, "model": "tiny"}, "prompt"),
    ("videos", {"prompt": "x", "model": "tiny", "num_frames": "nine"}, "num_frames"),
    ("music", {"model": "tiny", "prompt": "x", "duration": 0}, "duration"),
    ("music", {"model": "tiny", "prompt": "x", "duration": 1e9}, "duration"),
    ("music", {"model": "tiny", "prompt": "x", "response_format": "aac"}, "response_format"),
    ("music", {"model": "tiny", "prompt": "\ud800"}, "prompt"),
    ("songs", {"model": "tiny", "prompt": "x", "lyrics": ["\udcff"]}, "lyrics"),
    ("songs", {"model": "tiny", "prompt": "x", "duration": 5}, "duration"),
    ("songs", {"model": "tiny", "prompt": "x", "time_signature": 5}, "time_signature"),
    ("separations", {"model": "tiny"}, "file"),
    ("separations", {"files": {"file": b""}, "model": "tiny"}, "file"),
    ("separations", {"files": {"file": b"RIFF\x00\x00garbage"}, "model": "tiny"}, "file"),
    ("separations", {"files": {"file": wav_bytes(np.zeros(800, np.float32), 8000)}, "shifts": "-1"}, "shifts"),
    ("style-transfers", {"files": {"content": png_bytes((32, 32))}, "model": "tiny"}, "style"),
    ("deep-dreams", {"files": {"image": png_bytes((32, 32))}, "octaves": "99"}, "octaves"),
    ("deep-dreams", {"files": {"image": png_bytes((32, 32)), "extra": b"x"}}, "extra"),
]


@pytest.mark.parametrize("route, body, field", HOSTILE, ids=[f"{r}-{f}-{i}" for i, (r, _, f) in enumerate(HOSTILE)])
def test_hostile_inputs_name_the_field(client, route, body, field):
    if "files" in body:
        form = {k: str(v) for k, v in body.items() if k != "files"}
        answer = client.post(f"/v1/{route}", data=form, files={k: ("f.bin", v) for k, v in body["files"].items()})
    else:  # json.dumps: lone surrogates as escapes, inf as Infinity (Python's JSON reads both)
        answer = client.post(f"/v1/{route}", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == field and field in error["message"], error  # the app's model refusal says "model"


def test_the_server_still_serves_after_hostile_inputs(client):
    for path, kwargs, status in (("/v1/videos", {"content": b"{not json", "headers": {
            "Content-Type": "application/json"}}, 400),
            ("/v1/videos", {"content": b"prompt=x", "headers": {"Content-Type": "text/plain"}}, 415),
            ("/v1/videos", {"json": ["a list"]}, 400),
            ("/v1/videos/video_0000/content", {}, 404), ("/v1/deep-dreams/../../etc/passwd", {}, 404)):
        method = "GET" if "content" in path or ".." in path else "POST"
        answer = client.request(method, path, **kwargs)
        assert answer.status_code == status, (path, answer.text)
        assert "root:" not in answer.text
    assert client.get("/v1/videos", params={"limit": 0}).status_code == 400
    assert client.get("/v1/videos", params={"after": "video_nope"}).json()["error"]["param"] == "after"
    job = client.post("/v1/deep-dreams", data={"model": "tiny", "steps": "2", "octaves": "2", "seed": "0"},
                      files={"image": ("photo.png", png_bytes((32, 32)))})
    assert job.status_code == 200, job.text
    done = wait_for(client, f"/v1/deep-dreams/{job.json()['id']}")
    assert done["status"] == "completed" and done["result"]["seed"] == 0
    assert client.get(f"/v1/deep-dreams/{done['id']}/content", params={"variant": "animation"}).content[:3] == b"GIF"
    early = client.post("/v1/deep-dreams", data={"model": "tiny", "steps": "200", "octaves": "12"},
                        files={"image": ("photo.png", png_bytes((32, 32)))})
    conflict = client.get(f"/v1/deep-dreams/{early.json()['id']}/content")
    if conflict.status_code != 200:  # still running (it may also have failed: 12 octaves of a 32 px photo)
        assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "job_not_completed"
    client.delete(f"/v1/deep-dreams/{early.json()['id']}")
    client.delete(f"/v1/deep-dreams/{done['id']}")


def test_a_value_only_the_model_can_judge_fails_the_job_naming_the_field(client):
    job = client.post("/v1/deep-dreams", data={"model": "tiny", "layer": "conv9_9"},
                      files={"image": ("photo.png", png_bytes((32, 32)))}).json()
    failed = wait_for(client, f"/v1/deep-dreams/{job['id']}")
    assert failed["status"] == "failed" and failed["error"]["param"] == "layer", failed
    assert failed["expires_at"] is not None
    assert client.get(f"/v1/deep-dreams/{job['id']}/content").status_code == 409
    client.delete(f"/v1/deep-dreams/{job['id']}")


def test_separation_job_answers_every_stem(client):
    t = np.arange(44100 * 2) / 44100
    track = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    job = client.post("/v1/separations", data={"model": "tiny", "stems": "vocals,drums", "seed": "0"},
                      files={"file": ("track.wav", wav_bytes(track, 44100))}).json()
    done = wait_for(client, f"/v1/separations/{job['id']}")
    assert done["status"] == "completed", done["error"]
    assert done["result"]["stems"] == ["vocals", "drums"]
    bundle = zipfile.ZipFile(io.BytesIO(client.get(f"/v1/separations/{job['id']}/content").content))
    assert sorted(bundle.namelist()) == ["drums.flac", "vocals.flac"]
    vocals = client.get(f"/v1/separations/{job['id']}/content", params={"variant": "vocals"})
    assert vocals.headers["content-type"] == "audio/flac" and vocals.content == bundle.read("vocals.flac")
    client.delete(f"/v1/separations/{job['id']}")


def test_job_counts_in_metrics(client):
    job = client.post("/v1/style-transfers", data={"model": "tiny", "steps": "2", "seed": "0"},
                      files={"content": ("a.png", png_bytes((32, 32))), "style": ("b.png", png_bytes((32, 32), 1))})
    wait_for(client, f"/v1/style-transfers/{job.json()['id']}")
    text = client.get("/metrics").text
    assert 'mmhub_jobs{kind="style-transfers",status="completed"} 1.0' in text
    assert 'mmhub_jobs{kind="videos",status="queued"}' in text  # every kind and status, 0 included
    assert _metric(client, 'mmhub_jobs_finished_total{kind="style-transfers",status="completed"}') >= 1
    client.delete(f"/v1/style-transfers/{job.json()['id']}")
    assert 'mmhub_jobs{kind="style-transfers",status="completed"} 0.0' in client.get("/metrics").text


# -- servers of their own, in this process (the app without the UI, from the real option parser) ------------------


@contextlib.contextmanager
def api_server(*argv: str) -> Iterator[tuple[str, object]]:
    """The API app of ``python -m spaces --models tiny <argv>`` (no UI) under uvicorn in a thread."""
    import uvicorn

    from spaces.api import create_app
    from spaces.api.options import add_api_arguments, finish_api_arguments
    from spaces.api.server import settings_from_args
    from spaces.api.service import Service
    from spaces.launcher import context_from_args
    from spaces.options import parse_launch_args

    args = parse_launch_args(["--models", "tiny", *argv], extra=add_api_arguments, finish=finish_api_arguments)
    service = Service.create(context_from_args(args), settings_from_args(args))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_config=None,
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", service
    finally:
        server.should_exit = True
        thread.join(60)


def _dream(http: httpx.Client, **settings: str) -> dict:
    answer = http.post("/v1/deep-dreams", data={"model": "tiny", **settings},
                       files={"image": ("photo.png", png_bytes((48, 48)))})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_jobs_expire_with_their_files(tmp_path):
    folder = tmp_path / "jobs"
    with api_server("--job-ttl", "1", "--jobs-dir", str(folder)) as (url, _), \
            httpx.Client(base_url=url, timeout=60) as http:
        job = _dream(http, steps="2", octaves="1", seed="0")
        done = wait_for(http, f"/v1/deep-dreams/{job['id']}")
        assert done["status"] == "completed" and done["expires_at"] - done["completed_at"] in (1, 2)
        files = sorted(p.name for p in (folder / job["id"]).iterdir())
        assert files == ["animation.gif", "image.png", "input-image.png", "job.json"]
        time.sleep(max(0.0, done["expires_at"] - time.time()) + 0.1)
        assert http.get(f"/v1/deep-dreams/{job['id']}").status_code == 404
        assert not (folder / job["id"]).exists()
        other = _dream(http, steps="1", octaves="1")
        deadline = time.monotonic() + 30  # the sweep removes it without anyone asking
        while (folder / other["id"]).exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert 'mmhub_jobs_finished_total{kind="deep-dreams",status="expired"} 2.0' in http.get("/metrics").text


def test_shutdown_keeps_jobs_with_a_jobs_dir_and_never_leaves_half_a_file(tmp_path):
    folder = tmp_path / "jobs"
    with api_server("--jobs-dir", str(folder), "--job-workers", "1", "--job-limit", "3") as (url, service), \
            httpx.Client(base_url=url, timeout=60) as http:
        slow = _dream(http, steps="200", octaves="3", seed="1")
        queued = _dream(http, steps="1", octaves="1", seed="2")
        wait_for(http, f"/v1/deep-dreams/{slow['id']}", ("in_progress",))
    for job_id in (slow["id"], queued["id"]):  # both kept, queued, no output (not even a partial one)
        state = json.loads((folder / job_id / "job.json").read_text())
        assert state["status"] == "queued" and state["outputs"] == {}
        assert sorted(p.name for p in (folder / job_id).iterdir()) == ["input-image.png", "job.json"]
    with api_server("--jobs-dir", str(folder)) as (url, _), httpx.Client(base_url=url, timeout=60) as http:
        done = wait_for(http, f"/v1/deep-dreams/{queued['id']}")
        assert done["status"] == "completed" and done["result"]["seed"] == 2
        assert http.delete(f"/v1/deep-dreams/{slow['id']}").json()["deleted"]
    assert not (folder / slow["id"]).exists()


def test_shutdown_without_a_jobs_dir_fails_the_queued_jobs_cleanly():
    with api_server("--job-workers", "1") as (url, service), httpx.Client(base_url=url, timeout=60) as http:
        slow = _dream(http, steps="200", octaves="3")
        queued = _dream(http, steps="1", octaves="1")
        wait_for(http, f"/v1/deep-dreams/{slow['id']}", ("in_progress",))
        store, runner = service.extras["jobs"]
    assert store.jobs[queued["id"]].status == store.jobs[slow["id"]].status == "failed"
    assert store.jobs[queued["id"]].error["code"] == store.jobs[slow["id"]].error["code"] == "server_shutdown"
    assert store.jobs[slow["id"]].done.is_set() and not store.root.exists()  # the temporary folder is gone


def test_one_server_per_jobs_folder(tmp_path):
    from pipelines.errors import InputError
    from spaces.api.jobs import JobSettings, JobStore

    first = JobStore(JobSettings(root=str(tmp_path)))
    with pytest.raises(InputError, match="--jobs-dir"):
        JobStore(JobSettings(root=str(tmp_path)))
    first.close()
    JobStore(JobSettings(root=str(tmp_path))).close()  # free again once the first let go


def test_request_bounds_are_the_pipelines_own():
    from pipelines import deep_dream, music_generation, separation, song_generation, style_transfer, video_generation
    from pipelines.generation_params import MIN_TEMPERATURE
    from spaces.api import job_kinds as k

    assert (k.VIDEO_MAX_FRAMES, k.VIDEO_MAX_SIDE, k.VIDEO_MAX_STEPS, k.VIDEO_MAX_FLOW_SHIFT) == (
        video_generation.MAX_FRAMES, video_generation.MAX_SIDE, video_generation.MAX_STEPS,
        video_generation.MAX_FLOW_SHIFT)
    assert (k.MUSIC_MAX_DURATION, k.MUSIC_MAX_PROMPT_CHARS, k.MUSIC_MIN_TEMPERATURE) == (
        music_generation.MAX_DURATION, music_generation.MAX_PROMPT_CHARS, MIN_TEMPERATURE)
    assert (k.SONG_DURATION, k.SONG_MAX_PROMPT_CHARS, k.SONG_MAX_LYRICS_CHARS, k.SONG_BPM, k.SONG_MAX_STEPS,
            k.SONG_MAX_GUIDANCE, k.SONG_SHIFT) == (
        (song_generation.DURATION_MIN, song_generation.DURATION_MAX), song_generation.MAX_PROMPT_CHARS,
        song_generation.MAX_LYRICS_CHARS, (song_generation.BPM_MIN, song_generation.BPM_MAX),
        song_generation.MAX_STEPS["base"], song_generation.MAX_GUIDANCE, song_generation.SHIFT_RANGE)
    assert set(k.SongRequest.model_fields["time_signature"].annotation.__args__[0].__args__) == set(
        song_generation.VALID_TIME_SIGNATURES)
    assert (k.SEPARATION_MAX_SHIFTS, k.SEPARATION_MAX_OVERLAP) == (separation.MAX_SHIFTS, separation.MAX_OVERLAP)
    assert (k.STYLE_MAX_STEPS, k.STYLE_MAX_CONTENT, k.STYLE_MAX_STYLE, k.STYLE_MAX_TV, k.STYLE_MAX_LR) == (
        style_transfer.MAX_STEPS, style_transfer.MAX_CONTENT_WEIGHT, style_transfer.MAX_STYLE_WEIGHT,
        style_transfer.MAX_TV_WEIGHT, style_transfer.MAX_LEARNING_RATE)
    assert (k.DREAM_MAX_STEPS, k.DREAM_MAX_OCTAVES, k.DREAM_MAX_JITTER, k.DREAM_MAX_SIDE) == (
        deep_dream.MAX_STEPS, deep_dream.MAX_OCTAVES, deep_dream.MAX_JITTER, deep_dream.MAX_SIDE)


def test_the_video_request_takes_the_sdks_fields():
    """Every field of openai 3.57's ``VideoCreateParams`` is a field here (``input_reference`` as a file)."""
    from openai.types.video_create_params import VideoCreateParams

    from spaces.api.job_kinds import KINDS

    ours = set(KINDS["videos"].request.model_fields) | set(KINDS["videos"].files)
    assert set(VideoCreateParams.__annotations__) <= ours


def test_workers_load_several_models_at_once():
    """The job workers (and requests, and tabs) load through one `ModelCache` from several threads: transformers'
    loading is not thread-safe (two tiny MusicGens and an ACE-Step loaded at once failed with "Cannot copy out of
    meta tensor" before the cache loaded one model at a time)."""
    from spaces.common import ModelCache

    cache = ModelCache(4, 2**33)
    loaded: dict[str, object] = {}
    errors: list[BaseException] = []

    def load(task: str, model: str) -> None:
        try:
            loaded[model] = cache.get(task, model)
        except BaseException as err:  # noqa: BLE001 - collected for the assertion
            errors.append(err)

    models = (("text-to-music", "tiny"), ("text-to-music", "tiny-melody"), ("text-to-song", "tiny-base"))
    threads = [threading.Thread(target=load, args=model) for model in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    assert loaded["tiny-melody"](["jazz"], duration=0.2, seed=0)[0].audio.size > 0
