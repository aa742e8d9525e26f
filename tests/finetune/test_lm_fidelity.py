"""finetune.lm and the text-generation pipeline see the same data (issue 18 §1 and §3).

- The validation loss in ``metrics.json`` is reproduced from the folder ``load("text-generation")`` serves: its
  saved chat template renders the prompt exactly as the pipeline does, the assistant's reply ends with a token the
  pipeline stops at, and the mean loss over the reply tokens is the trainer's.
- ``--max-length`` beyond the model's positions is clamped (said once in the log) instead of crashing mid-training.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pytest
import torch

from finetune.lm import cli
from pipelines import load
from tests.finetune.test_lm import polish_sentence
from tests.finetune.test_lm_data import write_jsonl


def chat_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"messages": [{"role": "system", "content": "Odpowiadaj po polsku."},
                          {"role": "user", "content": f"Co się dzieje? {polish_sentence(rng)}"},
                          {"role": "assistant", "content": polish_sentence(rng)}]} for _ in range(n)]


@pytest.fixture(scope="module")
def chat_run(tmp_path_factory) -> tuple[Path, list[dict]]:
    base = tmp_path_factory.mktemp("lmfid")
    train = write_jsonl(base / "train.jsonl", chat_rows(40, 0))
    held = chat_rows(6, 1)
    validation = write_jsonl(base / "validation.jsonl", held)
    output = base / "chat"
    assert cli(["--model", "tiny-chat", "--train-file", str(train), "--validation-file", str(validation),
                "--output-dir", str(output), "--cache-dir", str(base / "cache"), "--max-steps", "6", "--batch-size",
                "8", "--eval-batch-size", "1", "--learning-rate", "3e-3", "--eval-steps", "3", "--save-steps", "3",
                "--no-eval-before", "--no-gradient-checkpointing", "--early-stopping-patience", "0"]) == 0
    return output, held


def test_validation_loss_through_load_equals_metrics_json(chat_run):
    output, held = chat_run
    metrics = json.loads((output / "metrics.json").read_text())
    gen = load("text-generation", model=str(output), device="cpu")
    tokenizer, model = gen.tokenizer, gen.model
    losses = []
    for row in held:
        messages = row["messages"]
        # the prompt exactly as the pipeline serves it (its _encode: the saved template, generation prompt on)
        prompt = gen._encode(messages[:-1], None, 1, False)
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids[: len(prompt)] == prompt  # the template is prefix-preserving: serving continues training's text
        reply = ids[len(prompt):]
        while tokenizer.decode(reply[-1:]).isspace():  # the trailing newline after the end of turn is not learnt
            reply = reply[:-1]
        assert reply[-1] in gen.eos_token_ids  # the learnt end of the reply is where the pipeline stops
        assert tokenizer.decode(reply[:-1]) == messages[-1]["content"]
        with torch.inference_mode():
            logits = model(torch.tensor([prompt + reply])).logits[0]
        targets = torch.tensor(reply)
        predicted = logits[len(prompt) - 1: len(prompt) + len(reply) - 1]
        losses.append(float(torch.nn.functional.cross_entropy(predicted.float(), targets)))
    assert metrics["validation"]["samples"] == len(held)
    assert sum(losses) / len(losses) == pytest.approx(metrics["validation"]["loss"], rel=1e-5)


def test_card_shows_the_prompt_format_the_model_was_trained_with(chat_run):
    output, _ = chat_run
    card = (output / "README.md").read_text()
    run = json.loads((output / "mmhub_run.json").read_text())
    assert run["prompt_format"] == "chat" and '[{"role": "user", "content":' in card


def test_max_length_beyond_the_positions_is_clamped_once(tmp_path, caplog):
    """Lines of ~1,200 tokens with --max-length 600 on a model of 512 positions crashed in the embeddings."""
    rng = random.Random(2)
    long_line = " ".join(polish_sentence(rng) for _ in range(50))  # about 1,200 tokens for the tiny GPT-2
    lines = [polish_sentence(rng) for _ in range(4)] + [long_line] * 16
    corpus = tmp_path / "korpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="finetune.lm"):
        assert cli(["--model", "tiny", "--train-file", str(corpus), "--output-dir", str(output), "--cache-dir",
                    str(tmp_path / "cache"), "--max-length", "600", "--max-steps", "2", "--batch-size", "4",
                    "--eval-steps", "2", "--save-steps", "2", "--no-eval-before", "--no-gradient-checkpointing"]) == 0
    said = [r.getMessage() for r in caplog.records if "--max-length 600" in r.getMessage()]
    assert len(said) == 1 and "512 positions" in said[0]
    assert "| `max_length` | `512` |" in (output / "README.md").read_text()
    assert json.loads((output / "metrics.json").read_text())["validation"]["samples"] == 2  # 10 % of 20
