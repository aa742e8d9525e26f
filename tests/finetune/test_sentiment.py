"""finetune.sentiment end to end on the tiny model: it learns, resumes after SIGKILL, and loads into the pipeline."""

from __future__ import annotations

import json
import random
import signal
from pathlib import Path

import pytest
import torch

from finetune.sentiment import RunFolders, cli, main, make_parser
from pipelines import load
from tests.finetune.conftest import kill_after_first_checkpoint, review

STEPS = 120


def run_args(train_file: Path, output: Path, cache: Path, *extra: str) -> list[str]:
    """A short, learnable run: 320 training and 80 validation reviews, checkpoints every 20 steps."""
    return ["--model", "tiny", "--train-file", str(train_file), "--output-dir", str(output),
            "--cache-dir", str(cache), "--validation-size", "80", "--validation-fraction", "0.2",
            "--max-steps", str(STEPS), "--batch-size", "16",
            "--learning-rate", "3e-3", "--max-length", "64", "--eval-steps", "20", "--save-steps", "20",
            "--logging-steps", "5", *extra]


def parse(argv: list[str]):
    (args,) = make_parser().parse_args_into_dataclasses(args=argv)
    return args


@pytest.fixture(scope="module")
def trained(tmp_path_factory, reviews_file):
    """One uninterrupted run (in process): its output folder and metrics."""
    base = tmp_path_factory.mktemp("run")
    output = base / "model"
    metrics = main(parse(run_args(reviews_file, output, base / "cache")))
    return output, metrics


def test_loss_falls_and_accuracy_beats_chance(trained):
    output, metrics = trained
    losses = [e["loss"] for e in metrics["log_history"] if "loss" in e]
    assert len(losses) >= 10
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3, losses
    evals = [e["eval_macro_f1"] for e in metrics["log_history"] if "eval_macro_f1" in e]
    if metrics["global_step"] < STEPS:  # early stopping: three evaluations without a better macro-F1
        assert max(evals[-3:]) <= max(evals[:-3]), evals
    else:
        assert metrics["global_step"] == STEPS
    assert metrics["validation"]["samples"] == 80
    assert metrics["validation"]["accuracy"] >= 0.85, metrics["validation"]
    assert metrics["validation"]["macro_f1"] >= 0.85
    assert metrics["best_step"] in {20, 40, 60, 80, 100, 120}  # early stopping keeps the best checkpoint
    assert json.loads((output / "metrics.json").read_text())["validation"] == metrics["validation"]


def test_output_folder_is_complete_and_alone(trained):
    output, metrics = trained
    names = {p.name for p in output.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md", "metrics.json",
            "training_curve.png"} <= names
    assert not any(n.startswith("checkpoint") for n in names)
    assert not RunFolders(output).work.exists()  # checkpoints and staging are gone once the run is complete
    config = json.loads((output / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert (output / "training_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = (output / "README.md").read_text()
    assert f"{metrics['validation']['accuracy'] * 100:.2f} %" in card
    assert 'load("sentiment"' in card and "| `learning_rate` | `0.003` |" in card


def test_metrics_json_is_reproduced_through_load(trained, reviews_file):
    """The validation rows the trainer held out, through the pipeline: the same accuracy and macro-F1 (issue 18)."""
    from sklearn.metrics import f1_score

    from finetune.data import load_sentiment_data

    output, metrics = trained
    clf = load("sentiment", model=str(output))
    assert clf.max_length == 64  # --max-length, saved as the tokenizer's model_max_length (the model takes 128)
    assert json.loads((output / "tokenizer_config.json").read_text())["model_max_length"] == 64
    args = parse(run_args(reviews_file, output, output.parent / "cache"))
    data = load_sentiment_data(train_file=args.train_file, validation_size=args.validation_size, seed=args.seed,
                               validation_fraction=args.validation_fraction, cache_dir=args.cache_dir)
    truth = [data.labels[row["label"]] for row in data.validation]
    guess = [r.label for r in clf([row["text"] for row in data.validation])]
    assert len(truth) == metrics["validation"]["samples"]
    assert sum(t == g for t, g in zip(truth, guess, strict=True)) / len(truth) == pytest.approx(
        metrics["validation"]["accuracy"], abs=1e-12)
    assert f1_score(truth, guess, average="macro") == pytest.approx(metrics["validation"]["macro_f1"], abs=1e-12)


def test_loads_into_the_sentiment_pipeline(trained):
    output, _ = trained
    clf = load("sentiment", model=str(output))
    rng = random.Random(123)  # fresh reviews, not seen in training
    truth = [rng.random() < 0.5 for _ in range(40)]
    results = clf([review(rng, positive) for positive in truth])
    assert {r.label for r in results} <= {"positive", "negative"}
    assert all(set(r.scores) == {"negative", "neutral", "positive"} for r in results)
    correct = sum((r.label == "positive") == positive for r, positive in zip(results, truth, strict=True))
    assert correct >= 34, correct


def test_sigkill_then_resume_reaches_the_same_end(tmp_path, reviews_file, trained):
    _, uninterrupted = trained
    output = tmp_path / "model"
    argv = run_args(reviews_file, output, tmp_path / "cache")
    folders = RunFolders(output)
    returncode = kill_after_first_checkpoint("finetune.sentiment", argv, folders, poll=0.02)
    assert returncode == -signal.SIGKILL
    killed_at = int(Path(folders.last_checkpoint()).name.split("-")[1])
    assert killed_at < uninterrupted["global_step"]
    assert not output.exists()  # nothing half-written where the model goes

    # Without --resume, or with other arguments, the leftover checkpoints are not silently thrown away.
    assert cli(argv) == 2
    assert cli([*argv, "--resume", "--learning-rate", "1e-3"]) == 2
    assert folders.last_checkpoint() is not None

    resumed = main(parse([*argv, "--resume"]))
    assert resumed["global_step"] == uninterrupted["global_step"]  # STEPS, or the same early stop
    steps_logged = [e["step"] for e in resumed["log_history"] if "loss" in e]
    assert steps_logged[0] < killed_at < steps_logged[-1]  # the history spans both sessions
    # Same data order, RNG states and optimizer state: the resumed run retraces the uninterrupted one.
    def losses(metrics):
        return {e["step"]: e["loss"] for e in metrics["log_history"] if "loss" in e and e["step"] > killed_at}

    assert len(losses(resumed)) >= 10
    if torch.cuda.is_available():  # bf16 GPU kernels are not bit-reproducible: the same end, not the same path
        assert resumed["validation"]["accuracy"] >= 0.85
    else:
        assert losses(resumed) == pytest.approx(losses(uninterrupted), rel=1e-4)
        assert resumed["validation"]["loss"] == pytest.approx(uninterrupted["validation"]["loss"], rel=1e-4)
        assert resumed["validation"]["accuracy"] == uninterrupted["validation"]["accuracy"]
    assert (output / "model.safetensors").exists() and not folders.work.exists()


def test_refuses_to_overwrite_and_cleans_up_after_bad_data(tmp_path, reviews_file, trained, capsys):
    output, _ = trained
    assert cli(run_args(reviews_file, output, tmp_path / "cache")) == 2
    assert "exists and is not empty; pass --overwrite" in capsys.readouterr().err

    bad = tmp_path / "bad.ft.txt"
    bad.write_text(reviews_file.read_text() + "__label__7 seven stars: what\n")
    target = tmp_path / "never"
    assert cli(run_args(bad, target, tmp_path / "cache")) == 2
    assert "bad.ft.txt:401: unknown label '__label__7'" in capsys.readouterr().err
    assert not target.exists() and not RunFolders(target).work.exists()


def test_streaming_lora_three_classes(tmp_path):
    rng = random.Random(7)
    path = tmp_path / "stars.ft.txt"
    lines = []
    for _ in range(120):
        stars = rng.randint(1, 5)
        lines.append(f"__label__{stars} {review(rng, stars >= 3)}\n")
    path.write_text("".join(lines))
    output = tmp_path / "lora"
    metrics = main(parse(["--model", "tiny", "--train-file", str(path), "--output-dir", str(output), "--streaming",
                          "--max-samples", "64", "--validation-size", "20", "--batch-size", "16",
                          "--label-scheme", "stars", "--lora", "--eval-steps", "2", "--save-steps", "2",
                          "--logging-steps", "1"]))
    assert metrics["global_step"] == 4  # 64 samples / 16 per step, counted for the stream
    assert metrics["data"]["train_samples"] is None and metrics["data"]["label_scheme"] == "stars"
    assert metrics["labels"] == ["negative", "neutral", "positive"]
    names = {p.name for p in output.iterdir()}
    assert "adapter_config.json" not in names and "model.safetensors" in names  # LoRA merged into plain weights
    result = load("sentiment", model=str(output))("Great: works perfectly")
    assert result.label in {"negative", "neutral", "positive"}
    assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-4)


def test_unknown_lora_target_modules_is_a_one_line_error(tmp_path, reviews_file, capsys):
    target = tmp_path / "never"
    argv = [*run_args(reviews_file, target, tmp_path / "cache"), "--lora", "--lora-target-modules", "query,nope"]
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("error: --lora-target-modules: "), err
    assert "no module named 'nope' in this xlm-roberta model" in err and "valid names include" in err
    assert not target.exists() and not RunFolders(target).work.exists()
