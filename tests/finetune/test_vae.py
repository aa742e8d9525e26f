"""finetune.vae end to end on scikit-learn's digits: it learns, resumes to the same end, loads into the autoencoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from finetune.image_data import write_fixture
from finetune.run import RunFolders
from finetune.vae import VaeArguments, cli, default_output_dir, main, make_parser
from pipelines import load

STEPS = 60


def run_args(output: Path, *extra: str) -> list[str]:
    """A short run on sklearn-digits: batches of 32, evaluation and a checkpoint every 20 steps."""
    return ["--dataset", "sklearn-digits", "--output-dir", str(output), "--max-steps", str(STEPS), "--batch-size",
            "32", "--validation-size", "200", "--validation-fraction", "0.2",
            "--eval-steps", "20", "--save-steps", "20", "--logging-steps", "10",
            "--learning-rate", "3e-3", "--device", "cpu", *extra]


def parse(argv: list[str]) -> VaeArguments:
    (args,) = make_parser().parse_args_into_dataclasses(args=argv)
    return args


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    output = tmp_path_factory.mktemp("run") / "model"
    return output, main(parse(run_args(output)))


def test_it_learns(trained):
    _, metrics = trained
    losses = [e["loss"] for e in metrics["log_history"] if "loss" in e]
    assert losses[-1] < 0.6 * losses[0]
    evals = [e["eval_loss"] for e in metrics["log_history"] if "eval_loss" in e]
    assert evals[-1] < evals[0] and metrics["validation"]["loss"] == pytest.approx(
        metrics["validation"]["bce"] + metrics["validation"]["kld"])
    assert metrics["test"]["samples"] == 359 and metrics["validation"]["kld"] > 0
    assert metrics["latent_dim"] == 2 and metrics["train_samples_per_second"] > 0


def test_output_folder_is_complete_and_loads_into_the_autoencoder(trained):
    output, metrics = trained
    assert {p.name for p in output.iterdir()} == {"config.json", "model.safetensors", "README.md", "metrics.json",
                                                  "training_curve.png", "latent_map.png", "latent_scatter.png",
                                                  "preprocessor_config.json"}
    assert not RunFolders(output).work.exists()
    assert json.loads((output / "config.json").read_text()) == {"image_size": 28, "hidden_units": 400,
                                                                "latent_dim": 2}
    card = (output / "README.md").read_text()
    assert "pipeline_tag: image-to-image" in card and "| test | 359 |" in card and "latent_map.png" in card
    assert json.loads((output / "metrics.json").read_text())["global_step"] == STEPS
    vae = load("autoencoder", model=str(output), device="cpu")
    assert vae.kind == "mnist-vae" and vae.latent_map(n=4).image.size == (112, 112)
    from pipelines.mnist import sklearn_digits

    images, _ = sklearn_digits()
    assert vae(images[4]).psnr > 10


def test_stopped_then_resumed_reaches_the_same_end(tmp_path, trained):
    _, uninterrupted = trained
    output = tmp_path / "model"
    argv = run_args(output)

    def stop_at_45(step, total, info):
        return step < 45

    with pytest.raises(KeyboardInterrupt):
        main(parse(argv), progress=stop_at_45)
    assert Path(RunFolders(output).last_checkpoint()).name == "checkpoint-40" and not output.exists()
    assert cli(argv) == 2  # leftover checkpoints are not silently thrown away
    assert cli([*argv, "--resume", "--latent-dim", "3"]) == 2  # a resume must repeat the arguments
    resumed = main(parse([*argv, "--resume"]))
    later = {e["step"]: e["loss"] for e in resumed["log_history"] if "loss" in e and e["step"] > 40}
    assert later == pytest.approx({e["step"]: e["loss"] for e in uninterrupted["log_history"]
                                   if "loss" in e and e["step"] > 40}, rel=1e-4)
    assert resumed["test"]["loss"] == pytest.approx(uninterrupted["test"]["loss"], rel=1e-5)


def test_default_output_is_where_local_mnist_vae_resolves(tmp_path, monkeypatch):
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path / "cache"))
    assert default_output_dir() == str(tmp_path / "cache" / "models" / "mnist-vae")
    main(VaeArguments(dataset="sklearn-digits", max_steps=4, batch_size=16, eval_steps=2, save_steps=2,
                      validation_size=50))
    assert load("autoencoder", model="local:mnist-vae", device="cpu").latent_dim == 2


def test_trains_from_a_local_mnist_schema_folder_with_another_latent(tmp_path):
    folder = write_fixture(tmp_path / "digits", per_class=8, format="saved")
    metrics = main(VaeArguments(dataset=str(folder), output_dir=str(tmp_path / "out"), max_steps=4, batch_size=8,
                                validation_size=10, eval_steps=2, save_steps=2, latent_dim=20))
    assert metrics["global_step"] == 4 and metrics["data"]["train_samples"] == 72  # 8 of 80 held out
    assert not (tmp_path / "out" / "latent_map.png").exists()  # only a 2-D latent is drawn
    result = load("autoencoder", model=str(tmp_path / "out"), device="cpu")(np.eye(28, dtype=np.float32))
    assert result.latent_shape == [20]


@pytest.mark.parametrize(("extra", "message"), [
    (["--learning-rate", "0"], "--learning-rate"),
    (["--latent-dim", "0"], "--latent-dim"),
    (["--hidden-units", "1000000"], "--hidden-units"),
    (["--batch-size", "0"], "--batch-size"),
    (["--save-steps", "30"], "multiple of --eval-steps"),
    (["--resume", "--overwrite"], "contradict"),
    (["--dataset", "ylecun/mnist"], "cannot be reached"),
    (["--dataset", "./nowhere"], "no such local folder"),
])
def test_bad_arguments_print_one_line_and_exit_2(tmp_path, capsys, extra, message):
    assert cli(run_args(tmp_path / "out", *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err
    assert not (tmp_path / "out.partial").exists()
