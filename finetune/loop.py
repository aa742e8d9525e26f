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
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from finetune.run import RunFolders

logger = logging.getLogger(__name__)

STATE_FILE = "state.pt"
MARKER = "trainer_state.json"


def save_checkpoint(folders: RunFolders, step: int, payload: dict[str, Any], trainer_state: dict[str, Any],
                    keep: int = 2, protect: tuple[int, ...] = ()) -> Path:
    """Write ``checkpoint-<step>`` (payload, then the JSON marker) and delete all but the newest `keep` (and the
    steps in `protect`, e.g. the best one)."""
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
        if old_step not in protect and old_step != step:
            shutil.rmtree(path, ignore_errors=True)
    return folder


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(payload, trainer_state)`` of a checkpoint folder written by `save_checkpoint`."""
    import torch

    path = Path(path)
    payload = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    return payload, json.loads((path / MARKER).read_text())


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
