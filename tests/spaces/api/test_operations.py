"""Operations of ``python -m spaces``'s API, from the outside: keys on every API route, no server path read outside
``--allow-local-models``, hostile inputs refused naming the field (and the server still serving), the per-task queue
(429 + Retry-After), the body cap (413), request ids in headers and log, Prometheus metrics, /ready."""

from __future__ import annotations

import concurrent.futures
import re
import time

import httpx
import pytest

from .conftest import png_bytes, speech_clip, wav_bytes

CHAT = {"model": "tiny-chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_api_route_needs_the_key(api):
    schema = httpx.get(f"{api.url}/openapi.json").json()  # the schema itself is public
    checked = 0
    for path, operations in schema["paths"].items():
        for method in operations:
            for headers in ({}, {"Authorization": "Bearer wrong-key-123"}, {"Authorization": "Basic Zm9vOmJhcg=="}):
                answer = httpx.request(method.upper(), api.url + _concrete(path), headers=headers, timeout=30)
                if path == "/health":
                    assert answer.status_code == 200
                    continue
                assert answer.status_code == 401, (method, path, answer.text)
                error = answer.json()["error"]
                assert "API key" in (error if isinstance(error, str) else error["message"])
                assert answer.headers["www-authenticate"].startswith("Bearer")
                checked += 1
    assert checked >= 3 * 20
    for path in ("/v1/chat/completions", "/v1/no-such-route", "/models/text-classification/v1/chat/completions"):
        assert httpx.post(api.url + path, content=b"{not json").status_code == 401  # refused before parsing
    assert httpx.get(f"{api.url}/v1/models", headers=api.headers).status_code == 200


def test_no_route_reads_a_server_path_outside_the_allowed_folders(api, tmp_path):
    (api.runs / "escape").symlink_to("/etc", target_is_directory=True)
    client = httpx.Client(base_url=api.url, headers=api.headers, timeout=60)
    for model in ("/etc", "../../../etc", "~/.ssh", str(api.runs / "escape"), "/etc/passwd", str(tmp_path)):
        answer = client.post("/v1/chat/completions", json=CHAT | {"model": model})
        assert answer.status_code == 400 and answer.json()["error"]["param"] == "model", (model, answer.text)
        assert "root:" not in answer.text
        hf = client.post(f"/models/text-classification/{model.lstrip('/')}" if model.startswith("~") else
                         f"/models/text-classification/{model}", json={"inputs": "x"})
        assert hf.status_code in (400, 404) and "root:" not in hf.text
    lora = client.post("/v1/images/generations", json={"model": "tiny", "prompt": "x", "lora": "/etc"})
    assert lora.status_code == 400 and lora.json()["error"]["param"] == "lora"
    for voice in ("../../etc/passwd", "/etc/passwd", "voice_../../../x"):
        spoken = client.post("/v1/audio/speech", json={"model": "tiny", "input": "Hello there.", "voice": voice})
        assert spoken.status_code == 400 and spoken.json()["error"]["param"] == "voice"
        assert client.delete(f"/v1/voices/{voice}").status_code in (400, 404)


HOSTILE = [  # (path, JSON body, the field the answer must name)
    ("/v1/chat/completions", CHAT | {"temperature": float("nan")}, "temperature"),
    ("/v1/chat/completions", CHAT | {"temperature": float("inf")}, "temperature"),
    ("/v1/chat/completions", CHAT | {"max_tokens": 2**70}, "max_tokens"),
    ("/v1/chat/completions", CHAT | {"max_tokens": -1}, "max_tokens"),
    ("/v1/chat/completions", CHAT | {"max_tokens": 10**9}, "max_tokens"),
    ("/v1/chat/completions", CHAT | {"max_tokens": 10**5}, "max_tokens"),  # past the model's context
    ("/v1/chat/completions", CHAT | {"n": 1000}, "n"),
    ("/v1/chat/completions", CHAT | {"seed": -5}, "seed"),
    ("/v1/chat/completions", CHAT | {"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ("/v1/chat/completions", CHAT | {"stop": [""]}, "stop"),
    ("/v1/chat/completions", CHAT | {"messages": []}, "messages"),
    ("/v1/chat/completions", CHAT | {"messages": "hi"}, "messages"),
    ("/v1/chat/completions", CHAT | {"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ("/v1/chat/completions", CHAT | {"messages": [{"role": "user", "content": "  "}]}, "messages"),
    ("/v1/chat/completions", CHAT | {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
     "messages[0].content"),
    ("/v1/chat/completions", CHAT | {"tools": [{"type": "function"}]}, "tools"),
    ("/v1/chat/completions", CHAT | {"stream": "yes"}, "stream"),
    ("/v1/chat/completions", CHAT | {"logprobs": True, "top_logprobs": 50}, "top_logprobs"),
    ("/v1/chat/completions", CHAT | {"messages": [{"role": "user", "content": "\ud800"}]}, "messages"),  # lone
    ("/v1/chat/completions", CHAT | {"stop": ["\ud800"]}, "stop[0]"),  # surrogates: not encodable text
    ("/v1/chat/completions", CHAT | {"model": "tiny-chat\u202e"}, "model"),
    ("/v1/chat/completions", CHAT | {"model": ""}, "model"),
    ("/v1/chat/completions", CHAT | {"model": 5}, "model"),
    ("/v1/completions", {"model": "tiny", "prompt": [], "max_tokens": 2}, "prompt"),
    ("/v1/completions", {"model": "tiny", "prompt": "x" * 2_000_000, "max_tokens": 2}, "prompt"),
    ("/v1/completions", {"model": "tiny", "prompt": "x", "echo": True}, "echo"),
    ("/v1/images/generations", {"model": "tiny", "prompt": "x", "size": "0x0"}, "size"),
    ("/v1/images/generations", {"model": "tiny", "prompt": "x", "size": "99999999x8"}, "size"),
    ("/v1/images/generations", {"model": "tiny", "prompt": "x", "n": 0}, "n"),
    ("/v1/images/generations", {"model": "tiny", "prompt": "", "n": 1}, "prompt"),
    ("/v1/images/generations", {"model": "tiny", "prompt": "x", "guidance_scale": -1}, "guidance_scale"),
    ("/v1/images/generations", {"model": "tiny", "prompt": "x", "quality": "hd"}, "quality"),
    ("/v1/audio/speech", {"model": "tiny", "input": "Hello there.", "voice": "alloy"}, "voice"),
    ("/v1/audio/speech", {"model": "tiny", "input": "", "voice": "voice_0123456789abcdef"}, "input"),
    ("/v1/audio/speech", {"model": "tiny", "input": "Hi", "voice": "v", "speed": 10}, "speed"),
    ("/v1/audio/speech", {"model": "tiny", "input": "Hi", "voice": "v", "instructions": "whisper"}, "instructions"),
    ("/v1/audio/speech", {"model": "tiny", "input": "12345 678", "voice": "v"}, "voice"),
    ("/models/text-classification", {"inputs": 5}, "inputs"),
    ("/models/text-classification", {"inputs": "\ud800"}, "inputs"),
    ("/models/text-classification", {"inputs": "x", "parameters": {"top_k": 0}}, "parameters.top_k"),
    ("/models/text-generation", {"inputs": "x", "parameters": {"max_new_tokens": float("nan")}},
     "parameters.max_new_tokens"),
    ("/models/text-to-image", {"inputs": "x", "parameters": {"width": 12}}, "width"),
    ("/models/image-classification", {"inputs": "not base64!"}, "inputs"),
]


@pytest.mark.parametrize(("path", "body", "field"), HOSTILE, ids=[f"{p}:{f}" for p, _, f in HOSTILE])
def test_hostile_json_is_refused_naming_the_field(api, path, body, field):
    import json

    raw = json.dumps(body, allow_nan=True)  # NaN and Infinity as Python's json writes them
    answer = httpx.post(api.url + path, content=raw, headers=api.headers | {"Content-Type": "application/json"},
                        timeout=60)
    assert 400 <= answer.status_code < 500, answer.text
    error = answer.json()
    message = error["error"] if isinstance(error["error"], str) else error["error"]["message"]
    param = error.get("param") if isinstance(error["error"], str) else error["error"]["param"]
    assert field in (param or "") or field in message, error


def test_hostile_uploads_and_then_a_good_request(api):
    client = httpx.Client(base_url=api.url, headers=api.headers, timeout=60)
    uploads = [
        ("/v1/images/edits", {"image": ("x.png", b"", "image/png")}, {"prompt": "x"}, "image"),
        ("/v1/images/edits", {"image": ("x.png", b"\x89PNG\r\n\x1a\ngarbage", "image/png")}, {"prompt": "x"}, "image"),
        ("/v1/images/edits", {"image": ("x.png", png_bytes((1, 1)), "image/png")}, {"prompt": "x"}, "image"),
        ("/v1/images/edits", {"image": ("x.png", png_bytes(), "image/png")}, {"prompt": "x", "n": "lots"}, "n"),
        ("/v1/images/edits", {"image": ("x.png", png_bytes(), "image/png"),
                              "mask": ("m.png", png_bytes(), "image/png")}, {"prompt": "x"}, "mask"),
        ("/v1/images/edits", {"image": ("x.png", png_bytes(), "image/png")}, {"prompt": "x", "bogus": "1"}, "bogus"),
        ("/v1/voices", {"audio_sample": ("a.wav", b"", "audio/wav")}, {"name": "x"}, "audio_sample"),
        ("/v1/voices", {"audio_sample": ("a.wav", b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40), "audio/wav")},
         {"name": "x"}, "audio_sample"),
        ("/v1/voices", {"audio_sample": ("a.wav", wav_bytes(speech_clip(1.0), 16000), "audio/wav")}, {"name": "x"},
         "audio_sample"),
        ("/v1/voices", {"audio_sample": ("a.wav", wav_bytes(speech_clip(), 16000), "audio/wav")}, {"name": ""},
         "name"),
        ("/v1/voices", {"audio_sample": ("a.wav", wav_bytes(speech_clip(), 16000), "audio/wav")},
         {"name": "x", "type": "prompt"}, "type"),
    ]
    for path, files, data, field in uploads:
        answer = client.post(path, files=files, data=data)
        assert 400 <= answer.status_code < 500, (path, data, answer.text)
        error = answer.json()["error"]
        assert field in (error["param"] or "") or field in error["message"], error
    assert client.post("/v1/voices", json={"name": "x"}).status_code == 415
    assert client.post("/models/audio-to-audio", content=b"").status_code == 400
    corrupt = client.post("/models/audio-to-audio", content=b"RIFF0000WAVEgarbage")
    assert corrupt.status_code == 400 and "inputs" in corrupt.json()["param"]
    # the server still answers good requests
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert client.post("/models/text-classification", json={"inputs": "Great"}).status_code == 200


def test_a_full_queue_answers_429_with_retry_after_and_loses_nothing(api):
    body = {"model": "tiny", "prompt": "x", "size": "64x64", "num_inference_steps": 40, "seed": 0}

    def post(_: int) -> httpx.Response:
        return httpx.post(f"{api.url}/v1/images/generations", json=body, headers=api.headers, timeout=120)

    with concurrent.futures.ThreadPoolExecutor(3) as pool:  # one runs, one waits (--api-queue 1), one is refused
        answers = list(pool.map(post, range(3)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 200, 429], [a.text[:200] for a in answers]
    refused = next(a for a in answers if a.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1 and refused.json()["error"]["type"] == "rate_limit_error"
    assert httpx.post(f"{api.url}/v1/images/generations", json=body | {"num_inference_steps": 1},
                      headers=api.headers, timeout=60).status_code == 200


def test_bodies_above_the_cap_get_413(api):
    big = b"x" * (5 * 2**20)  # the server takes 4 MB (--max-file-size 4mb)
    answer = httpx.post(f"{api.url}/v1/voices", headers=api.headers, files={"audio_sample": ("a.wav", big)},
                        data={"name": "x"}, timeout=60)
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "request_too_large"

    def chunks():
        for _ in range(5):
            yield b"y" * 2**20

    chunked = httpx.post(f"{api.url}/v1/chat/completions", headers=api.headers, content=chunks(), timeout=60)
    assert chunked.status_code == 413


def test_request_ids_metrics_and_ready(api):
    mine = httpx.post(f"{api.url}/v1/chat/completions", json=CHAT, headers=api.headers | {"X-Request-Id": "abc-123"})
    assert mine.status_code == 200 and mine.headers["x-request-id"] == "abc-123"
    odd = httpx.get(f"{api.url}/v1/models", headers=api.headers | {"X-Request-Id": "bad id;<script>" + "x" * 80})
    assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["x-request-id"])
    assert "[req=abc-123]" in api.server.log_tail(200_000)  # every log line of the request carries it
    refused = httpx.post(f"{api.url}/v1/chat/completions", json=CHAT | {"n": 0}, headers=api.headers)
    assert refused.status_code == 400 and refused.headers["x-request-id"]

    ready = httpx.get(f"{api.url}/ready", headers=api.headers).json()
    assert {"task": "text-generation", "model": "tiny-chat"}.items() <= next(
        m for m in ready["models"] if m["model"] == "tiny-chat").items() or ready["models"]
    metrics = httpx.get(f"{api.url}/metrics", headers=api.headers).text
    assert re.search(r'mmhub_api_requests_total\{[^}]*route="/v1/chat/completions"[^}]*status="200"[^}]*'
                     r'task="text-generation"\} [1-9]', metrics)
    assert re.search(r'mmhub_api_errors_total\{[^}]*route="/v1/chat/completions"[^}]*status="400"', metrics)
    assert 'mmhub_api_request_seconds_bucket{' in metrics and "mmhub_api_queue_depth" in metrics
    loaded = {(t, m) for t, m in re.findall(r'mmhub_models_loaded\{model="([^"]+)",task="([^"]+)"\} 1', metrics)}
    assert {(m["model"], m["task"]) for m in ready["models"]} == loaded


def test_a_client_leaving_mid_stream_gives_its_slot_back(api):
    body = CHAT | {"max_tokens": 200, "stream": True}
    for read in (1, 0):  # leave after the first event, or before reading anything
        with httpx.stream("POST", f"{api.url}/v1/chat/completions", json=body, headers=api.headers) as answer:
            assert answer.status_code == 200
            for _ in zip(range(read), answer.iter_lines(), strict=False):
                pass
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        metrics = httpx.get(f"{api.url}/metrics", headers=api.headers).text
        if re.search(r'mmhub_api_in_flight\{task="text-generation"\} 0\.0', metrics):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the text-generation slot was not given back")
    assert httpx.post(f"{api.url}/v1/chat/completions", json=CHAT, headers=api.headers).status_code == 200
