"""Fixtures for the fine-tuning tests: small fastText-format files with a learnable signal, written per test; a
trainer run killed with SIGKILL after its first checkpoint."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finetune.run import RunFolders

ROOT = Path(__file__).resolve().parents[2]

POSITIVE = ["great", "excellent", "love it", "works perfectly", "highly recommend", "wonderful", "best ever"]
NEGATIVE = ["terrible", "awful", "broke after a day", "waste of money", "do not buy", "horrible", "worst ever"]
FILLER = ["the", "product", "arrived", "box", "book", "album", "it", "was", "and", "this", "with", "a", "of",
          "delivery", "price", "quality", "sound", "story", "my", "son", "for", "kitchen"]


def review(rng: random.Random, positive: bool) -> str:
    """`Title: text` with two sentiment phrases among neutral filler, like one Kaggle line without its label."""
    words = POSITIVE if positive else NEGATIVE
    title = rng.choice(words).capitalize()
    body = [rng.choice(FILLER) for _ in range(rng.randint(4, 18))]
    for phrase in rng.sample(words, 2):
        body.insert(rng.randrange(len(body) + 1), phrase)
    return f"{title}: {' '.join(body)}."


def write_fasttext(path: Path, n: int, seed: int = 0, labels: tuple[str, str] = ("1", "2")) -> Path:
    """Write `n` balanced lines ``__label__<neg|pos> Title: text`` to `path`."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            positive = i % 2 == 1 if rng.random() < 0.5 else i % 2 == 0
            handle.write(f"__label__{labels[positive]} {review(rng, positive)}\n")
    return path


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models train many times faster on one thread than on two busy ones (OpenMP oversubscription)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def reviews_file(tmp_path_factory) -> Path:
    """400 balanced fastText lines with a learnable signal (session-wide, read-only)."""
    return write_fasttext(tmp_path_factory.mktemp("reviews") / "train.ft.txt", 400)


def kill_after_first_checkpoint(module: str, argv: list[str], folders: RunFolders, poll: float = 0.01) -> int:
    """Run ``python -m <module> <argv>`` offline on one thread, SIGKILL it as soon as `folders` holds a complete
    checkpoint (within 240 s), and return its exit status (``-SIGKILL``, unless it finished first)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", module, *argv], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while folders.last_checkpoint() is None:
            assert proc.poll() is None, f"the run ended before its first checkpoint:\n{proc.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(poll)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode
