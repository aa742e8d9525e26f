"""Fixtures for the Spaces tests: a real app server (subprocess, tiny models, loopback only) and small media files."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.servers import running

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 180  # seconds: importing torch + gradio on a busy 2-core machine is slow


@contextlib.contextmanager
def serving(args: list[str], cwd: Path = ROOT, timeout: float = START_TIMEOUT,
            extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``python <args> --host 127.0.0.1 --port P`` in `cwd` (with `extra_env`) until the page answers; yield its
    URL; stop it afterwards (`tests.servers.running`)."""
    env = {"GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_SERVER_NAME": None}  # loopback only, whatever the shell says
    env.update(extra_env or {})
    with tempfile.TemporaryDirectory(prefix="mmhub-test-voices-") as voices:  # the voice library: not the user's
        env["MMHUB_VOICES"] = voices
        with running([*args, "--host", "127.0.0.1"], "/", "space", timeout, cwd=cwd, env=env) as server:
            yield server.url + "/"


@pytest.fixture(scope="session")
def local_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two directories the app allows local models from: the tiny-model cache, and a folder holding a symlink that
    leads outside it (``escape``, to a copy of the tiny sentiment model) and a real sub-folder model (``inside``)."""
    import shutil

    from pipelines import tiny

    sentiment = tiny.build("sentiment")
    allowed = tmp_path_factory.mktemp("allowed-models")
    outside = tmp_path_factory.mktemp("not-allowed") / "sentiment"
    shutil.copytree(sentiment, outside)
    (allowed / "escape").symlink_to(outside, target_is_directory=True)
    return {"allowed": allowed, "tiny_cache": tiny.cache_dir(), "sentiment": sentiment, "outside": outside,
            "escape": allowed / "escape", "text_generation": tiny.build("text-generation")}


@pytest.fixture(scope="session")
def app_url(local_models: dict[str, Path]) -> Iterator[str]:
    """The whole tabbed app with tiny models, started once for every Spaces test module."""
    with serving(["-m", "spaces", "--models", "tiny", "--max-models", "3",
                  "--allow-local-models", str(local_models["tiny_cache"]),
                  "--allow-local-models", str(local_models["allowed"])]) as url:
        yield url


@pytest.fixture(scope="session")
def client(app_url: str):
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 64x48 PNG, a 4 s stereo 44.1 kHz tone (music) and a 0.5 s cut of it, a 4 s mono 16 kHz chirp (speech), a CSV
    of reviews; and hostile uploads: a corrupt PNG, a text file named .jpg, a corrupt and a silent WAV, an empty, a
    binary and a numbers-only CSV, the one-column CSV ``text\\nGreat!``, and a PNG for the CSV field."""
    import soundfile as sf
    from PIL import Image

    folder = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(folder / "image.png")
    t = np.arange(4 * 44100) / 44100
    music = 0.3 * np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)], axis=1)
    sf.write(folder / "music.wav", music.astype(np.float32), 44100)
    t = np.arange(4 * 16000) / 16000
    speech = 0.3 * np.sin(2 * np.pi * (150 + 100 * t) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    sf.write(folder / "speech.wav", speech.astype(np.float32), 16000)
    (folder / "reviews.csv").write_text('id,review\n1,"Świetny produkt, polecam!"\n2,Terrible quality.\n3,OK\n')
    sf.write(folder / "short.wav", music[: 44100 // 2].astype(np.float32), 44100)  # 0.5 s, for quick requests
    # hostile uploads
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(rng.integers(0, 255, 300, dtype=np.uint8)))
    (folder / "not-an-image.jpg").write_text("this is a text file, not a picture\n")
    (folder / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(40)))
    sf.write(folder / "silent.wav", np.zeros(44100, dtype=np.float32), 44100)
    (folder / "empty.csv").write_bytes(b"")
    (folder / "binary.csv").write_bytes(bytes(rng.integers(0, 255, 2000, dtype=np.uint8)) + b"\x00\x00")
    (folder / "numbers.csv").write_text("id,score\n1,2\n3,4\n")
    (folder / "one-column.csv").write_text("text\nGreat!")  # the case a letter-sniffing reader split at 't'
    (folder / "reviews.png").write_bytes((folder / "image.png").read_bytes())  # an image, for the CSV field
    return {"image": folder / "image.png", "music": folder / "music.wav", "speech": folder / "speech.wav",
            "csv": folder / "reviews.csv", "short": folder / "short.wav", "corrupt_png": folder / "corrupt.png",
            "text_jpg": folder / "not-an-image.jpg", "corrupt_wav": folder / "corrupt.wav",
            "silent_wav": folder / "silent.wav", "empty_csv": folder / "empty.csv",
            "binary_csv": folder / "binary.csv", "numbers_csv": folder / "numbers.csv",
            "one_column_csv": folder / "one-column.csv", "png_for_csv": folder / "reviews.png"}
