"""finetune.gan end to end on scikit-learn's digits with small networks: both losses logged and plotted, the folder
loads into load("gan") and redraws the last grid, a stop still publishes, a resume retraces bit for bit, bad flags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from finetune.gan import GanArguments, cli, default_output_dir, main, make_parser
from finetune.image_data import write_fixture
from finetune.report import curves
from finetune.run import RunFolders
from pipelines import load

STEPS = 24  # sklearn-digits: 1438 pictures, 11 steps of 128 per epoch


def run_args(output: Path, *extra: str) -> list[str]:
    """A short run: width 8, batches of 128, a checkpoint every 8 steps, a log line every 4."""
    return ["--dataset", "sklearn-digits", "--output-dir", str(output), "--max-steps", str(STEPS), "--batch-size",
            "128", "--generator-features", "8", "--discriminator-features", "8", "--save-steps", "8",
            "--logging-steps", "4", "--sample-images", "16", "--device", "cpu", *extra]


def parse(argv: list[str]) -> GanArguments:
    (args,) = make_parser().parse_args_into_dataclasses(args=argv)
    return args


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    output = tmp_path_factory.mktemp("run") / "model"
    return output, main(parse(run_args(output)))


def test_defaults_are_pytorch_examples_dcgan():
    args = GanArguments(output_dir="x")
    # dcgan/main.py: --batchSize 64, --nz 100, --lr 0.0002, --beta1 0.5, fixed_noise of batchSize pictures
    assert (args.batch_size, args.latent_dim, args.learning_rate, args.beta1, args.sample_images) == (
        64, 100, 0.0002, 0.5, 64)
    assert args.dataset == "zalando-datasets/fashion_mnist"


def test_both_losses_are_logged_and_plotted(trained):
    _, metrics = trained
    log = [e for e in metrics["log_history"] if "loss_d" in e]
    assert [e["step"] for e in log] == [1, 4, 8, 12, 16, 20, 24]
    assert set(curves(metrics["log_history"])) == {"loss_d", "loss_g"}  # the training curve draws both
    assert log[-1]["loss_d"] < log[0]["loss_d"]  # the discriminator learns first: from ~1.39 (2 ln 2) down
    assert 0 < log[-1]["d_fake"] < log[-1]["d_real"] < 1
    assert metrics["data"]["train_samples"] == 1438  # the held-out validation pictures went back in
    assert metrics["global_step"] == STEPS and not metrics["stopped_early"] and metrics["train_samples_per_second"]


def test_output_folder_loads_and_redraws_the_last_grid(trained):
    output, metrics = trained
    assert {p.name for p in output.iterdir()} == {"config.json", "model.safetensors", "discriminator", "README.md",
                                                  "metrics.json", "training_curve.png", "samples.png",
                                                  "progress.gif", "samples"}
    assert not RunFolders(output).work.exists()
    assert json.loads((output / "config.json").read_text()) == {"latent_dim": 100, "features": 8, "channels": 1,
                                                                "image_size": 28}
    assert sorted(p.name for p in (output / "samples").iterdir()) == [
        "step-0000011.png", "step-0000022.png", "step-0000024.png"]  # each epoch's end, and the last step
    with Image.open(output / "progress.gif") as gif:
        assert gif.n_frames == 3
    card = (output / "README.md").read_text()
    assert "pipeline_tag: unconditional-image-generation" in card and "samples/step-0000022.png" in card
    gan = load("gan", model=str(output), device="cpu")
    last = np.asarray(Image.open(output / "samples" / "step-0000024.png"))
    assert np.array_equal(np.asarray(gan(16, seed=0).grid()), last)  # the fixed noise is gan(16, seed=--seed)'s
    from pipelines.gan import DCGANDiscriminator

    assert DCGANDiscriminator.from_pretrained(str(output / "discriminator")).features == 8


def test_stopped_then_resumed_retraces_bit_for_bit(tmp_path, trained):
    """Ctrl-C at step 13 keeps checkpoint-8; --resume from it ends with exactly the weights of the unbroken run."""
    reference, _ = trained
    output = tmp_path / "model"
    argv = run_args(output)

    def interrupt(step, total, info):
        if step == 13:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        main(parse(argv), progress=interrupt)
    assert Path(RunFolders(output).last_checkpoint()).name == "checkpoint-8" and not output.exists()
    assert cli(argv) == 2  # leftover checkpoints are not silently thrown away
    assert cli([*argv, "--resume", "--latent-dim", "50"]) == 2  # a resume must repeat the arguments
    main(parse([*argv, "--resume"]))
    for name in ("model.safetensors", "discriminator/model.safetensors"):
        ours, theirs = load_file(output / name), load_file(reference / name)
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_a_progress_false_stops_early_and_still_publishes(tmp_path):
    output = tmp_path / "model"
    metrics = main(parse(run_args(output)), progress=lambda step, total, info: step < 5)
    assert metrics["stopped_early"] and metrics["global_step"] == 5
    assert (output / "samples" / "step-0000005.png").exists() and (output / "model.safetensors").exists()
    assert json.loads((output / "metrics.json").read_text())["log_history"][-1]["step"] == 5


def test_default_output_is_where_local_gan_resolves_and_a_fashion_folder_trains(tmp_path, monkeypatch):
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path / "cache"))
    assert default_output_dir() == str(tmp_path / "cache" / "models" / "gan")
    folder = write_fixture(tmp_path / "fashion", like="fashion_mnist", per_class=4)
    metrics = main(GanArguments(dataset=str(folder), max_steps=2, batch_size=16, generator_features=4,
                                discriminator_features=4, sample_images=4))
    assert metrics["data"]["train_samples"] == 40 and metrics["global_step"] == 2
    assert len(load("gan", device="cpu")(3, seed=0).images) == 3  # local:gan


@pytest.mark.parametrize(("extra", "message"), [
    (["--num-train-epochs", "0"], "--num-train-epochs"),
    (["--num-train-epochs", "1000000000"], "--num-train-epochs"),
    (["--max-steps", "0"], "--max-steps"),
    (["--max-steps", "100000000000"], "--max-steps"),
    (["--learning-rate", "nan"], "--learning-rate"),
    (["--learning-rate", "inf"], "--learning-rate"),
    (["--learning-rate", "0"], "--learning-rate"),
    (["--beta1", "1"], "--beta1"),
    (["--batch-size", "0"], "--batch-size"),
    (["--latent-dim", "0"], "--latent-dim"),
    (["--generator-features", "100000"], "--generator-features"),
    (["--seed", "-1"], "--seed"),
    (["--sample-images", "1000"], "--sample-images"),
    (["--resume", "--overwrite"], "contradict"),
    (["--dataset", "./nowhere"], "no such local folder"),
    (["--dataset", "ylecun/mnist"], "cannot be reached"),
])
def test_bad_arguments_print_one_line_and_exit_2(tmp_path, capsys, extra, message):
    assert cli(run_args(tmp_path / "out", *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "out.partial").exists() and not (tmp_path / "out").exists()


@pytest.mark.gpu
def test_trains_on_cuda_and_samples_match_the_cpu(tmp_path):
    """The noise comes from a CPU generator: the same seed gives (up to rounding) the same pictures on CUDA."""
    output = tmp_path / "out"
    metrics = main(parse(run_args(output)[:-2] + ["--device", "cuda"]))
    assert metrics["device"].startswith("cuda") and metrics["global_step"] == STEPS
    on_gpu = load("gan", model=str(output), device="cuda")(16, seed=0).pixels
    on_cpu = load("gan", model=str(output), device="cpu")(16, seed=0).pixels
    np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-2)  # cuDNN convolutions may run in TF32


def test_a_folder_without_pictures_is_refused(tmp_path, capsys):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("not a picture\n")
    assert cli(run_args(tmp_path / "out", "--dataset", str(notes))) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error:") and "no dataset in the folder: no parquet files, no pictures" in last
