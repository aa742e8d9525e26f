"""Garbage from a server: a real HTTP server (Python's http.server, in a thread) that answers like a broken
OpenAI-compatible API. Each broken answer is a typed `EndpointError` within a bounded time, and the same pipeline
then still answers a good request."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest

from pipelines import InputError, load
from pipelines.text_generation_remote import EndpointError

MODEL = "garbage/model"
GOOD = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": MODEL,
        "choices": [{"index": 0, "text": " kot", "finish_reason": "length", "logprobs": None}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def chunk(text: str, finish: str | None = None) -> bytes:
    body = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": MODEL,
            "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}]}
    return f"data: {json.dumps(body)}\n\n".encode()


class Handler(http.server.BaseHTTPRequestHandler):
    """``/<mode>/v1/...``: ``good`` answers as vLLM would; the other modes answer one way wrong."""

    release = threading.Event()  # set at teardown: a hanging answer stops waiting

    def _send(self, body: bytes, content_type: str = "application/json", status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        mode = self.path.split("/")[1]
        if mode == "hang":
            self.release.wait(30)
            return
        self._send(json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode())

    def do_POST(self) -> None:  # noqa: N802
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        mode = self.path.split("/")[1]
        if request.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            if mode == "cut":  # two chunks, then the connection closes: no finish_reason, no [DONE]
                self.wfile.write(chunk(" Ala") + chunk(" ma"))
            elif mode == "badevent":
                self.wfile.write(chunk(" Ala") + b"data: {not json\n\n")
            else:
                self.wfile.write(chunk(" Ala") + chunk(" ma", "length") + b"data: [DONE]\n\n")
            self.close_connection = True
            return
        if mode == "notjson":
            self._send(b'{"id": "cmpl-1", "choices": [')
        elif mode == "deep":
            self._send(b"[" * 200_000 + b"]" * 200_000)
        elif mode == "negative":
            self._send(json.dumps({**GOOD, "usage": {"prompt_tokens": -5, "completion_tokens": 1}}).encode())
        elif mode == "hugeint":
            self._send(b'{"id": "x", "choices": [], "usage": {"prompt_tokens": ' + b"9" * 5000 + b"}}")
        else:
            self._send(json.dumps(GOOD).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        Handler.release.set()
        httpd.shutdown()
        httpd.server_close()


def endpoint(server: str, mode: str) -> str:
    return f"{server}/{mode}/v1"


@pytest.mark.parametrize(("mode", "stream", "message"), [
    ("notjson", False, "its answer is not JSON"),
    ("deep", False, "JSON nested deeper than Python parses"),
    ("hugeint", False, "its answer is not JSON"),
    ("negative", False, "usage.prompt_tokens is -5, not a token count"),
    ("cut", True, "the stream ended before the server said the answer was finished"),
    ("badevent", True, "a stream event is not JSON"),
])
def test_garbage_answers_are_incompatible_endpoint_errors(server, mode, stream, message):
    gen = load("text-generation", endpoint=endpoint(server, mode), max_retries=0, timeout=5)
    with pytest.raises(EndpointError) as info:
        result = gen("Ala", max_new_tokens=2, stream=stream)
        if stream:
            "".join(result)
    assert info.value.reason == "incompatible" and message in str(info.value), str(info.value)
    assert endpoint(server, mode) in str(info.value)
    # the same process still answers a good request, streamed and not
    good = load("text-generation", endpoint=endpoint(server, "good"), max_retries=0, timeout=5)
    assert good("Ala", max_new_tokens=2).text == " kot"
    assert "".join(good("Ala", max_new_tokens=2, stream=True)) == " Ala ma"


def test_a_models_route_that_hangs_is_a_timeout_within_the_probe_bound(server):
    started = time.monotonic()
    with pytest.raises(EndpointError) as info:  # max_retries=3 for requests, but the probe retries at most once
        load("text-generation", endpoint=endpoint(server, "hang"), timeout=1, max_retries=3)
    took = time.monotonic() - started
    assert info.value.reason == "timeout" and "/models got no answer within 1 s (1 retries)" in str(info.value)
    assert took < 6, took  # 1 s, a backoff of at most 1 s, 1 s; not 300 s x 4


@pytest.mark.parametrize(("option", "value", "message"), [
    ("endpoint", "http://127.0.0.1\x00:8000/v1", "control character"),
    ("endpoint", "http://[::1/v1", "cannot be parsed"),
    ("endpoint", "http://[zz::1]:8000/v1", "cannot be parsed"),
    ("endpoint", "http://[::1]]:8000/v1", "not an IPv6 address in brackets"),
    ("api_key", "sk-1\r\nX-Injected: yes", "printable ASCII"),
    ("api_key", "klucz-żółw", "printable ASCII"),
    ("api_key", "sk-1\x00", "printable ASCII"),
])
def test_bad_urls_and_header_injection_are_input_errors(server, option, value, message):
    options = {"endpoint": endpoint(server, "good"), option: value}
    with pytest.raises(InputError) as info:
        load("text-generation", **options)
    assert info.value.argument == option and message in str(info.value)
    assert "\r" not in str(info.value) and "X-Injected" not in str(info.value)  # the key is never echoed
