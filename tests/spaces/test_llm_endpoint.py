"""The Chat Space as a client of a real OpenAI-compatible server (`transformers serve` on the tiny chat model)."""

from __future__ import annotations

import argparse
import concurrent.futures

import pytest

from pipelines import InputError, load
from spaces import llm_endpoint
from spaces.common import Context
from tests.spaces.conftest import serving

SYSTEM = "Jesteś pomocnym asystentem."
# The Space streams. transformers serve's streamed text leaves out bytes that are not UTF-8 (which the tiny random
# model often writes); this question's 6-token answer is valid UTF-8, so streamed and local text can be compared.
QUESTION, TOKENS = "Great product", 6


@pytest.fixture(scope="module")
def chat_app(llm_server):
    model = llm_server.models["tiny-chat"]
    with serving(["-m", "spaces.text_generation", "--llm-endpoint", llm_server.api, "--llm-model", model]) as url:
        from gradio_client import Client

        yield Client(url, verbose=False), model


def test_the_chat_tab_answers_from_the_server(chat_app):
    client, model = chat_app
    local = load("text-generation", model="tiny-chat", device="cpu")
    expected = local([{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
                     max_new_tokens=TOKENS, temperature=0).text
    assert "\ufffd" not in expected
    assert client.predict(QUESTION, model, SYSTEM, TOKENS, 0.0, 0.95, None, api_name="/chat")[0] == expected


def test_conversations_reach_the_server_concurrently(chat_app):
    client, model = chat_app
    questions = [f"Pytanie numer {i}" for i in range(6)]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda q: client.predict(q, model, "", 8, 0.0, 0.95, None, api_name="/chat")[0],
                                questions))
    assert all(isinstance(r, str) and r for r in replies)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    llm_endpoint.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_endpoint_options(monkeypatch):
    monkeypatch.delenv("MMHUB_LLM_ENDPOINT", raising=False)
    monkeypatch.setenv("LLM_KEY", "secret")
    llm = llm_endpoint.from_args(parse("--llm-endpoint", "http://gpu:8000/v1/", "--llm-api-key-env", "LLM_KEY"))
    assert (llm.url, llm.model, llm.api_key) == ("http://gpu:8000/v1", None, "secret")
    ctx = Context(llm=llm)
    assert ctx.default_model("text-generation", "tiny-chat") == ""  # the server's only model
    assert ctx.model_choices("text-generation") == [("the server’s model @ http://gpu:8000/v1", "")]
    assert ctx.default_model("sentiment") != ""  # the other tabs are unchanged
    for argv, option in [(("--llm-endpoint", "gpu:8000"), "--llm-endpoint"),
                         (("--llm-endpoint", "http://gpu:8000/v1", "--llm-api-key-env", "UNSET_VAR_X"),
                          "--llm-api-key-env"),
                         (("--llm-model", "bielik"), "--llm-model"),
                         (("--llm-endpoint", "http://gpu:8000/v1", "--llm-concurrency", "0"), "--llm-concurrency")]:
        with pytest.raises(InputError) as info:
            llm_endpoint.from_args(parse(*argv))
        assert info.value.argument == option
    assert llm_endpoint.from_args(parse()) is None
