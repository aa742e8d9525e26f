"""Bulk inference (`python -m pipelines run TASK --input FILE --output OUT.jsonl`) on the tiny models: the same results
as one in-memory call, resumption after SIGKILL with no duplicates and no gaps, several processes, a server."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines import InputError, bulk, jsonl, load
from pipelines.cli import main as cli
from tests.finetune.conftest import review
from tests.servers import free_port, run_launcher

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
       "TRANSFORMERS_VERBOSITY": "error"}


def write_reviews(path: Path, n: int, seed: int = 0, blank_every: int = 0) -> list[tuple[int, str]]:
    """`n` reviews, one per line (a blank line every `blank_every`); returns (line number, text) of each."""
    rng, lines, inputs = random.Random(seed), [], []
    for i in range(n):
        if blank_every and i % blank_every == blank_every - 1:
            lines.append("")
        lines.append(review(rng, rng.random() < 0.5))
        inputs.append((len(lines), lines[-1]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return inputs


def read_out(path: Path) -> list[dict]:
    return list(jsonl.read(path))


@pytest.fixture(scope="module")
def clf():
    return load("sentiment", model="tiny", device="cpu")


def test_results_equal_one_in_memory_call_in_input_order(tmp_path, clf):
    inputs = write_reviews(tmp_path / "reviews.txt", 150, blank_every=40)
    out = tmp_path / "out.jsonl"
    summary = bulk.run("sentiment", tmp_path / "reviews.txt", out, model="tiny", device="cpu", batch_size=32,
                       progress=False)
    assert summary.written == summary.total == 150 and summary.errors == 0
    lines = read_out(out)
    assert [o["line"] for o in lines] == [n for n, _ in inputs]  # every input once, in order, blank lines skipped
    expected = clf([text for _, text in inputs])
    assert [o["result"]["label"] for o in lines] == [r.label for r in expected]
    for got, want in zip(lines, expected, strict=True):
        assert got["result"]["scores"] == pytest.approx(want.scores, abs=1e-5)


def test_bad_lines_are_reported_skipped_or_fatal(tmp_path, capsys, caplog):
    path = tmp_path / "reviews.jsonl"
    path.write_text('{"text": "Great: works"}\n{"text": ""}\n{"txt": "typo"}\n{broken\n{"text": "Fine."}\n')
    out = tmp_path / "out.jsonl"
    assert cli(["run", "sentiment", "--model", "tiny", "--device", "cpu", "--input", str(path), "--output",
                str(out)]) == 0
    lines = read_out(out)
    assert [o["line"] for o in lines] == [1, 2, 3, 4, 5]
    assert [("error" in o) for o in lines] == [False, True, True, True, False]
    assert f"{path}:2: skipped" in caplog.text and f"{path}:4: skipped: not JSON" in caplog.text
    assert "wrote 5 lines (3 bad)" in capsys.readouterr().err

    code = cli(["run", "sentiment", "--model", "tiny", "--input", str(path), "--output", str(tmp_path / "f.jsonl"),
                "--on-error", "fail"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    # the whole file:line is in the hint (the `got` value is cut at 80 characters, as every InputError's)
    assert err[-1].startswith("error: `input` must be a file whose every line is a valid input")
    assert f"{path}:2: the field 'text' is empty" in err[-1]


@pytest.mark.parametrize(("argv", "message"), [
    (["--input", "/nonexistent/reviews.txt"], "`input` must be an existing file"),
    (["--input", "{csv}", "--column", "review"], "`column` must be one of the CSV columns ['id', 'body']"),
    (["--input", "{csv}", "--column", "body", "--param", "batch_size=0"], "`batch_size` must be"),
    (["--input", "{csv}", "--column", "body", "--batch-size", "0"], "`batch_size` must be"),
    (["--input", "{csv}", "--column", "body", "--output", "/nonexistent/dir/out.jsonl"], "`output` must be a path"),
    (["--input", "{csv}"], "`column` must be one of the CSV columns"),
    (["--input", "{empty}"], "`input` must be a file with at least one input"),
    (["Great product", "--column", "body"], "`--column` must be given together with --input FILE"),
    (["--input", "{csv}", "--column", "body", "Also one input"], "`input` must be one input, or --input FILE"),
])
def test_bad_invocations_are_one_line_errors(tmp_path, capsys, argv, message):
    csv = tmp_path / "reviews.csv"
    csv.write_text("id,body\n1,Great\n")
    (tmp_path / "empty.txt").write_text("\n  \n")
    argv = [a.replace("{csv}", str(csv)).replace("{empty}", str(tmp_path / "empty.txt")) for a in argv]
    if "--output" not in argv and "--input" in argv:
        argv += ["--output", str(tmp_path / "out.jsonl")]
    assert cli(["run", "sentiment", "--model", "tiny", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1], err


def test_resuming_needs_the_same_settings_and_never_clobbers_other_files(tmp_path, capsys):
    write_reviews(tmp_path / "reviews.txt", 20)
    out = tmp_path / "out.jsonl"
    bulk.run("sentiment", tmp_path / "reviews.txt", out, model="tiny", device="cpu", progress=False)
    with pytest.raises(InputError, match="task was 'sentiment', now 'text-generation'"):
        bulk.run("text-generation", tmp_path / "reviews.txt", out, model="tiny", progress=False)
    again = bulk.run("sentiment", tmp_path / "reviews.txt", out, model="tiny", device="cpu", batch_size=3,
                     progress=False)  # another batch size is fine; the output is complete
    assert again.already_complete and again.total == 20
    other = tmp_path / "notes.jsonl"
    other.write_text('{"mine": true}\n')
    with pytest.raises(InputError, match="was not written by a bulk run"):
        bulk.run("sentiment", tmp_path / "reviews.txt", other, model="tiny", progress=False)
    assert other.read_text() == '{"mine": true}\n'
    assert bulk.run("sentiment", tmp_path / "reviews.txt", other, model="tiny", overwrite=True,
                    progress=False).total == 20


def test_sigkill_then_rerun_gives_every_line_once_in_order(tmp_path, capsys):
    inputs = write_reviews(tmp_path / "reviews.txt", 1200, seed=1, blank_every=97)
    out = tmp_path / "out.jsonl"
    argv = [sys.executable, "-m", "pipelines", "run", "sentiment", "--model", "tiny", "--device", "cpu",
            "--input", str(tmp_path / "reviews.txt"), "--output", str(out), "--batch-size", "8"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not out.exists() or out.stat().st_size < 20_000:  # ~130 lines written
            assert proc.poll() is None, f"the run ended before it could be killed:\n{proc.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, "no output within 180 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    with open(out, "rb") as handle:
        before = handle.read().count(b"\n")
    assert 0 < before < len(inputs)

    assert cli(argv[3:]) == 0  # the same command again (in this process)
    assert "resumed after input line" in capsys.readouterr().err
    lines = read_out(out)
    assert [o["line"] for o in lines] == [n for n, _ in inputs]  # no duplicates, no gaps, input order

    uninterrupted = tmp_path / "once.jsonl"
    bulk.run("sentiment", tmp_path / "reviews.txt", uninterrupted, model="tiny", device="cpu", batch_size=8,
             progress=False)
    assert [o["result"]["label"] for o in lines] == [o["result"]["label"] for o in read_out(uninterrupted)]


def test_two_processes_split_the_input_and_merge_it_in_order(tmp_path):
    """``accelerate launch --multi_gpu --num_processes 2`` (torchrun underneath; gloo on a machine without CUDA).

    Not ``--cpu``: accelerate 1.15 starts a single process for ``--cpu --num_processes 2`` unless MPI is configured
    (``commands/launch.py``: ``--cpu`` takes ``simple_launcher``, which only spawns several processes with
    ``--mpirun_hostfile``).
    """
    inputs = write_reviews(tmp_path / "reviews.txt", 120, seed=2, blank_every=30)
    out = tmp_path / "out.jsonl"
    launcher = Path(sys.executable).with_name("accelerate")
    argv = [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--main_process_port",
            str(free_port()), "-m", "pipelines", "run", "sentiment", "--model", "tiny", "--input",
            str(tmp_path / "reviews.txt"), "--output", str(out), "--batch-size", "16"]
    done = run_launcher(argv, timeout=300, cwd=ROOT, env=ENV)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "merged from the processes' parts" in done.stderr
    lines = read_out(out)
    assert [o["line"] for o in lines] == [n for n, _ in inputs]
    assert not list(tmp_path.glob("out.jsonl.part*"))
    settings = json.loads((tmp_path / "out.jsonl.run.json").read_text())
    assert settings["processes"] == 2 and settings["complete"] and settings["lines"] == 120
    single = bulk.run("sentiment", tmp_path / "reviews.txt", tmp_path / "single.jsonl", model="tiny", device="cpu",
                      batch_size=16, progress=False)
    assert single.total == 120
    assert [o["result"]["label"] for o in lines] == [o["result"]["label"] for o in read_out(tmp_path / "single.jsonl")]


def test_text_generation_fans_out_to_a_server(tmp_path, llm_server):
    prompts = ["Ala ma kota", "Zażółć gęślą jaźń", "The quick brown fox", "Hej", "Dawno, dawno temu"]
    (tmp_path / "prompts.txt").write_text("\n".join(prompts) + "\n")
    out = tmp_path / "out.jsonl"
    code = cli(["run", "text-generation", "--model", "tiny", "--input", str(tmp_path / "prompts.txt"), "--output",
                str(out), "--endpoint", llm_server.api, "--batch-size", "3", "--param", "max_new_tokens=6",
                "--param", "temperature=0"])
    assert code == 0
    local = load("text-generation", model="tiny", device="cpu")(prompts, max_new_tokens=6, temperature=0)
    assert [o["result"] for o in read_out(out)] == [r.to_dict() for r in local]



def test_a_bad_prompt_in_the_middle_of_a_batch_is_that_line_s_error(tmp_path, capsys):
    """Text generation names a batch's bad prompt `prompt[i]`: the bulk runner reports that line, not the run."""
    from pipelines.generation_params import MAX_PROMPT_CHARS

    path, out = tmp_path / "prompts.jsonl", tmp_path / "out.jsonl"
    path.write_text("".join(json.dumps({"text": text}) + "\n"
                            for text in ("Ala ma kota", "x" * (MAX_PROMPT_CHARS + 1), "Dawno temu")))
    assert cli(["run", "text-generation", "--model", "tiny", "--device", "cpu", "--input", str(path),
                "--output", str(out), "--batch-size", "3", "--param", "max_new_tokens=2",
                "--param", "temperature=0"]) == 0, capsys.readouterr().err
    lines = read_out(out)
    assert [o["line"] for o in lines] == [1, 2, 3] and [("error" in o) for o in lines] == [False, True, False]
    assert lines[1]["error"].startswith("`prompt[0]` must be")


def test_batch_size_with_an_endpoint_is_at_most_the_concurrency_limit(tmp_path, capsys):
    """With --endpoint a batch is that many requests in flight: refused as --batch-size, before anything is
    written or any server is asked (nothing listens on port 9)."""
    from pipelines.text_generation_remote import MAX_CONCURRENCY

    assert bulk.MAX_CONCURRENCY == MAX_CONCURRENCY  # one limit, two modules (bulk must not import openai)
    path, out = tmp_path / "prompts.txt", tmp_path / "out.jsonl"
    path.write_text("Ala ma kota\n")
    argv = ["run", "text-generation", "--input", str(path), "--output", str(out), "--endpoint", "http://127.0.0.1:9/v1"]
    assert cli([*argv, "--batch-size", str(MAX_CONCURRENCY + 1)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: `batch_size` must be an integer from 1 to {MAX_CONCURRENCY}") and "in flight" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prompts.txt"]
