"""finetune.metric end to end on scikit-learn's digits: the embedding beats the pixels, metrics.json is what load()
gives on the same pictures, the first loss is pytorch-metric-learning's called directly, a SIGKILLed run resumes to
the same end, Stop publishes, bad flags are one line."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch

from finetune.metric import MetricArguments, cli, default_output_dir, main, make_parser
from finetune.run import RunFolders
from pipelines import load
from tests.finetune.conftest import kill_after_first_checkpoint

STEPS = 40


def run_args(output: Path, *extra: str) -> list[str]:
    """A short learnable run: batches of 64, validation scored and a checkpoint every 20 steps, PCA maps."""
    return ["--dataset", "sklearn-digits", "--output-dir", str(output), "--max-steps", str(STEPS), "--batch-size",
            "64", "--validation-size", "200", "--validation-fraction", "0.15", "--eval-steps", "20", "--save-steps",
            "20", "--logging-steps", "5",
            "--map-projection", "pca", "--device", "cpu", *extra]


def parse(argv: list[str]) -> MetricArguments:
    (args,) = make_parser().parse_args_into_dataclasses(args=argv)
    return args


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    output = tmp_path_factory.mktemp("run") / "model"
    return output, main(parse(run_args(output)))


def test_it_learns_and_beats_the_pixels(trained):
    _, metrics = trained
    losses = [e["loss"] for e in metrics["log_history"] if "loss" in e]
    assert losses[-1] < 0.7 * losses[0]
    ours, pixels = metrics["test"]["triplet"], metrics["test"]["pixels"]
    assert ours["ari"] > pixels["ari"] + 0.15 and ours["nmi"] > pixels["nmi"] + 0.1  # pixels: ~0.57 / ~0.72
    assert ours["silhouette"] > pixels["silhouette"] and 0.9 < ours["knn_accuracy"] <= 1.0
    assert metrics["test"]["samples"] == 359 and metrics["validation"]["samples"] == 200
    assert metrics["evaluation"]["reference_samples"] == 1238 and metrics["evaluation"]["k"] == 5
    evals = [e for e in metrics["log_history"] if "eval_knn_accuracy" in e]
    assert [e["step"] for e in evals] == [20, 40] and evals[-1]["eval_ari"] == metrics["validation"]["triplet"]["ari"]


def test_metrics_json_is_what_load_gives_on_the_same_pictures(trained):
    from finetune.image_data import load_image_data

    output, metrics = trained
    assert {p.name for p in output.iterdir()} == {"config.json", "model.safetensors", "README.md", "metrics.json",
                                                  "training_curve.png", "embedding_maps.png",
                                                  "preprocessor_config.json"}
    assert not RunFolders(output).work.exists()
    saved = json.loads((output / "metrics.json").read_text())
    config = json.loads((output / "config.json").read_text())
    assert (config["loss"], config["embedding_dim"], config["mean"], config["std"]) == ("triplet", 64, 0.1307, 0.3081)
    card = (output / "README.md").read_text()
    assert "pipeline_tag: image-feature-extraction" in card and "| test (359) | triplet |" in card
    # the run's data, as it loaded it
    data = load_image_data("sklearn-digits", validation_size=200, validation_fraction=0.15, seed=42)
    reference = data.train.subset(10000, 42)
    ml = load("metric-learning", model=str(output), device="cpu")
    for split in ("validation", "test"):
        pictures = getattr(data, split)
        result = ml(pictures.images.numpy(), pictures.labels.numpy(), k=5, seed=42, projection="none",
                    reference=(reference.images.numpy(), reference.labels.numpy()))
        assert result.scores == {name: saved[split][name] for name in ("pixels", "triplet")}, split


def test_the_first_loss_is_the_library_called_directly(trained):
    """Step 1's logged loss = pytorch-metric-learning's TripletMarginLoss + TripletMarginMiner (the settings of its
    MNIST notebook) on the run's first batch and initial weights, rebuilt here without mmhub's training code."""
    from pytorch_metric_learning import distances, losses, miners, reducers

    from finetune.image_data import load_image_data
    from pipelines.metric_learning import EmbeddingNet

    _, metrics = trained
    data = load_image_data("sklearn-digits", validation_size=200, validation_fraction=0.15, seed=42)
    torch.manual_seed(42)
    model = EmbeddingNet(labels=list(data.labels)).train()
    x, y = next(data.train.batches(64, epoch=0, seed=42, drop_last=True))
    distance = distances.CosineSimilarity()
    loss = losses.TripletMarginLoss(margin=0.2, distance=distance, reducer=reducers.ThresholdReducer(low=0))
    miner = miners.TripletMarginMiner(margin=0.2, distance=distance, type_of_triplets="semihard")
    embeddings = model(x)
    expected = loss(embeddings, y, miner(embeddings, y)).item()
    assert metrics["log_history"][0]["step"] == 1
    assert metrics["log_history"][0]["loss"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("loss", ["normalized-softmax", "arcface"])
def test_softmax_family_trains_with_its_own_class_weights(tmp_path, loss):
    from pytorch_metric_learning import losses

    from finetune.image_data import load_image_data
    from pipelines.metric_learning import EmbeddingNet

    output = tmp_path / loss
    metrics = main(parse(run_args(output, "--loss", loss, "--max-steps", "3", "--logging-steps", "1",
                                  "--map-projection", "none", "--max-eval-samples", "100")))
    assert metrics["loss"] == loss and metrics["global_step"] == 3 and metrics["test"]["samples"] == 100
    assert load("metric-learning", model=str(output), device="cpu").representations == ["pixels", loss]
    data = load_image_data("sklearn-digits", validation_size=200, validation_fraction=0.15, seed=42)
    torch.manual_seed(42)
    model = EmbeddingNet(loss=loss, labels=list(data.labels)).train()
    func = losses.NormalizedSoftmaxLoss(10, 64, temperature=0.05) if loss == "normalized-softmax" else \
        losses.ArcFaceLoss(10, 64, margin=28.6, scale=64)  # the papers' values, the library's defaults
    x, y = next(data.train.batches(64, epoch=0, seed=42, drop_last=True))
    assert metrics["log_history"][0]["loss"] == pytest.approx(func(model(x), y).item(), rel=1e-5)
    assert not (output / "embedding_maps.png").exists()


def test_sigkill_then_resume_reaches_the_same_end(tmp_path, trained):
    _, uninterrupted = trained
    output = tmp_path / "model"
    argv = run_args(output)
    folders = RunFolders(output)
    returncode = kill_after_first_checkpoint("finetune.metric", argv, folders)
    if returncode != -signal.SIGKILL or folders.last_checkpoint() is None:
        pytest.skip("the run finished before it could be killed (a very fast machine)")
    killed_at = int(Path(folders.last_checkpoint()).name.split("-")[1])
    assert killed_at < STEPS and not output.exists()

    assert cli(argv) == 2  # leftover checkpoints are not silently thrown away
    assert cli([*argv, "--resume", "--margin", "0.3"]) == 2  # a resume must repeat the arguments
    resumed = main(parse([*argv, "--resume"]))
    assert resumed["global_step"] == STEPS

    def losses(metrics):
        return {e["step"]: e["loss"] for e in metrics["log_history"] if "loss" in e and e["step"] > killed_at}

    assert len(losses(resumed)) >= 3
    assert losses(resumed) == pytest.approx(losses(uninterrupted), rel=1e-4)
    for name in ("pixels", "triplet"):
        assert resumed["test"][name] == pytest.approx(uninterrupted["test"][name], rel=1e-4), name
    assert (output / "model.safetensors").exists() and not folders.work.exists()


def test_an_interrupted_softmax_run_resumes_with_its_class_weights(tmp_path):
    """The softmax family's own weights and their Adam state travel in the checkpoints: interrupted after its first
    checkpoint and resumed, a run ends where an uninterrupted one does."""
    def args(name: str, *extra: str) -> MetricArguments:
        return parse(run_args(tmp_path / name, "--loss", "normalized-softmax", "--max-steps", "6", "--save-steps",
                              "3", "--eval-steps", "6", "--logging-steps", "1", "--map-projection", "none",
                              "--max-eval-samples", "60", *extra))

    whole = main(args("whole"))

    def interrupt(step, total, info):
        if step == 4:
            raise KeyboardInterrupt("a kill after the checkpoint of step 3")

    with pytest.raises(KeyboardInterrupt):
        main(args("resumed"), progress=interrupt)
    assert Path(RunFolders(tmp_path / "resumed").last_checkpoint()).name == "checkpoint-3"
    resumed = main(args("resumed", "--resume"))
    def losses(metrics):
        return {e["step"]: e["loss"] for e in metrics["log_history"] if "loss" in e and e["step"] > 3}

    assert list(losses(resumed)) == [4, 5, 6] and losses(resumed) == pytest.approx(losses(whole), rel=1e-5)
    assert resumed["test"]["normalized-softmax"] == pytest.approx(whole["test"]["normalized-softmax"], rel=1e-5)


def test_default_output_is_where_load_looks_and_stop_publishes(tmp_path, monkeypatch):
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path / "cache"))
    assert default_output_dir("arcface") == str(tmp_path / "cache" / "models" / "metric-learning" / "arcface")
    seen = []

    def stop_at_three(step, total, info):
        seen.append((step, total, info["stage"], info["triplets"] is not None))
        return step < 3

    args = MetricArguments(dataset="sklearn-digits", max_steps=50, batch_size=32, eval_steps=10, save_steps=10,
                           map_projection="none", max_eval_samples=60)
    metrics = main(args, progress=stop_at_three)
    assert seen == [(1, 50, "train", True), (2, 50, "train", True), (3, 50, "train", True)]
    assert metrics["stopped_early"] and metrics["global_step"] == 3
    ml = load("metric-learning", device="cpu")  # local:metric-learning: the folder of each loss trained there
    assert ml.model_id == "local:metric-learning" and ml.representations == ["pixels", "triplet"]


def test_trains_from_a_local_mnist_schema_folder(tmp_path):
    from finetune.image_data import write_fixture

    folder = write_fixture(tmp_path / "digits", per_class=8, format="saved")
    metrics = main(MetricArguments(dataset=str(folder), output_dir=str(tmp_path / "out"), max_steps=4, batch_size=16,
                                   validation_size=10, eval_steps=2, save_steps=2, map_projection="none"))
    assert metrics["global_step"] == 4 and metrics["data"]["source"] == str(folder)
    # 8 of the 80 pictures are held out (the 10 % hold-out rule)
    assert metrics["data"]["train_samples"] == 72 and metrics["evaluation"]["reference_samples"] == 72


@pytest.mark.parametrize(("extra", "message"), [
    (["--loss", "contrastive"], "--loss must be one of triplet, normalized-softmax, arcface"),
    (["--type-of-triplets", "medium"], "--type-of-triplets"),
    (["--map-projection", "umap"], "--map-projection"),
    (["--margin", "0"], "--margin"),
    (["--margin", "nan"], "--margin"),
    (["--temperature", "-1"], "--temperature"),
    (["--arcface-scale", "inf"], "--arcface-scale"),
    (["--loss-learning-rate", "0"], "--loss-learning-rate"),
    (["--embedding-dim", "0"], "--embedding-dim"),
    (["--k", "51"], "--k"),
    (["--eval-reference-size", "0"], "--eval-reference-size"),
    (["--batch-size", "0"], "--batch-size"),
    (["--resume", "--overwrite"], "contradict"),
    (["--dataset", "./nowhere"], "no such local folder"),
    (["--dataset", "ylecun/mnist"], "cannot be reached"),
])
def test_bad_arguments_print_one_line_and_exit_2(tmp_path, capsys, extra, message):
    assert cli(run_args(tmp_path / "out", *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err
    assert not (tmp_path / "out.partial").exists() and not (tmp_path / "out").exists()


@pytest.mark.gpu
def test_trains_and_embeds_on_cuda(tmp_path):
    metrics = main(parse(run_args(tmp_path / "out", "--device", "cuda", "--max-steps", "20", "--map-projection",
                                  "none")))
    assert metrics["device"].startswith("cuda") and metrics["test"]["triplet"]["knn_accuracy"] > 0.5
    on_gpu = load("metric-learning", model=str(tmp_path / "out"), device="cuda")
    on_cpu = load("metric-learning", model=str(tmp_path / "out"), device="cpu")
    from pipelines.metric_learning import sklearn_digit_splits

    pictures = sklearn_digit_splits()["test"][0][:50]
    assert torch.allclose(torch.from_numpy(on_gpu.embed(pictures)), torch.from_numpy(on_cpu.embed(pictures)),
                          atol=1e-4)
    reference_picture = sklearn_digit_splits()["train"][0][7]  # in the default reference set: found first, at ~0
    first = on_gpu.similar(reference_picture, k=3).neighbours[0]
    assert first["index"] == 7 and first["distance"] < 1e-3
