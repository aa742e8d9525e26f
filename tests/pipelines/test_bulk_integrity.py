"""Bulk runs never lose or double a record: two runs on one output (real processes), a resume after the input
changed, an output line edited by hand, --output that is the input, and corrupt or hostile input files. After each
refusal the same process runs a good file."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines import InputError, bulk, jsonl
from pipelines.cli import main as cli
from pipelines.run_guard import RunLock
from tests.pipelines.test_bulk import ENV, ROOT, read_out, write_reviews


class Interrupt(Exception):
    """Raised from inside a run after its first batch, as a crash would stop it."""


def interrupted(monkeypatch, source: Path, out: Path, after: int = 1) -> None:
    """Run sentiment over `source` into `out`, stopping with an error after `after` batches of 4."""
    calls = {"n": 0}
    process = bulk._process

    def failing(*args, **kwargs):
        if calls["n"] >= after:
            raise Interrupt
        calls["n"] += 1
        return process(*args, **kwargs)

    monkeypatch.setattr(bulk, "_process", failing)
    with pytest.raises(Interrupt):
        bulk.run("sentiment", source, out, model="tiny", device="cpu", batch_size=4, progress=False)
    monkeypatch.setattr(bulk, "_process", process)


def test_two_runs_on_one_output_at_once_one_is_refused_and_the_other_writes_every_line_once(tmp_path):
    """Two processes start the same command at once: one takes the output's lock, the other is refused at once
    naming the first; the output then holds every input line once, in order (no interleaving)."""
    inputs = write_reviews(tmp_path / "reviews.txt", 200, seed=3, blank_every=50)
    out = tmp_path / "out.jsonl"
    argv = [sys.executable, "-m", "pipelines", "run", "sentiment", "--model", "tiny", "--device", "cpu",
            "--input", str(tmp_path / "reviews.txt"), "--output", str(out), "--batch-size", "4"]
    runs = [subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    try:
        errors = [run.communicate(timeout=240)[1] for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
    assert sorted(run.returncode for run in runs) == [0, 2], errors
    winner, loser = (0, 1) if runs[0].returncode == 0 else (1, 0)
    error = errors[loser].strip().splitlines()[-1]
    assert error.startswith("error: `output` must be an output that no other run is writing") and \
        f"Another run holds out.jsonl.lock (process {runs[winner].pid}" in error, error
    assert [o["line"] for o in read_out(out)] == [n for n, _ in inputs]
    assert not (tmp_path / "out.jsonl.lock").exists()


def test_a_lock_dies_with_its_process(tmp_path):
    """SIGKILL leaves the lock file behind, never the lock: the kernel drops a flock with its process."""
    target = tmp_path / "out.jsonl"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom pipelines.run_guard import RunLock\n"
                               f"RunLock({str(target)!r}).acquire()\nprint('held', flush=True)\ntime.sleep(120)"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(InputError, match=f"process {holder.pid}"):
            RunLock(target).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert (tmp_path / "out.jsonl.lock").exists()
    with RunLock(target) as lock:
        assert lock.held


def test_a_resume_after_the_input_changed_is_refused(tmp_path, monkeypatch):
    source, out = tmp_path / "reviews.txt", tmp_path / "out.jsonl"
    inputs = write_reviews(source, 20)
    interrupted(monkeypatch, source, out)
    assert len(read_out(out)) == 4
    original = source.read_bytes()
    source.write_bytes(original.replace(b"\n", b"!\n", 1))  # one review edited
    with pytest.raises(InputError, match=r"It changed since that run: --input .* has the same size|was \d+ bytes"):
        bulk.run("sentiment", source, out, model="tiny", device="cpu", batch_size=4, progress=False)
    assert len(read_out(out)) == 4  # nothing written over the old results
    source.write_bytes(original)  # restored (the same bytes: the content is what counts)
    summary = bulk.run("sentiment", source, out, model="tiny", device="cpu", batch_size=4, progress=False)
    assert summary.resumed_after == inputs[3][0] and [o["line"] for o in read_out(out)] == [n for n, _ in inputs]
    source.write_text("Another file altogether.\n")  # a finished output is not "complete" for another input
    with pytest.raises(InputError, match="It changed since that run"):
        bulk.run("sentiment", source, out, model="tiny", device="cpu", progress=False)


def test_an_output_line_edited_by_hand_is_an_error_naming_it(tmp_path, monkeypatch, capsys):
    source, out = tmp_path / "reviews.txt", tmp_path / "out.jsonl"
    write_reviews(source, 12)
    interrupted(monkeypatch, source, out, after=2)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text(lines[0] + "I fixed this result by hand\n" + "".join(lines[2:]))
    argv = ["run", "sentiment", "--model", "tiny", "--device", "cpu", "--input", str(source), "--output", str(out)]
    assert cli(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "`output` must be a JSON-lines file this command wrote; got '" in error and "not JSON" in error
    assert f"{out}:2" in error  # the whole file:line, however long the path (`got` is cut at 80 characters)
    out.write_text("".join(lines[:1] + lines[2:3] + lines[1:2] + lines[3:]))  # two results swapped
    assert cli(argv) == 2
    assert f"{out}:3: line 3 is input line 2 after input line 3 (doubled or out of order)" in capsys.readouterr().err
    out.write_text("".join(lines))  # restored: the run finishes, and a finished output is checked too
    assert cli(argv) == 0 and len(read_out(out)) == 12
    finished = out.read_text()
    out.write_text(finished.replace('"line": 5', '"line": "5"', 1))
    assert cli(argv) == 2 and f"{out}:5" in capsys.readouterr().err
    out.write_text("".join(finished.splitlines(keepends=True)[:-1]))  # the last result deleted by hand
    assert cli(argv) == 2 and "It holds 11 lines where that run wrote 12" in capsys.readouterr().err


def test_overwrite_never_replaces_the_input(tmp_path, capsys):
    source = tmp_path / "in.txt"
    write_reviews(source, 5)
    before = source.read_bytes()
    (tmp_path / "link.txt").symlink_to(source)
    for output in (source, tmp_path / "." / "in.txt", tmp_path / "link.txt"):  # however it is spelt
        assert cli(["run", "sentiment", "--model", "tiny", "--input", str(source), "--output", str(output),
                    "--overwrite"]) == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert "`output` must be a path that is not an input (--input)" in error
    assert source.read_bytes() == before and not (tmp_path / "in.txt.run.json").exists()


def hostile_files(folder: Path) -> dict[str, Path]:
    good = "\n".join(f"Line {i}: a review of a product, number {i}." for i in range(4000)).encode()
    compressed = bytearray(gzip.compress(good))
    for k in range(2000, 2100):
        compressed[k] ^= 0x55  # damage inside the deflate stream: zlib.error, not an OSError
    (folder / "corrupt.txt.gz").write_bytes(bytes(compressed))
    (folder / "truncated.txt.gz").write_bytes(gzip.compress(good)[:3000])
    (folder / "deep.jsonl").write_text('{"text": "ok"}\n' + "[" * 200_000 + "]" * 200_000 + '\n{"text": "fine"}\n')
    (folder / "digits.jsonl").write_text('{"text": "ok"}\n{"text": "x", "n": ' + "9" * 5000 + '}\n')
    return {name: folder / name for name in ("corrupt.txt.gz", "truncated.txt.gz", "deep.jsonl", "digits.jsonl")}


@pytest.mark.parametrize(("name", "message"), [
    ("corrupt.txt.gz", "the gz data is corrupt"),
    ("truncated.txt.gz", "the gz data is truncated"),
    ("deep.jsonl", ":2: JSON nested deeper than Python's parser allows"),
    ("digits.jsonl", ":2: a JSON number with more than 4300 digits"),
])
def test_hostile_input_files_stop_with_the_file_and_line(tmp_path, capsys, name, message):
    source = hostile_files(tmp_path)[name]
    out = tmp_path / "out.jsonl"
    assert cli(["run", "sentiment", "--model", "tiny", "--device", "cpu", "--input", str(source), "--output",
                str(out), "--on-error", "fail"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: `input` must be") and f"{source}:" in error and message in error, error
    good = tmp_path / "good.txt"
    good.write_text("Great product.\n")
    assert cli(["run", "sentiment", "--model", "tiny", "--device", "cpu", "--input", str(good), "--output",
                str(tmp_path / "good.jsonl")]) == 0


def test_a_skipped_hostile_line_is_that_line_s_error(tmp_path):
    out = tmp_path / "out.jsonl"
    bulk.run("sentiment", hostile_files(tmp_path)["deep.jsonl"], out, model="tiny", device="cpu", progress=False)
    lines = read_out(out)
    assert [o["line"] for o in lines] == [1, 2, 3] and "nested deeper" in lines[1]["error"]
    assert "result" in lines[0] and "result" in lines[2]
    assert json.loads((tmp_path / "out.jsonl.run.json").read_text())["input_fingerprint"]["hashed"] == "all"
    assert jsonl.check(out) == (3, 3) and not os.path.exists(tmp_path / "out.jsonl.lock")
