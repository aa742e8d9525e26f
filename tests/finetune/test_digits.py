"""finetune.digits end to end on scikit-learn's digits: it learns, resumes after SIGKILL, loads into both pipelines."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from finetune.digits import DigitsArguments, cli, default_output_dir, main, make_parser, shift
from finetune.image_data import write_fixture
from finetune.run import RunFolders
from pipelines import load
from tests.finetune.conftest import kill_after_first_checkpoint

STEPS = 160


def run_args(output: Path, *extra: str) -> list[str]:
    """A short learnable run on sklearn-digits: batches of 32, evaluation and a checkpoint every 20 steps."""
    return ["--dataset", "sklearn-digits", "--output-dir", str(output), "--max-steps", str(STEPS), "--batch-size",
            "32", "--validation-size", "200", "--validation-fraction", "0.2",
            "--eval-steps", "20", "--save-steps", "20", "--logging-steps", "5",
            "--learning-rate", "3e-3", "--device", "cpu", *extra]


def parse(argv: list[str]) -> DigitsArguments:
    (args,) = make_parser().parse_args_into_dataclasses(args=argv)
    return args


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    output = tmp_path_factory.mktemp("run") / "model"
    return output, main(parse(run_args(output)))


def test_it_learns(trained):
    _, metrics = trained
    losses = [e["loss"] for e in metrics["log_history"] if "loss" in e]
    assert losses[-1] < 0.5 * losses[0]
    assert metrics["validation"]["accuracy"] > 0.8 and metrics["test"]["accuracy"] > 0.8  # chance: 0.1
    assert metrics["test"]["samples"] == 359 and metrics["data"]["validation_samples"] == 200
    assert metrics["labels"] == [str(i) for i in range(10)] and metrics["train_samples_per_second"] > 0


def test_output_folder_is_complete_and_loads_into_both_pipelines(trained):
    output, metrics = trained
    assert {p.name for p in output.iterdir()} == {"config.json", "model.safetensors", "README.md", "metrics.json",
                                                  "training_curve.png", "preprocessor_config.json"}
    # sklearn-digits are MNIST-prepared (20x20 box, white on black): drawings get MNIST's own layout
    prepared = json.loads((output / "preprocessor_config.json").read_text())
    assert (prepared["sketch_box"], prepared["ink"]) == (20, "light-on-dark")
    assert not RunFolders(output).work.exists()
    config = json.loads((output / "config.json").read_text())
    assert (config["fc1_units"], config["fc2_units"], config["num_classes"]) == (120, 100, 10)
    card = (output / "README.md").read_text()
    assert "pipeline_tag: image-classification" in card and "| test | 359 |" in card and "LeNet-5" in card
    assert json.loads((output / "metrics.json").read_text())["global_step"] == metrics["global_step"]
    dr = load("digit-recognition", model=str(output), device="cpu")
    from pipelines.mnist import sklearn_digits

    images, labels = sklearn_digits()
    assert sum(dr(images[i]).label == labels[i] for i in range(4, 1797, 45)) >= 32  # test pictures: 40
    # drawings from the canvas: each test digit drawn large and off-centre on a transparent 300x300 sketch pad
    drawn = []
    for i in range(4, 1797, 90):
        canvas = np.zeros((300, 300, 4), dtype=np.uint8)
        canvas[40:180, 120:260, 3] = np.asarray(Image.fromarray(images[i]).resize((140, 140)))
        drawn.append(dr({"composite": canvas, "layers": [], "background": None}).label == labels[i])
    assert sum(drawn) >= 0.75 * len(drawn)
    am = load("activation-maximisation", model=str(output), device="cpu")
    result = am(4, steps=40, seed=0)
    assert result.history[-1][4] > 0.5 > result.history[0][4]


def test_sigkill_then_resume_reaches_the_same_end(tmp_path, trained):
    _, uninterrupted = trained
    output = tmp_path / "model"
    argv = run_args(output)
    folders = RunFolders(output)
    returncode = kill_after_first_checkpoint("finetune.digits", argv, folders)
    if returncode != -signal.SIGKILL or folders.last_checkpoint() is None:
        pytest.skip("the run finished before it could be killed (a very fast machine)")
    killed_at = int(Path(folders.last_checkpoint()).name.split("-")[1])
    assert killed_at < uninterrupted["global_step"]
    assert not output.exists()

    assert cli(argv) == 2  # leftover checkpoints are not silently thrown away
    assert cli([*argv, "--resume", "--learning-rate", "1e-3"]) == 2  # a resume must repeat the arguments
    resumed = main(parse([*argv, "--resume"]))
    assert resumed["global_step"] == uninterrupted["global_step"]

    def losses(metrics):
        return {e["step"]: e["loss"] for e in metrics["log_history"] if "loss" in e and e["step"] > killed_at + 5}

    assert len(losses(resumed)) >= 5
    assert losses(resumed) == pytest.approx(losses(uninterrupted), rel=1e-4)
    assert resumed["test"]["accuracy"] == uninterrupted["test"]["accuracy"]
    assert (output / "model.safetensors").exists() and not folders.work.exists()


def test_default_output_is_where_load_looks_and_progress_can_stop(tmp_path, monkeypatch):
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path / "cache"))
    assert default_output_dir() == str(tmp_path / "cache" / "models" / "digit-recognition")
    seen = []

    def stop_at_three(step, total, info):
        seen.append((step, total, info["stage"]))
        return step < 3

    args = DigitsArguments(dataset="sklearn-digits", max_steps=50, batch_size=16, eval_steps=10, save_steps=10)
    with pytest.raises(KeyboardInterrupt):
        main(args, progress=stop_at_three)
    assert seen == [(1, 50, "train"), (2, 50, "train"), (3, 50, "train")]
    args = DigitsArguments(dataset="sklearn-digits", max_steps=10, batch_size=16, eval_steps=10, save_steps=10,
                           overwrite=True)
    main(args)
    assert load("digit-recognition", device="cpu").model_id == "local:digit-recognition"


def test_trains_from_a_local_mnist_schema_folder(tmp_path):
    folder = write_fixture(tmp_path / "digits", per_class=8, format="saved")
    metrics = main(DigitsArguments(dataset=str(folder), output_dir=str(tmp_path / "out"), max_steps=4,
                                   batch_size=8, validation_size=10, eval_steps=2, save_steps=2))
    assert metrics["global_step"] == 4 and metrics["data"]["source"] == str(folder)
    assert metrics["data"]["train_samples"] == 72  # 8 of 80 held out


@pytest.mark.parametrize(("extra", "message"), [
    (["--learning-rate", "0"], "--learning-rate"),
    (["--batch-size", "0"], "--batch-size"),
    (["--augment-shift", "9"], "--augment-shift"),
    (["--save-steps", "30", "--early-stopping-patience", "2"], "multiple of --eval-steps"),
    (["--resume", "--overwrite"], "contradict"),
    (["--dataset", "ylecun/mnist"], "cannot be reached"),
    (["--dataset", "./nowhere"], "no such local folder"),
])
def test_bad_arguments_print_one_line_and_exit_2(tmp_path, capsys, extra, message):
    assert cli(run_args(tmp_path / "out", *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err
    assert not (tmp_path / "out.partial").exists()


def test_early_stopping_keeps_the_best_weights(tmp_path):
    from finetune.loop import EarlyStopping

    early = EarlyStopping(patience=2)
    assert [early.update(v, s) for s, v in enumerate((0.5, 0.7, 0.6, 0.7))] == [True, True, False, False]
    assert early.should_stop and early.best_step == 1 and not EarlyStopping(patience=0, bad_evaluations=9).should_stop
    metrics = main(DigitsArguments(dataset="sklearn-digits", output_dir=str(tmp_path / "out"), max_steps=200,
                                   batch_size=16, learning_rate=1.0, eval_steps=2, save_steps=2,
                                   early_stopping_patience=1, validation_size=50))
    assert metrics["early_stopped"] and metrics["global_step"] < 200
    best = max(e["eval_accuracy"] for e in metrics["log_history"] if "eval_accuracy" in e)
    assert metrics["validation"]["accuracy"] == best  # the kept weights are the best evaluated ones


def test_shift_moves_pictures_within_bounds():
    x = torch.zeros(3, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1.0
    moved = shift(x, 2, torch.Generator().manual_seed(0))
    assert moved.shape == x.shape and torch.equal(moved.sum((1, 2, 3)), x.sum((1, 2, 3)))  # nothing falls off
    assert not torch.equal(moved, x)
    assert torch.equal(shift(x, 0, torch.Generator()), x)


@pytest.mark.gpu
def test_trains_and_recognises_on_cuda(tmp_path):
    metrics = main(DigitsArguments(dataset="sklearn-digits", output_dir=str(tmp_path / "out"), max_steps=30,
                                   batch_size=32, eval_steps=10, save_steps=10, device="cuda"))
    assert metrics["device"].startswith("cuda") and metrics["test"]["accuracy"] > 0.3
    dr = load("digit-recognition", model=str(tmp_path / "out"), device="cuda")
    from pipelines.mnist import sklearn_digits

    result = dr(sklearn_digits()[0][0])
    assert np.array_equal(result.layers["output"], np.asarray(result.probabilities, dtype=np.float32))
