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
