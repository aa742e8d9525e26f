"""Train a digit embedding with a triplet or a softmax-family loss (pytorch-metric-learning), resumably; the result
loads into ``load("metric-learning")``.

Commands (run from the repository root)::

    # MNIST from the Hub, minutes on a laptop CPU; each loss lands where load("metric-learning") looks by default
    # ($MMHUB_CACHE/models/metric-learning/<loss>, default ~/.cache/mmhub/models/metric-learning/<loss>)
    python -m finetune.metric --loss triplet
    python -m finetune.metric --loss normalized-softmax
    python -m finetune.metric --loss arcface

    # offline: scikit-learn's bundled digits (or a local folder in the MNIST schema, see finetune.image_data)
    python -m finetune.metric --loss triplet --dataset sklearn-digits --num-train-epochs 10

    # after a crash or a kill: continue from the last checkpoint
    python -m finetune.metric --loss triplet --resume

    # smoke run; then upload the finished folder to the Hub
    python -m finetune.metric --dataset sklearn-digits --max-steps 60 --output-dir runs/smoke --map-projection pca
    python -m finetune.metric --output-dir runs/triplet --push-to-hub --hub-model-id me/mnist-triplet-embedding

The loop is plain PyTorch over the lab trainers' in-memory 28x28 batches (`finetune.image_data`: the same loader,
the same seeded, resumable order as ``finetune.digits``), with the loss, miner and settings of
`pipelines.metric_learning.make_criterion`; the softmax-family losses' own class weights get their own Adam
(``--loss-learning-rate``), as the library's docs require. Every ``--eval-steps`` the validation split is scored
through the pipeline itself (k-means ARI / NMI, k-NN accuracy against the training split); at the end the test
split is, beside the raw pixels, so that ``metrics.json`` is exactly what ``load()`` gives on the same pictures
(also given as picture files: the data's preparation is saved as ``preprocessor_config.json``, which the pipeline
applies; `pipelines.mnist_processor`).
Folders as every trainer's (`finetune.run`): checkpoints every ``--save-steps`` in
``<output-dir>.partial/checkpoints``, the finished folder (config.json + model.safetensors,
preprocessor_config.json, README.md model card, metrics.json, training_curve.png, embedding_maps.png) moved to
``<output-dir>`` only when complete. A progress callback returning False ends the run early *with* a finished folder
(the app's Stop button).
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.cards import front_matter, hyperparameter_table, picture_data_lines, session_line
from finetune.image_data import ImageData, ImageDataError, ImageSplit
from finetune.loop import (
    LabDataArguments,
    check_counts,
    check_device,
    check_seed_and_max_steps,
    mean_of,
    restore_training_state,
    samples_per_second,
    save_training_state,
)
from finetune.run import (
    RunFolders,
    UsageError,
    card_hyperparameters,
    cli_main,
    flag_name,
    publish_and_push,
    recorded_arguments,
    resume_hint,
    run_in_folders,
    write_report,
)

logger = logging.getLogger(__name__)

TASK = "metric-learning"
LOSSES = ("triplet", "normalized-softmax", "arcface")  # pipelines.metric_learning.LOSSES (not imported: torch)
TRIPLET_TYPES = ("semihard", "hard", "easy", "all")  # TripletMarginMiner's type_of_triplets
MAP_PROJECTIONS = ("tsne", "pca", "none")
MAPS = "embedding_maps.png"
# Arguments that may change between a run and its --resume without changing what is trained.
_RESUME_FREE = {"resume", "overwrite", "push_to_hub", "hub_model_id", "hub_private", "cache_dir", "device",
                "map_projection"}
COUNTS = ("batch_size", "eval_steps", "save_steps", "logging_steps", "validation_size", "num_train_epochs",
          "save_total_limit", "eval_reference_size")


def default_output_dir(loss: str = "triplet") -> str:
    """Where `load("metric-learning")` looks for `loss`'s model: ``$MMHUB_CACHE/models/metric-learning/<loss>``."""
    from pipelines import lab

    return str(Path(lab.resolve(lab.local_id(TASK))) / loss)


@dataclass
class MetricArguments(LabDataArguments):
    """Everything `python -m finetune.metric` takes; each field is a flag (``--loss``); the data flags are
    `finetune.loop.LabDataArguments`'.

    Args:
        output_dir (`str`, *optional*): the folder to create; default where ``load("metric-learning")`` looks.
        loss (`str`, defaults to ``"triplet"``): ``triplet``, ``normalized-softmax`` or ``arcface``.
    """

    output_dir: str | None = field(default=None, metadata={
        "help": "Folder to create (model, README.md, metrics.json, training_curve.png, embedding_maps.png). Default: "
                "$MMHUB_CACHE/models/metric-learning/<loss>, where load('metric-learning') looks."})
    # data: the flags of LabDataArguments stand here, after --output-dir
    # the loss
    loss: str = field(default="triplet", metadata={
        "help": "triplet (TripletMarginLoss + a TripletMarginMiner), normalized-softmax (NormalizedSoftmaxLoss) or "
                "arcface (ArcFaceLoss), from pytorch-metric-learning."})
    margin: float = field(default=0.2, metadata={
        "help": "Triplet loss and miner margin, on cosine similarity (the library's MNIST example: 0.2)."})
    type_of_triplets: str = field(default="semihard", metadata={
        "help": "Which triplets the miner keeps: semihard (the library's MNIST example), hard, easy or all."})
    temperature: float = field(default=0.05, metadata={"help": "normalized-softmax temperature (the paper's 0.05)."})
    arcface_margin: float = field(default=28.6, metadata={
        "help": "ArcFace angular margin in degrees (the paper's 0.5 rad = 28.6)."})
    arcface_scale: float = field(default=64.0, metadata={"help": "ArcFace scale s (the paper's 64)."})
    # the network
    embedding_dim: int = field(default=64, metadata={"help": "Size of the embedding."})
    conv1_channels: int = field(default=16, metadata={"help": "Feature maps of the first convolution."})
    conv2_channels: int = field(default=32, metadata={"help": "Feature maps of the second convolution."})
    hidden_units: int = field(default=128, metadata={"help": "Units of the hidden fully connected layer."})
    # training
    seed: int = field(default=42, metadata={"help": "Random seed (weights, data order, k-means of the scores)."})
    batch_size: int = field(default=128, metadata={
        "help": "Training batch size (the miner finds its triplets inside each batch: ~13 per class at 128)."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam's learning rate for the network."})
    loss_learning_rate: float = field(default=1e-2, metadata={
        "help": "Adam's learning rate for the softmax-family losses' own class weights (unused by triplet)."})
    weight_decay: float = field(default=0.0, metadata={"help": "Adam's weight decay for the network."})
    num_train_epochs: int = field(default=3, metadata={"help": "Epochs (ignored when --max-steps > 0)."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (-1: epochs)."})
    eval_steps: int = field(default=200, metadata={"help": "Score the validation split every N steps."})
    save_steps: int = field(default=200, metadata={"help": "Checkpoint every N steps."})
    save_total_limit: int = field(default=2, metadata={"help": "Keep at most this many checkpoints."})
    logging_steps: int = field(default=20, metadata={"help": "Log the training loss every N steps."})
    # the scores
    k: int = field(default=5, metadata={"help": "Neighbours of the k-NN accuracy (1 to 50)."})
    eval_reference_size: int = field(default=10000, metadata={
        "help": "k-NN reference: at most this many training pictures (a seeded choice)."})
    map_projection: str = field(default="tsne", metadata={
        "help": "The 2-D maps of the test pictures in embedding_maps.png: tsne, pca or none."})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:N (default: CUDA when present)."})
    # run control
    resume: bool = field(default=False, metadata={
        "help": "Continue from the last checkpoint in <output-dir>.partial after a crash or a kill."})
    overwrite: bool = field(default=False, metadata={
        "help": "Replace an existing output folder and discard the checkpoints of an earlier run."})
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the finished folder to the Hub."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub repo for --push-to-hub."})
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repo as private."})

    def __post_init__(self) -> None:
        from pipelines import validate
        from pipelines.errors import InputError

        check_counts(self, COUNTS)
        check_seed_and_max_steps(self)
        check_device(self)
        for name, choices in (("loss", LOSSES), ("type_of_triplets", TRIPLET_TYPES),
                              ("map_projection", MAP_PROJECTIONS)):
            if getattr(self, name) not in choices:
                raise UsageError(f"{flag_name(name)} must be one of {', '.join(choices)}; "
                                 f"got {getattr(self, name)!r}.")
        try:
            for name, low, high, low_open in (("margin", 0, 2, True), ("temperature", 0, 10, True),
                                              ("arcface_margin", 0, 90, True), ("arcface_scale", 0, 1000, True),
                                              ("learning_rate", 0, 1, True), ("loss_learning_rate", 0, 10, True),
                                              ("weight_decay", 0, 1, False)):
                validate.number(flag_name(name), getattr(self, name), low=low, high=high, low_open=low_open)
            for name, high in (("embedding_dim", 4096), ("conv1_channels", 512), ("conv2_channels", 512),
                               ("hidden_units", 4096), ("k", 50)):
                validate.integer(flag_name(name), getattr(self, name), low=1, high=high)
        except InputError as err:
            raise UsageError(str(err)) from None
        if self.output_dir is None:
            self.output_dir = default_output_dir(self.loss)


def make_parser():
    """The `HfArgumentParser` of `MetricArguments`."""
    from transformers import HfArgumentParser

    return HfArgumentParser(MetricArguments, description=__doc__.split("\n")[0])


# ----------------------------------------------------------------------------------------------------------------
# the loop


def score(model: Any, split: ImageSplit, reference: ImageSplit, args: MetricArguments, *, pixels: bool = False,
          projection: str = "none") -> Any:
    """`split` scored through the pipeline itself (`MetricLearningPipeline.__call__`: what ``load()`` gives on the
    same pictures), `reference` as the k-NN set; the trained embedding, and the raw pixels when `pixels`."""
    import torch

    from pipelines.metric_learning import PIXELS, MetricLearningPipeline

    was_training = model.training
    model.eval()
    pipe = MetricLearningPipeline({model.loss: model}, "in training", next(model.parameters()).device, torch.float32)
    try:
        return pipe(split.images.numpy(), split.labels.numpy(),
                    reference=(reference.images.numpy(), reference.labels.numpy()), k=args.k, seed=args.seed,
                    projection=projection, representations=[PIXELS, model.loss] if pixels else [model.loss])
    finally:
        model.train(was_training)


def train(args: MetricArguments, folders: RunFolders, resume_from: str | None, data: ImageData,
          progress: Any = None) -> dict[str, Any]:
    """Train, checkpoint, score, write and publish the output folder; returns the metrics.

    `progress(step, total, info)` after each step; ``info``: ``stage``, ``loss`` (this step's), ``epoch``,
    ``triplets`` (mined this step; triplet loss), ``log`` (the entry just logged, else None), ``validation`` (the
    latest validation scores). Returning False ends the run early and still publishes the folder; raising (e.g.
    KeyboardInterrupt) leaves the checkpoints for ``--resume``.
    """
    import torch

    from finetune.report import plot_training_curve  # noqa: F401  (fail before training if matplotlib is missing)
    from pipelines.base import resolve_device
    from pipelines.metric_learning import EmbeddingNet, make_criterion

    started = time.perf_counter()
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    model = EmbeddingNet(embedding_dim=args.embedding_dim, conv1_channels=args.conv1_channels,
                         conv2_channels=args.conv2_channels, hidden_units=args.hidden_units, loss=args.loss,
                         labels=list(data.labels)).to(device).train()
    criterion = make_criterion(args.loss, len(data.labels), args.embedding_dim, margin=args.margin,
                               type_of_triplets=args.type_of_triplets, arcface_margin=args.arcface_margin,
                               arcface_scale=args.arcface_scale, temperature=args.temperature)
    criterion.loss.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    modules: dict[str, Any] = {"model": model, "optimizer": optimizer}
    optimizers = [optimizer]
    if criterion.parameters():  # the softmax family's class weights: their own optimizer (the library's docs)
        loss_optimizer = torch.optim.Adam(criterion.parameters(), lr=args.loss_learning_rate)
        optimizers.append(loss_optimizer)
        modules.update(loss=criterion.loss, loss_optimizer=loss_optimizer)
    drop_last = len(data.train) >= args.batch_size
    steps_per_epoch = data.train.num_batches(args.batch_size, drop_last=drop_last)
    total = args.max_steps if args.max_steps > 0 else args.num_train_epochs * steps_per_epoch
    reference = data.train.subset(args.eval_reference_size, args.seed)
    step, log_history = 0, []
    if resume_from:
        step, log_history, _ = restore_training_state(resume_from, modules)
        logger.info("resuming from %s (step %d of %d)", resume_from, step, total)

    logger.info("Training a %s embedding on %s: %d pictures, %d steps (%d per epoch) on %s", args.loss, data.source,
                len(data.train), total, steps_per_epoch, device)
    losses: list[float] = []
    validation: dict[str, Any] = {}
    stopped = False
    session_start, session_first_step, aside = time.perf_counter(), step, 0.0  # aside: evaluations, checkpoints
    while step < total and not stopped:
        epoch, first = divmod(step, steps_per_epoch)
        for x, y in data.train.batches(args.batch_size, epoch=epoch, seed=args.seed, start=first, drop_last=drop_last,
                                       device=device):
            loss = criterion(model(x), y)
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for opt in optimizers:
                opt.step()
            step += 1
            last_loss = loss.item()
            losses.append(last_loss)
            logged = None
            if step % args.logging_steps == 0 or step == 1 or step == total:
                logged = {"step": step, "epoch": round(step / steps_per_epoch, 4), "loss": mean_of(losses)}
                log_history.append(logged)
                losses = []
            if step % args.eval_steps == 0 or step == total:
                paused = time.perf_counter()
                validation = score(model, data.validation, reference, args).scores[args.loss]
                aside += time.perf_counter() - paused
                log_history.append({"step": step, "epoch": round(step / steps_per_epoch, 4),
                                    **{f"eval_{key}": value for key, value in validation.items()}})
            if step % args.save_steps == 0 and step < total:
                paused = time.perf_counter()
                save_training_state(folders, step, modules, log_history, args.save_total_limit)
                aside += time.perf_counter() - paused
            info = {"stage": "train", "loss": last_loss, "epoch": step / steps_per_epoch, "log": logged,
                    "triplets": criterion.mined, "validation": validation}
            if progress is not None and progress(step, total, info) is False:
                stopped = True
                break
            if step >= total:
                break
    session_seconds = time.perf_counter() - session_start - aside  # training steps only
    if stopped:
        logger.info("stopped by the progress callback at step %d of %d", step, total)
        if losses:
            log_history.append({"step": step, "epoch": round(step / steps_per_epoch, 4), "loss": mean_of(losses)})

    model.eval()
    final_validation = score(model, data.validation, reference, args, pixels=True)
    test_split = data.test if data.test is not None else data.validation
    test = score(model, test_split, reference, args, pixels=True, projection=args.map_projection)
    trained_steps = step - session_first_step
    metrics: dict[str, Any] = {
        "base_model": "EmbeddingNet (mmhub), random initialisation",
        "loss": args.loss,
        "labels": list(data.labels),
        "global_step": step,
        "epoch": step / steps_per_epoch,
        "final_train_loss": next((e["loss"] for e in reversed(log_history) if "loss" in e), None),
        "stopped_early": stopped,
        "train_runtime_s": round(time.perf_counter() - started, 2),
        "train_samples_per_second": samples_per_second(trained_steps, args.batch_size, session_seconds),
        "evaluation": {"k": args.k, "n_clusters": test.n_clusters, "seed": args.seed,
                       "reference": f"{len(reference)} pictures of the training split"
                                    + (f" (a seeded choice of {len(data.train)})" if len(reference) < len(data.train)
                                       else ""),
                       "reference_samples": len(reference), "test_split": "test" if data.test is not None
                       else "validation", "map_projection": args.map_projection},
        "validation": {**final_validation.scores, "samples": len(data.validation)},
        "test": {**test.scores, "samples": len(test_split)},
        "data": data.describe(),
        "device": str(device),
        "log_history": log_history,
    }
    hyperparameters = card_hyperparameters(args, _RESUME_FREE)
    model.cpu().save_pretrained(folders.staging)
    data.processor().save_pretrained(folders.staging)  # what the pipeline prepares pictures with (as trained)
    write_report(folders.staging, metrics, model_card(metrics, hyperparameters, args.hub_model_id), log_history,
                 title=f"{args.loss} embedding on {Path(data.source).name}")
    if args.map_projection != "none":
        test.image.save(folders.staging / MAPS)
    publish_and_push(folders, args, f"{args.loss} digit embedding trained with mmhub")
    return metrics


def main(args: MetricArguments, progress: Any = None) -> dict[str, Any]:
    """Load the data, train (or resume), publish; `progress(step, total, info)` after each step (see `train`)."""
    def run(folders: RunFolders, resume_from: str | None) -> dict[str, Any]:
        data = args.load_data(args.seed)
        with resume_hint(folders):
            return train(args, folders, resume_from, data, progress)

    return run_in_folders(args.output_dir, recorded_arguments(args, _RESUME_FREE), args.resume, args.overwrite, run,
                          single_process="finetune.metric", args=args)


# ----------------------------------------------------------------------------------------------------------------
# the model card

LOSS_TEXT = {
    "triplet": "the triplet margin loss on the triplets a semi-hard miner finds in each batch (cosine similarity; "
               "pytorch-metric-learning's `TripletMarginLoss` + `TripletMarginMiner`, as its MNIST example)",
    "normalized-softmax": "the normalized softmax loss (Zhai & Wu 2018: a softmax over the cosine similarities to "
                          "one learned weight vector per class; pytorch-metric-learning's `NormalizedSoftmaxLoss`)",
    "arcface": "the ArcFace loss (Deng et al. 2019: a softmax over cosine similarities with an additive angular "
               "margin; pytorch-metric-learning's `ArcFaceLoss`)",
}


def _row(name: str, scores: dict[str, Any]) -> str:
    silhouette = scores.get("silhouette")
    return (f"| {name} | {scores['ari']:.3f} | {scores['nmi']:.3f} | "
            f"{'n/a' if silhouette is None else f'{silhouette:.3f}'} | {scores['knn_accuracy']:.2%} |")


def model_card(metrics: dict[str, Any], hyperparameters: dict[str, Any], repo_id: str | None = None) -> str:
    """README.md of the output folder: front matter, the network and loss, data, scores against the pixels, use."""
    data, evaluation, loss = metrics["data"], metrics["evaluation"], metrics["loss"]
    front = front_matter("mmhub", "image-feature-extraction", ["mnist", "metric-learning", "pytorch-metric-learning",
                                                               loss, "model_hub_mixin", "pytorch_model_hub_mixin"],
                         dataset=data.get("hub_dataset"))
    where = repo_id or "path/to/this/folder"
    rows = ["| split | representation | ARI | NMI | silhouette | k-NN accuracy |", "|---|---|---|---|---|---|"]
    for split in ("validation", "test"):
        scores = metrics[split]
        for name in ("pixels", loss):
            rows.append(f"| {split} ({scores['samples']}) " + _row(name, scores[name]))
    projection = evaluation.get("map_projection", "none")
    maps = ["", f"![{'t-SNE' if projection == 'tsne' else 'PCA'} maps of the {evaluation['test_split']} pictures, "
                f"pixels and embedding]({MAPS})"] if projection != "none" else []
    return "\n".join([
        *front, "",
        f"# A digit embedding trained with the {loss} loss",
        "",
        "A small CNN (conv 5x5 -> 2x2 max pool -> conv 5x5 -> 2x2 max pool -> fully connected -> ReLU -> fully "
        "connected) maps a 28x28 MNIST-style picture to a unit-length embedding, trained with "
        f"{LOSS_TEXT[loss]}. Trained with `python -m finetune.metric` (mmhub); saved with "
        "`huggingface_hub.PyTorchModelHubMixin` (config.json + model.safetensors, the input standardisation "
        "included).",
        "",
        "## Data",
        "",
        *picture_data_lines(data),
        f"- classes: {', '.join(metrics['labels'])}",
        "",
        "## Results",
        "",
        f"k-means (scikit-learn, {evaluation['n_clusters']} clusters, seed {evaluation['seed']}) on the raw pixels "
        "and on the embedding, scored against the true classes (adjusted Rand index, normalised mutual "
        f"information), the silhouette of the clusters, and the {evaluation['k']}-nearest-neighbour accuracy with "
        f"{evaluation['reference']} as the reference:",
        "",
        *rows,
        "",
        session_line(metrics) + (" (stopped early on request)" if metrics.get("stopped_early") else "") + ".",
        "",
        "![training curve](training_curve.png)",
        *maps,
        "",
        "## Use",
        "",
        "```python",
        "from pipelines import load",
        "",
        f'ml = load("metric-learning", model="{where}")',
        "ml(seed=0).table()                           # pixels vs this embedding on scikit-learn's digits",
        'ml.similar("my_digit.png", k=8).neighbours   # its nearest pictures',
        "```",
        "",
        "`preprocessor_config.json` holds the picture preparation of training (grey, 28x28, /255) and the layout "
        "drawings are given first (the training pictures' ink box and colours): the pipeline applies it to pictures "
        "given as files, drawings or folders, so it reproduces the scores above on the same pictures.",
        "",
        "## Hyperparameters",
        "",
        *hyperparameter_table(hyperparameters, ensure_ascii=True),
        "",
    ])


def summary_line(metrics: dict[str, Any], output_dir: str) -> str:
    split = metrics["evaluation"]["test_split"]
    ours, pixels = metrics["test"][metrics["loss"]], metrics["test"]["pixels"]
    return (f"Trained a {metrics['loss']} embedding for {metrics['global_step']} steps in "
            f"{metrics['train_runtime_s']:.1f} s: {split} ARI {ours['ari']:.3f} (pixels {pixels['ari']:.3f}), NMI "
            f"{ours['nmi']:.3f} (pixels {pixels['nmi']:.3f}), {metrics['evaluation']['k']}-NN accuracy "
            f"{ours['knn_accuracy']:.4f} -> {output_dir}")


def cli(argv: list[str] | None = None) -> int:
    """Parse `argv`, run `main`, print the one-line summary; one-line errors for bad data or folders."""
    return cli_main(argv, MetricArguments, main, lambda metrics, args: summary_line(metrics, args.output_dir),
                    __doc__.split("\n")[0], expected=(ImageDataError,))


if __name__ == "__main__":
    sys.exit(cli())
