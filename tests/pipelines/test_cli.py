"""The command line: `python -m pipelines list` and `run`, as a user types them."""

import json
import subprocess
import sys


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines", *args], capture_output=True, text=True, timeout=300)


def test_run_sentiment_prints_json():
    done = run_cli("run", "sentiment", "Świetny produkt!", "--model", "tiny")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["label"] in {"positive", "neutral", "negative"}
    assert abs(sum(result["scores"].values()) - 1) < 1e-5


def test_run_text_generation_streams_text():
    done = run_cli("run", "generate", "Ala ma kota", "--model", "tiny", "--param", "max_new_tokens=6",
                   "--param", "temperature=0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("\n") and done.stdout.strip()


def test_errors_are_one_line_and_exit_2():
    unknown_task = run_cli("run", "sentimnt", "x")
    assert unknown_task.returncode == 2 and "Did you mean 'sentiment'" in unknown_task.stderr
    bad_param = run_cli("run", "sentiment", "  ", "--model", "tiny")
    assert bad_param.returncode == 2 and "`inputs` must be non-empty text" in bad_param.stderr
    offline = run_cli("run", "sentiment", "x", "--model", "nobody/nothing")
    assert offline.returncode == 2 and "cannot be reached" in offline.stderr


def test_run_saves_outputs_and_shows_progress(tmp_path):
    from PIL import Image

    for name, size in (("content.png", (40, 32)), ("style.png", (24, 24))):
        Image.new("RGB", size, (200, 30, 90) if name == "style.png" else (20, 120, 200)).save(tmp_path / name)
    done = run_cli("run", "style-transfer", str(tmp_path / "content.png"), "--model", "tiny",
                   "--param", f"style={tmp_path / 'style.png'}", "--param", "steps=3",
                   "--output", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "3/3" in done.stderr  # the tqdm bar fed by the pipeline's progress callback
    assert Image.open(tmp_path / "out" / "image_0.png").size == (40, 32)
    assert json.loads(done.stdout)["image"] == {"image": {"size": [40, 32], "mode": "RGB"}}
