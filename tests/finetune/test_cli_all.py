"""Every trainer's command line: argparse's own errors, --seed and --max-steps are one ``error: ...`` line naming
``python -m finetune.X`` or the flag, exit status 2, before anything loads."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRAINERS = ("sentiment", "lm", "sd_lora", "digits", "vae", "gan", "metric")


def run_cli(module: str, argv: list[str], capsys) -> tuple[int, list[str]]:
    code = importlib.import_module(f"finetune.{module}").cli(argv)
    return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize("module", TRAINERS)
def test_argparse_errors_are_one_line_naming_the_module(module, capsys):
    code, lines = run_cli(module, ["--output-dir", "never", "--max-steps", "abc"], capsys)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: argument --max_steps/--max-steps: invalid int value: 'abc'")
    assert f"(see python -m finetune.{module} --help)" in lines[0]


@pytest.mark.parametrize("module", ["digits", "vae", "gan", "lm", "metric"])
@pytest.mark.parametrize(("flags", "fragment"), [
    (["--seed", "-1"], "`--seed` must be an integer from 0 to 4294967295; got -1"),
    (["--seed", str(2**32)], "`--seed` must be an integer from 0 to 4294967295"),
    (["--max-steps", "0"], "`--max-steps` must be an integer from 1 to"),
    (["--max-steps", "-3"], "`--max-steps` must be an integer from 1 to"),
])
def test_seed_and_max_steps_are_checked(module, flags, fragment, tmp_path, capsys):
    code, lines = run_cli(module, ["--output-dir", str(tmp_path / "never"), *flags], capsys)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("ratio", ["1", "1.5", "-0.1"])
def test_sentiment_warmup_ratio_is_below_one(ratio, capsys):
    # a ratio reaches the Trainer as warmup_steps, where 1.0 means one step (TrainingArguments.get_warmup_steps)
    code, lines = run_cli("sentiment", ["--output-dir", "never", "--train-file", "x", "--warmup-ratio", ratio], capsys)
    assert code == 2 and len(lines) == 1 and "`--warmup-ratio` must be a number in [0, 1)" in lines[0], lines


@pytest.mark.parametrize(("flags", "fragment"), [
    (["--precision", "fp8"], "`--precision` must be one of"),
    (["--data-format", "xml"], "`--data-format` must be one of"),
    (["--chat-format", "html"], "`--chat-format` must be one of"),
    (["--packing-strategy", "zip"], "`--packing-strategy` must be one of"),
])
def test_lm_choices_name_their_flag(flags, fragment, tmp_path, capsys):
    code, lines = run_cli("lm", ["--output-dir", str(tmp_path / "never"), "--dataset", "x.jsonl", *flags], capsys)
    assert code == 2 and len(lines) == 1 and fragment in lines[0], lines


def test_python_dash_m_names_itself():
    """Run as ``python -m`` the arguments' dataclass lives in __main__: the name still comes from the module."""
    done = subprocess.run([sys.executable, "-m", "finetune.digits", "--bogus-flag"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "python -m finetune.digits --help" in lines[0], done.stderr


@pytest.mark.parametrize("module", ["digits", "vae", "gan"])
@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda:99"])
def test_device_is_checked_when_parsed(module, device, tmp_path, capsys):
    import torch

    if device == "cuda:99" and not torch.cuda.is_available():
        device = "cuda"  # no GPU here: any CUDA device is refused
    code, lines = run_cli(module, ["--output-dir", str(tmp_path / "never"), "--device", device], capsys)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: --device"), lines
    assert f"'{device}'" in lines[0] or "this machine has" in lines[0]
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("module", ["digits", "vae", "gan"])
def test_lab_trainers_refuse_several_processes(module, tmp_path, capsys, monkeypatch):
    """Their loops are single-process: under torchrun (WORLD_SIZE=2) each process would train alone and race the
    others for the output folder."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    code, lines = run_cli(module, ["--output-dir", str(tmp_path / "never")], capsys)
    assert code == 2 and len(lines) == 1 and f"finetune.{module} trains in one process" in lines[0], lines
    assert "WORLD_SIZE=2" in lines[0] and not (tmp_path / "never").exists()


@pytest.mark.parametrize(("rank", "printed"), [(None, True), ("0", True), ("1", False)])
def test_only_the_main_process_prints_the_summary(rank, printed, capsys, monkeypatch):
    import dataclasses

    from finetune.run import cli_main

    @dataclasses.dataclass
    class Args:
        output_dir: str = "x"

    if rank is not None:
        monkeypatch.setenv("RANK", rank)
    else:
        monkeypatch.delenv("RANK", raising=False)
    assert cli_main([], Args, lambda args: {"steps": 3}, lambda result, args: f"Trained {result['steps']} steps",
                    "test") == 0
    assert ("Trained 3 steps" in capsys.readouterr().out) is printed
