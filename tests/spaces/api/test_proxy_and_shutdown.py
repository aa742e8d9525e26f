"""``python -m spaces --llm-endpoint URL``: the OpenAI text routes proxied to a real ``transformers serve`` (answers as
that server gives them, streamed too); then a graceful stop: a request in flight when SIGTERM arrives still
completes, and the process exits cleanly."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import openai
import pytest

from .conftest import KEY, start


@pytest.fixture(scope="module")
def proxy(llm_server, tmp_path_factory):
    model = llm_server.models["tiny-chat"]
    with start(tmp_path_factory.mktemp("proxy"), "--llm-endpoint", llm_server.api, "--llm-model", model,
               "--shutdown-timeout", "60") as server:
        yield server, model


def test_chat_and_completions_are_proxied(proxy, llm_server):
    server, model = proxy
    ours = openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0, timeout=120)
    theirs = openai.OpenAI(base_url=llm_server.api, api_key="EMPTY", max_retries=0, timeout=120)
    messages = [{"role": "user", "content": "Name a colour."}]
    direct = theirs.chat.completions.create(model=model, messages=messages, max_tokens=6, temperature=0)
    proxied = ours.chat.completions.create(model=model, messages=messages, max_tokens=6, temperature=0)
    assert proxied.choices[0].message.content == direct.choices[0].message.content
    assert proxied.usage.completion_tokens == direct.usage.completion_tokens
    streamed = ours.chat.completions.create(model=model, messages=messages, max_tokens=6, temperature=0, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert text == direct.choices[0].message.content
    assert model in {m.id for m in ours.models.list()}
    with pytest.raises(openai.BadRequestError, match="presence_penalty"):  # checked here before it goes anywhere
        ours.chat.completions.create(model=model, messages=messages, presence_penalty=1)
    with pytest.raises(openai.NotFoundError):  # a model the server does not serve
        ours.chat.completions.create(model="someone/not-served", messages=messages, max_tokens=2)


def test_a_request_in_flight_finishes_on_sigterm(proxy):
    server, _ = proxy
    answers: list[httpx.Response] = []
    body = {"model": "tiny", "prompt": "a fox", "size": "64x64", "num_inference_steps": 120, "seed": 0}

    def slow() -> None:
        answers.append(httpx.post(server.url + "/v1/images/generations", json=body, timeout=120,
                                  headers={"Authorization": f"Bearer {KEY}"}))

    worker = threading.Thread(target=slow)
    worker.start()
    deadline = time.monotonic() + 60
    while "POST /v1/images/generations" not in server.log_tail(100_000) and "loading text-to-image" not in \
            server.log_tail(100_000) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    server.process.send_signal(signal.SIGTERM)
    worker.join(120)
    assert answers and answers[0].status_code == 200 and answers[0].json()["data"]  # it finished
    # uvicorn re-raises the signal it captured once it has shut down (uvicorn/server.py: capture_signals)
    assert server.process.wait(60) in (0, -signal.SIGTERM)
    log = server.log_tail(20_000)
    assert "Shutting down" in log and "Finished server process" in log and "Traceback" not in log
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/health", timeout=5)
