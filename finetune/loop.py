"""What the plain-PyTorch trainers (digits CNN, VAE, GAN) share: SIGKILL-safe checkpoints, early stopping, logging.

These models are too small for the Hugging Face Trainer to pay off (its per-step overhead is larger than a LeNet
step), so each trainer writes its own short loop over `finetune.image_data` batches and uses `finetune.run` for the
folders, the publishing and the CLI, and this module for the rest:

>>> from finetune.loop import EarlyStopping, load_checkpoint, save_checkpoint
>>> save_checkpoint(folders, step, {"model": model.state_dict(), "optimizer": optimizer.state_dict()},
...                 {"global_step": step, "log_history": log_history}, keep=2)
>>> payload, state = load_checkpoint(folders.last_checkpoint())           # on --resume

A checkpoint is ``<output>.partial/checkpoints/checkpoint-<step>/`` holding ``state.pt`` (tensors and plain values
only, read back with ``weights_only=True``) and, written last, ``trainer_state.json`` (the marker
`finetune.run.RunFolders` looks for): a run killed while saving leaves a checkpoint that ``--resume`` skips.
`save_training_state` / `restore_training_state` write and read the trainers' own layout of it (their modules'
state dicts by name, the best weights, the step, the log, the early-stopping count).

The supervised trainers on MNIST-schema pictures (digits CNN, VAE) also share their first flags
(`LabDataArguments`) and the checks of their loop flags (`check_counts`, `check_early_stopping`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from dataclasses import field
from pathlib import Path
from typing import Any, ClassVar

from finetune.holdout import check_fraction, fraction_field
from finetune.image_data import MNIST, ImageData, load_image_data
from finetune.run import RunFolders, UsageError, flag_name

logger = logging.getLogger(__name__)

STATE_FILE = "state.pt"
MARKER = "trainer_state.json"


def save_checkpoint(folders: RunFolders, step: int, payload: dict[str, Any], trainer_state: dict[str, Any],
                    keep: int = 2) -> Path:
    """Write ``checkpoint-<step>`` (payload, then the JSON marker) and delete all but the newest `keep` (the best
    weights so far travel inside each checkpoint, see `save_training_state`)."""
    import torch

    folder = folders.checkpoints / f"checkpoint-{step}"
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".{STATE_FILE}.{os.getpid()}"
    torch.save(payload, staging)
    os.replace(staging, folder / STATE_FILE)
    marker = folder / f".{MARKER}.{os.getpid()}"
    marker.write_text(json.dumps(trainer_state, indent=1, default=str))
    os.replace(marker, folder / MARKER)
    found = sorted((int(p.name.rsplit("-", 1)[1]), p) for p in folders.checkpoints.glob("checkpoint-*")
                   if p.name.rsplit("-", 1)[1].isdigit())
    for old_step, path in found[:-keep] if keep > 0 else found[:-1]:
        if old_step != step:
            shutil.rmtree(path, ignore_errors=True)
    return folder


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(payload, trainer_state)`` of a checkpoint folder written by `save_checkpoint`."""
    import torch

    path = Path(path)
    payload = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    return payload, json.loads((path / MARKER).read_text())


def save_training_state(folders: RunFolders, step: int, modules: dict[str, Any], log_history: list[dict[str, Any]],
                        keep: int, best_state: dict[str, Any] | None = None,
                        early: EarlyStopping | None = None) -> Path:
    """Checkpoint `modules` (``{"model": model, "optimizer": optimizer, ...}``: each one's state dict under its name),
    the best weights so far (``best_model``) and, in the marker, the step, the log and the early-stopping count."""
    payload = {name: module.state_dict() for name, module in modules.items()}
    if best_state is not None:
        payload["best_model"] = best_state
    state: dict[str, Any] = {"global_step": step, "log_history": log_history}
    if early is not None:
        state["early_stopping"] = early.state_dict()
    return save_checkpoint(folders, step, payload, state, keep=keep)


def restore_training_state(path: str | Path, modules: dict[str, Any],
                           early: EarlyStopping | None = None) -> tuple[int, list[dict[str, Any]], Any]:
    """Load a `save_training_state` checkpoint into `modules` (and `early`); returns ``(step, log_history,
    best_state)``."""
    payload, state = load_checkpoint(path)
    for name, module in modules.items():
        module.load_state_dict(payload[name])
    if early is not None:
        early.load_state_dict(state["early_stopping"])
    return state["global_step"], state["log_history"], payload.get("best_model")


@dataclasses.dataclass
class EarlyStopping:
    """Stop after `patience` evaluations without a better `metric` (higher is better unless ``mode="min"``).

    ``patience=0`` never stops. `state_dict` / `load_state_dict` carry the count across ``--resume``.
    """

    patience: int
    mode: str = "max"
    best: float | None = None
    best_step: int | None = None
    bad_evaluations: int = 0

    def update(self, value: float, step: int) -> bool:
        """Record one evaluation; True when it is the best so far."""
        better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
        if better:
            self.best, self.best_step, self.bad_evaluations = float(value), step, 0
        else:
            self.bad_evaluations += 1
        return better

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_evaluations >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def mean_of(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def samples_per_second(steps: int, batch_size: int, seconds: float) -> float | None:
    """Training throughput of a session (``metrics.json``'s ``train_samples_per_second``); None if nothing ran."""
    return round(steps * batch_size / seconds, 1) if seconds > 0 and steps else None


# ----------------------------------------------------------------------------------------------------------------
# the flags


@dataclasses.dataclass
class LabDataArguments:
    """The output folder and the data flags of the trainers on labelled MNIST-schema pictures (`finetune.digits`,
    `finetune.vae`): the first fields of their argument dataclasses, so the first flags of their ``--help`` and the
    first rows of their cards' hyperparameters. A trainer redeclares `output_dir` with its own help (and fills the
    default in ``__post_init__``), and any flag whose help differs; a redeclared field keeps its place.
    """

    #: The model's classes, when it has fixed ones (the digit CNN: "0" .. "9"): any other label is refused
    #: (`finetune.image_data.load_image_data`'s `classes`). Not a flag.
    classes: ClassVar[tuple[str, ...] | None] = None
    output_dir: str | None = None
    # data
    dataset: str = field(default=MNIST, metadata={
        "help": "Hub dataset id, a local folder (save_to_disk, parquet files or an image folder) or .parquet file "
                "with columns image / label, or 'sklearn-digits' (scikit-learn's bundled digits, offline)."})
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration."})
    dataset_revision: str | None = field(default=None, metadata={"help": "Hub dataset revision."})
    image_column: str = field(default="image", metadata={"help": "Image column."})
    label_column: str = field(default="label", metadata={"help": "Label column (class indices)."})
    validation_size: int = field(default=5000, metadata={
        "help": "At most this many pictures held out of the training split for validation, when the dataset has "
                "no validation split."})
    validation_fraction: float = fraction_field()
    max_samples: int | None = field(default=None, metadata={"help": "Train on at most this many pictures."})
    max_eval_samples: int | None = field(default=None, metadata={
        "help": "Evaluate on at most this many validation and test pictures (default: all)."})
    cache_dir: str | None = field(default=None, metadata={"help": "datasets' cache folder."})

    def load_data(self, seed: int) -> ImageData:
        """The pictures these flags name (`finetune.image_data.load_image_data`), held out and subset with `seed`."""
        return load_image_data(self.dataset, config=self.dataset_config, revision=self.dataset_revision,
                               image_column=self.image_column, label_column=self.label_column,
                               validation_size=self.validation_size, max_samples=self.max_samples,
                               max_eval_samples=self.max_eval_samples, seed=seed, cache_dir=self.cache_dir,
                               validation_fraction=self.validation_fraction, classes=self.classes)


#: The count flags of `finetune.digits` and `finetune.vae`: each at least 1.
COUNT_FLAGS = ("batch_size", "eval_batch_size", "eval_steps", "save_steps", "logging_steps", "validation_size",
               "num_train_epochs", "save_total_limit")


#: Upper bounds of the count flags (default `COUNT_MAX`): a batch is a tensor in memory, a checkpoint a folder.
COUNT_LIMITS = {"batch_size": 65_536, "eval_batch_size": 65_536, "save_total_limit": 1000, "num_train_epochs": 100_000}
COUNT_MAX = 10**9


def check_counts(args: Any, names: tuple[str, ...] = COUNT_FLAGS,
                 optional: tuple[str, ...] = ("max_samples", "max_eval_samples")) -> None:
    """`UsageError` naming the flag unless each of `names`, and each of `optional` that is set, is an integer from 1
    to its bound in `COUNT_LIMITS` (`COUNT_MAX` for the others)."""
    for name in (*names, *(n for n in optional if getattr(args, n) is not None)):
        value, high = getattr(args, name), COUNT_LIMITS.get(name, COUNT_MAX)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise UsageError(f"{flag_name(name)} must be an integer from 1 to {high}; got {value}.")
    if hasattr(args, "validation_fraction"):
        check_fraction(args.validation_fraction)


def check_seed_and_max_steps(args: Any) -> None:
    """``--seed`` from 0 to 2**32 - 1 (numpy's range: the data order draws from it) and ``--max-steps`` -1 (the
    epochs) or from 1; each a `UsageError` naming the flag."""
    from pipelines import validate
    from pipelines.errors import InputError

    try:
        validate.integer("--seed", args.seed, low=0, high=2**32 - 1)
        if args.max_steps != -1:
            validate.integer("--max-steps", args.max_steps, low=1, high=10**9,
                             hint="Or -1: train for --num-train-epochs.")
    except InputError as err:
        raise UsageError(str(err)) from None


def check_device(args: Any) -> None:
    """``--device`` (when given) names a device this machine has: a `UsageError` at parse time, before the data
    loads, for an unknown name, CUDA without a GPU, or a GPU index past the last one."""
    if args.device is None:
        return
    from pipelines.base import resolve_device
    from pipelines.errors import InputError

    try:
        device = resolve_device(args.device)
    except InputError as err:
        raise UsageError(f"--device must be cpu, cuda or cuda:N on this machine; got {args.device!r}."
                         + (f" {err.hint}" if err.hint else "")) from None
    if device.type == "cuda" and device.index is not None:
        import torch

        if device.index >= torch.cuda.device_count():
            raise UsageError(f"--device {args.device}: this machine has {torch.cuda.device_count()} CUDA GPU(s) "
                             f"(cuda:0 to cuda:{torch.cuda.device_count() - 1}).")


def check_early_stopping(args: Any) -> None:
    """``--early-stopping-patience`` >= 0; when on, ``--save-steps`` a multiple of ``--eval-steps`` (so that every
    checkpoint holds the best weights so far)."""
    if args.early_stopping_patience < 0:
        raise UsageError(f"--early-stopping-patience must be >= 0; got {args.early_stopping_patience}.")
    if args.early_stopping_patience > 0 and args.save_steps % args.eval_steps:
        raise UsageError(f"--save-steps ({args.save_steps}) must be a multiple of --eval-steps "
                         f"({args.eval_steps}) so that the best weights are in every checkpoint (or pass "
                         f"--early-stopping-patience 0).")
