"""The API server for the API tests: one ``python -m spaces`` process (tiny models, an API key, its own voices and
allowed folder) shared by the modules that talk to it, and the small media files they send."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.servers import Server, running

KEY = "test-key-0123456789"
START_TIMEOUT = 240  # seconds: importing torch + gradio and building every tab on a busy 2-core machine


@dataclass
class Api:
    """A running server: its base URL, its key, its log, and the folders it was given."""

    server: Server
    key: str
    voices: Path
    runs: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def openai(self):
        import openai

        return openai.OpenAI(base_url=self.url + "/v1", api_key=self.key, max_retries=0, timeout=120)

    def hf(self, task: str):
        from huggingface_hub import InferenceClient

        return InferenceClient(model=f"{self.url}/models/{task}", api_key=self.key, timeout=120)


def start(tmp: Path, *extra: str) -> Iterator[Server]:
    """``python -m spaces`` on tiny models with `KEY`, the voices under `tmp`/voices, `tmp`/runs allowed."""
    (tmp / "voices").mkdir(exist_ok=True)
    (tmp / "runs").mkdir(exist_ok=True)
    args = ["-m", "spaces", "--models", "tiny", "--host", "127.0.0.1", "--api-key", KEY, "--max-models", "4",
            "--voices-dir", str(tmp / "voices"), "--allow-local-models", str(tmp / "runs"), *extra]
    env = {"GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_SERVER_NAME": None, "MMHUB_API_KEY": None,
           "OMP_NUM_THREADS": "1"}
    return running(args, "/health", "mmhub-api", START_TIMEOUT, env=env)


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The server every API test module shares: queue of 1 per task (the 429 test relies on it), 4 MB bodies."""
    tmp = tmp_path_factory.mktemp("api")
    runs = tmp / "runs"
    runs.mkdir()
    from finetune.catalog import write_run_info

    (runs / "my-chat-lora").mkdir()
    write_run_info(runs / "my-chat-lora", task="text-generation", trainer="finetune.lm", base_model="tiny-chat",
                   adapter=True)
    with start(tmp, "--api-queue", "1", "--max-file-size", "4mb") as server:
        yield Api(server, KEY, tmp / "voices", runs)


def speech_clip(seconds: float = 4.0, rate: int = 16000) -> np.ndarray:
    """A voiced chirp with a syllable rhythm: what the voice checks take as speech (tests/spaces/conftest's)."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * (150 + 100 * t) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def wav_bytes(audio: np.ndarray, rate: int) -> bytes:
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format="WAV")
    return buffer.getvalue()


def png_bytes(size: tuple[int, int] = (64, 64), seed: int = 0) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def digit_png() -> bytes:
    """A dark "1" stroke on white paper, 28x28 (what the digit check takes as a drawing)."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (28, 28), 255)
    ImageDraw.Draw(image).line([(14, 4), (14, 24)], fill=0, width=3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
