"""Log-probabilities of generated tokens (``logprobs=N``) and how a stream ended (`TextStream`), against the raw
model: the logprob of each greedy token is the log-softmax of the model's own logits for it."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from pipelines import load, tiny
from pipelines.errors import InputError

PROMPT = "Dawno, dawno temu"
CHAT = [{"role": "user", "content": "Hi there"}]


@pytest.fixture(scope="module")
def gen():
    return load("text-generation", model="tiny", device="cpu")


@pytest.fixture(scope="module")
def chat():
    return load("text-generation", model="tiny-chat", device="cpu")


def a_stop(text: str) -> str:
    """Two characters from the middle of `text` that do not occur before them (the tiny models repeat a lot)."""
    for start in range(2, len(text) - 1):
        if text.find(text[start:start + 2]) == start:
            return text[start:start + 2]
    raise AssertionError(f"no usable stop string in {text!r}")


def test_greedy_logprobs_are_the_models_own(gen):
    result = gen(PROMPT, max_new_tokens=6, temperature=0, logprobs=3)
    ids = gen.tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(tiny.build("text-generation", "tiny")).eval()
    tokens = [e["id"] for e in result.logprobs]
    with torch.no_grad():  # one teacher-forced pass over the prompt and the generated tokens
        logits = model(torch.cat([ids, torch.tensor([tokens])], dim=1)).logits[0, ids.shape[1] - 1: -1]
    expected = torch.log_softmax(logits.float(), dim=-1)
    for step, entry in enumerate(result.logprobs):
        assert entry["logprob"] == pytest.approx(float(expected[step, entry["id"]]), abs=1e-4)
        assert entry["top"][0]["id"] == entry["id"]  # greedy: the chosen token is the most likely one
        assert [t["logprob"] for t in entry["top"]] == sorted((t["logprob"] for t in entry["top"]), reverse=True)
        assert len(entry["top"]) == 3
    assert "".join(e["token"] for e in result.logprobs) == result.text
    assert bytes(b for e in result.logprobs for b in e["bytes"]).decode("utf-8", "replace") == result.text
    assert gen(PROMPT, max_new_tokens=6, temperature=0).text == result.text  # asking for them changes nothing


def test_logprobs_stop_at_a_stop_string_and_are_refused_with_stream(gen, chat):
    full = chat(CHAT, max_new_tokens=8, temperature=0, logprobs=0)
    # the tiny chat model writes pieces of UTF-8 characters: their bytes join to the text, their "token"s show U+FFFD
    assert bytes(b for e in full.logprobs for b in e["bytes"]).decode("utf-8", "replace") == full.text
    assert any(len(e["bytes"]) == 1 and e["bytes"][0] >= 0x80 for e in full.logprobs)
    stop = a_stop(full.text)
    cut = chat(CHAT, max_new_tokens=8, temperature=0, logprobs=0, stop=stop)
    assert cut.text == full.text[: full.text.find(stop)]
    assert len(cut.logprobs) < len(full.logprobs) and all(e["top"] == [] for e in cut.logprobs)
    with pytest.raises(InputError, match="logprobs"):
        gen(PROMPT, max_new_tokens=2, logprobs=2, stream=True)
    for bad in (-1, 21, 2.5, "3", True):
        with pytest.raises(InputError, match="logprobs"):
            gen(PROMPT, max_new_tokens=2, logprobs=bad)


def test_a_stream_says_how_it_ended(chat):
    result = chat(CHAT, max_new_tokens=8, temperature=0)
    stream = chat(CHAT, max_new_tokens=8, temperature=0, stream=True)
    assert "".join(stream) == result.text
    assert (stream.finish_reason, stream.new_tokens, stream.prompt_tokens) == (
        result.finish_reason, result.new_tokens, result.prompt_tokens)
    stop = a_stop(result.text)
    stopped = chat(CHAT, max_new_tokens=8, temperature=0, stream=True, stop=stop)
    assert "".join(stopped) == result.text[: result.text.find(stop)] and stopped.finish_reason == "stop"
