"""Train the nn_vis digit CNN (LeNet) on MNIST, resumably; the result loads into ``load("digit-recognition")``.

Commands (run from the repository root)::

    # MNIST from the Hub, a few minutes on a laptop CPU; lands where load("digit-recognition") looks by default
    # ($MMHUB_CACHE/models/digit-recognition, default ~/.cache/mmhub/models/digit-recognition)
    python -m finetune.digits

    # after a crash or a kill: continue from the last checkpoint
    python -m finetune.digits --resume

    # offline: a local folder in the MNIST schema (image, label), or scikit-learn's bundled digits
    python -m finetune.image_data fixture data/digits
    python -m finetune.digits --dataset data/digits --output-dir runs/digits
    python -m finetune.digits --dataset sklearn-digits --output-dir runs/sklearn-digits --num-train-epochs 20

    # smoke run; then upload the finished folder to the Hub
    python -m finetune.digits --max-samples 2000 --max-steps 100 --output-dir runs/smoke
    python -m finetune.digits --output-dir runs/digits --push-to-hub --hub-model-id me/nn-vis-lenet-mnist

The loop is plain PyTorch over in-memory batches (`finetune.image_data`), with `finetune.run`'s folders: checkpoints
every ``--save-steps`` in ``<output-dir>.partial/checkpoints``, the finished folder (``config.json`` +
``model.safetensors`` of `huggingface_hub.PyTorchModelHubMixin`, README.md model card, metrics.json,
training_curve.png) moved to ``<output-dir>`` only when complete.
"""

from __future__ import annotations

import copy
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from finetune.cards import front_matter, hyperparameter_table, percent, picture_data_lines, session_line
from finetune.image_data import MNIST_LABELS, ImageData, ImageDataError
from finetune.loop import (
    EarlyStopping,
    LabDataArguments,
    check_counts,
    check_device,
    check_early_stopping,
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
    publish_and_push,
    recorded_arguments,
    resume_hint,
    run_in_folders,
    write_report,
)

logger = logging.getLogger(__name__)

TASK = "digit-recognition"
METRIC = "accuracy"
# Arguments that may change between a run and its --resume without changing what is trained.
_RESUME_FREE = {"resume", "overwrite", "push_to_hub", "hub_model_id", "hub_private", "cache_dir", "device",
                "eval_batch_size"}
# LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document recognition", Fig. 9:
# LeNet-5's MNIST test error.
MNIST_ANCHORS = ("LeNet-5 (LeCun et al. 1998): 0.95 % test error, 0.8 % with distorted training data",)


def default_output_dir() -> str:
    """Where `load("digit-recognition")` looks: ``$MMHUB_CACHE/models/digit-recognition``."""
    from pipelines import lab

    return lab.resolve(lab.local_id(TASK))


@dataclass
class DigitsArguments(LabDataArguments):
    """Everything `python -m finetune.digits` takes; each field is a flag (``--max-samples``); the data flags are
    `finetune.loop.LabDataArguments`'.

    Args:
        output_dir (`str`, *optional*): the folder to create; default where ``load("digit-recognition")`` looks.
        dataset (`str`, defaults to ``"ylecun/mnist"``): a Hub id, a local folder / parquet file in the MNIST
            schema, or ``sklearn-digits``.
    """

    #: The digit CNN learns the ten digits: labels must be 0-9 (or class names "0" .. "9"); cat/dog, 99 are refused.
    classes: ClassVar[tuple[str, ...] | None] = MNIST_LABELS
    output_dir: str | None = field(default=None, metadata={
        "help": "Folder to create (model, README.md, metrics.json, training_curve.png). Default: "
                "$MMHUB_CACHE/models/digit-recognition, where load('digit-recognition') looks."})
    # data: the flags of LabDataArguments stand here, after --output-dir
    # training
    seed: int = field(default=42, metadata={"help": "Random seed (weights, data order, augmentation)."})
    batch_size: int = field(default=64, metadata={"help": "Training batch size."})
    eval_batch_size: int = field(default=1000, metadata={"help": "Evaluation batch size."})
    learning_rate: float = field(default=2e-3, metadata={"help": "Adam's peak learning rate (linear decay to 0)."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    num_train_epochs: int = field(default=5, metadata={"help": "Epochs (ignored when --max-steps > 0)."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (-1: epochs)."})
    augment_shift: int = field(default=2, metadata={
        "help": "Shift each training picture by up to this many pixels (random, seeded); 0 turns it off."})
    eval_steps: int = field(default=500, metadata={"help": "Evaluate on the validation split every N steps."})
    save_steps: int = field(default=500, metadata={"help": "Checkpoint every N steps (a multiple of --eval-steps)."})
    save_total_limit: int = field(default=2, metadata={"help": "Keep at most this many checkpoints (+ the best)."})
    logging_steps: int = field(default=50, metadata={"help": "Log the training loss every N steps."})
    early_stopping_patience: int = field(default=0, metadata={
        "help": "Stop after this many evaluations without a better validation accuracy and keep the best weights. "
                "Default 0: train to the end of the learning-rate decay and keep the last weights (usually the best "
                "here: the last, small steps still help)."})
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
        check_counts(self)
        check_seed_and_max_steps(self)
        check_device(self)
        if not 0 < self.learning_rate <= 1:
            raise UsageError(f"--learning-rate must be in (0, 1]; got {self.learning_rate}.")
        if not 0 <= self.weight_decay <= 1:
            raise UsageError(f"--weight-decay must be in [0, 1]; got {self.weight_decay}.")
        if not 0 <= self.augment_shift <= 6:
            raise UsageError(f"--augment-shift must be from 0 to 6 pixels; got {self.augment_shift}.")
        check_early_stopping(self)
        if self.output_dir is None:
            self.output_dir = default_output_dir()


def make_parser():
    """The `HfArgumentParser` of `DigitsArguments`."""
    from transformers import HfArgumentParser

    return HfArgumentParser(DigitsArguments, description=__doc__.split("\n")[0])


# ----------------------------------------------------------------------------------------------------------------
# the loop


def shift(x: Any, max_shift: int, generator: Any) -> Any:
    """Translate each picture of ``(B, 1, 28, 28)`` by up to `max_shift` pixels (zero fill: MNIST's black)."""
    import torch
    import torch.nn.functional as F

    if max_shift <= 0:
        return x
    b = x.shape[0]
    padded = F.pad(x, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (b, 2), generator=generator)
    rows = offsets[:, 0, None] + torch.arange(28)
    cols = offsets[:, 1, None] + torch.arange(28)
    index = torch.arange(b)[:, None, None]
    return padded[index, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def evaluate(model: Any, split: Any, batch_size: int, device: Any) -> dict[str, float]:
    """Accuracy and mean cross-entropy on a whole split."""
    import torch
    import torch.nn.functional as F

    model.eval()
    loss, correct = 0.0, 0
    with torch.inference_mode():
        for x, y in split.batches(batch_size, device=device):
            logits = model(x)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
    model.train()
    return {"accuracy": correct / len(split), "loss": loss / len(split), "samples": len(split)}


def train(args: DigitsArguments, folders: RunFolders, resume_from: str | None, data: ImageData,
          progress: Any = None) -> dict[str, Any]:
    """Train, checkpoint, evaluate, write and publish the output folder; returns the metrics."""
    import torch
    import torch.nn.functional as F

    from finetune.report import plot_training_curve  # noqa: F401  (fail before training if matplotlib is missing)
    from pipelines.base import resolve_device
    from pipelines.digit_recognition import DigitCNN

    started = time.perf_counter()
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    model = DigitCNN(num_classes=len(data.labels), labels=list(data.labels)).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    steps_per_epoch = data.train.num_batches(args.batch_size, drop_last=len(data.train) >= args.batch_size)
    total = args.max_steps if args.max_steps > 0 else args.num_train_epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1.0 - s / total))
    early = EarlyStopping(args.early_stopping_patience)
    modules = {"model": model, "optimizer": optimizer, "scheduler": scheduler}
    step, log_history, best_state = 0, [], None
    if resume_from:
        step, log_history, best_state = restore_training_state(resume_from, modules, early)
        logger.info("resuming from %s (step %d of %d)", resume_from, step, total)

    logger.info("Training the nn_vis LeNet on %s: %d pictures, %d steps (%d per epoch) on %s", data.source,
                len(data.train), total, steps_per_epoch, device)
    losses: list[float] = []
    stop = False
    last_eval: dict[str, float] = {}
    session_start, session_first_step, aside = time.perf_counter(), step, 0.0  # aside: evaluations, checkpoints
    while step < total and not stop:
        epoch, first = divmod(step, steps_per_epoch)
        for x, y in data.train.batches(args.batch_size, epoch=epoch, seed=args.seed, start=first,
                                       drop_last=len(data.train) >= args.batch_size):
            if args.augment_shift:
                x = shift(x, args.augment_shift, torch.Generator().manual_seed(args.seed * 1_000_003 + step))
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            last_loss = loss.item()
            losses.append(last_loss)
            if step % args.logging_steps == 0 or step == 1:
                log_history.append({"step": step, "epoch": round(step / steps_per_epoch, 4),
                                    "loss": mean_of(losses), "learning_rate": scheduler.get_last_lr()[0]})
                losses = []
            if step % args.eval_steps == 0 or step == total:
                paused = time.perf_counter()
                last_eval = evaluate(model, data.validation, args.eval_batch_size, device)
                aside += time.perf_counter() - paused
                log_history.append({"step": step, "epoch": round(step / steps_per_epoch, 4),
                                    "eval_loss": last_eval["loss"], "eval_accuracy": last_eval["accuracy"]})
                if early.update(last_eval[METRIC], step):
                    best_state = copy.deepcopy(model.state_dict())
                stop = early.should_stop
            if step % args.save_steps == 0 and step < total and not stop:
                paused = time.perf_counter()
                save_training_state(folders, step, modules, log_history, args.save_total_limit, best_state, early)
                aside += time.perf_counter() - paused
            info = {"stage": "train", "loss": last_loss, "epoch": step / steps_per_epoch,
                    "validation_accuracy": last_eval.get(METRIC)}
            if progress is not None and progress(step, total, info) is False:
                raise KeyboardInterrupt("stopped by the progress callback")
            if step >= total or stop:
                break
    if stop:
        logger.info("early stopping at step %d: no better validation accuracy since step %s", step, early.best_step)
    session_seconds = time.perf_counter() - session_start - aside  # training steps only
    if args.early_stopping_patience > 0 and best_state is not None:
        model.load_state_dict(best_state)
    validation = evaluate(model, data.validation, args.eval_batch_size, device)
    test = evaluate(model, data.test, args.eval_batch_size, device) if data.test is not None else None
    trained_steps = step - session_first_step
    metrics: dict[str, Any] = {
        "base_model": "DigitCNN (nn_vis LeNet), random initialisation",
        "labels": list(data.labels),
        "global_step": step,
        "epoch": step / steps_per_epoch,
        "final_train_loss": next((e["loss"] for e in reversed(log_history) if "loss" in e), None),
        "train_runtime_s": round(time.perf_counter() - started, 2),
        "train_samples_per_second": samples_per_second(trained_steps, args.batch_size, session_seconds),
        "best_step": early.best_step if args.early_stopping_patience > 0 else None,
        "early_stopped": stop,
        "validation": validation,
        "test": test,
        "data": data.describe(),
        "device": str(device),
        "log_history": log_history,
    }
    hyperparameters = card_hyperparameters(args, _RESUME_FREE)
    model.eval().cpu().save_pretrained(folders.staging)
    data.processor().save_pretrained(folders.staging)  # what the pipeline prepares pictures with (as trained)
    write_report(folders.staging, metrics, model_card(metrics, hyperparameters, args.hub_model_id), log_history,
                 title=f"nn_vis LeNet on {Path(data.source).name}")
    publish_and_push(folders, args, "nn_vis LeNet trained with mmhub")
    return metrics


def main(args: DigitsArguments, progress: Any = None) -> dict[str, Any]:
    """Load the data, train (or resume), publish; `progress(step, total, info)` after each step (False stops)."""
    def run(folders: RunFolders, resume_from: str | None) -> dict[str, Any]:
        data = args.load_data(args.seed)
        with resume_hint(folders):
            return train(args, folders, resume_from, data, progress)

    return run_in_folders(args.output_dir, recorded_arguments(args, _RESUME_FREE), args.resume, args.overwrite, run,
                          single_process="finetune.digits", args=args)


# ----------------------------------------------------------------------------------------------------------------
# the model card


def model_card(metrics: dict[str, Any], hyperparameters: dict[str, Any], repo_id: str | None = None) -> str:
    """README.md of the output folder: front matter, data, results, use, hyperparameters, published anchors."""
    data = metrics["data"]
    front = front_matter("mmhub", "image-classification", ["mnist", "lenet", "model_hub_mixin",
                                                           "pytorch_model_hub_mixin"], dataset=data.get("hub_dataset"))
    where = repo_id or "path/to/this/folder"
    rows = ["| split | pictures | accuracy | loss |", "|---|---|---|---|"]
    for name in ("validation", "test"):
        m = metrics.get(name)
        if m:
            rows.append(f"| {name} | {m['samples']} | {percent(m['accuracy'])} | {m['loss']:.4f} |")
    return "\n".join([
        *front, "",
        "# nn_vis LeNet digit classifier",
        "",
        "The convolutional network of Adam Harley's nn_vis demo (adamharley.com/nn_vis): conv 5x5 x6 -> 2x2 max "
        "pool -> conv 5x5 x16 -> 2x2 max pool -> fully connected 120 -> 100 -> 10, ReLU, on MNIST's 28x28 padded to "
        "32x32. Trained with `python -m finetune.digits` (mmhub); saved with `huggingface_hub.PyTorchModelHubMixin` "
        "(config.json + model.safetensors).",
        "",
        "## Data",
        "",
        *picture_data_lines(data),
        f"- classes: {', '.join(metrics['labels'])}",
        "",
        "## Results",
        "",
        *rows,
        "",
        session_line(metrics)
        + (f", best validation accuracy at step {metrics['best_step']}" if metrics.get("best_step") else "") + ".",
        "",
        "![training curve](training_curve.png)",
        "",
        "## Use",
        "",
        "```python",
        "from pipelines import load",
        "",
        f'dr = load("digit-recognition", model="{where}")',
        'result = dr("my_digit.png")          # a path, PIL image, array or Gradio sketch',
        "result.label, result.top, result.layers['conv1'].shape",
        "```",
        "",
        "`preprocessor_config.json` holds the picture preparation of training (grey, 28x28, /255) and the layout "
        "drawings are given first (the training pictures' ink box and colours): the pipeline applies it, so it "
        "reproduces the accuracy above on the same pictures.",
        "",
        "## Hyperparameters",
        "",
        *hyperparameter_table(hyperparameters, ensure_ascii=True),
        "",
        "## Published reference points (MNIST test set)",
        "",
        *(f"- {anchor}" for anchor in MNIST_ANCHORS),
        "",
    ])


def summary_line(metrics: dict[str, Any], output_dir: str) -> str:
    test = metrics.get("test")
    line = (f"Trained the nn_vis LeNet for {metrics['global_step']} steps in {metrics['train_runtime_s']:.1f} s: "
            f"validation accuracy {metrics['validation']['accuracy']:.4f}")
    if test:
        line += f", test accuracy {test['accuracy']:.4f}"
    return line + f" -> {output_dir}"


def cli(argv: list[str] | None = None) -> int:
    """Parse `argv`, run `main`, print the one-line summary; one-line errors for bad data or folders."""
    return cli_main(argv, DigitsArguments, main, lambda metrics, args: summary_line(metrics, args.output_dir),
                    __doc__.split("\n")[0], expected=(ImageDataError,))


if __name__ == "__main__":
    sys.exit(cli())
