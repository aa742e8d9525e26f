"""The lecture-lab models (digit CNN, VAE, GAN...): small custom torch modules saved the Hub way, trained locally.

These models have no published Hub checkpoint: a user trains one in minutes on a CPU (``python -m finetune.digits``,
or the Space's "train it now" button) and it lands in a documented local folder. The registry names that folder
with the reserved prefix ``local:`` (a colon: never a Hub id), resolved under ``$MMHUB_CACHE/models`` (default
``~/.cache/mmhub/models``). Any other model argument is a Hub id or a folder written by the same trainer
(``save_pretrained`` of `huggingface_hub.PyTorchModelHubMixin`: ``config.json`` + ``model.safetensors``).

>>> from pipelines import lab
>>> lab.resolve("local:digit-recognition")
'/home/me/.cache/mmhub/models/digit-recognition'
>>> model = lab.load_module(DigitCNN, "local:digit-recognition", task="digit-recognition",
...                         train_command="python -m finetune.digits")       # or a ModelLoadError naming it

Adding a lab task: a `PyTorchModelHubMixin` module, ``ModelInfo(lab.local_id(task), ...)`` as the registry's
default, a trainer whose default ``--output-dir`` is ``lab.resolve(lab.local_id(task))``, and `load_module` in the
pipeline's ``from_pretrained``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from pathlib import Path
from typing import Any

from pipelines.base import is_local_path, resolve_device, translating_load_errors
from pipelines.errors import ModelLoadError

logger = logging.getLogger(__name__)

LOCAL_PREFIX = "local:"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def models_dir() -> Path:
    """Where locally trained lab models live: ``$MMHUB_CACHE/models`` (default ``~/.cache/mmhub/models``)."""
    return Path(os.environ.get("MMHUB_CACHE", "~/.cache/mmhub")).expanduser() / "models"


def local_id(name: str) -> str:
    """The registry's name of a locally trained model: ``local:<name>``."""
    return f"{LOCAL_PREFIX}{name}"


def is_local_id(model: str) -> bool:
    return isinstance(model, str) and model.startswith(LOCAL_PREFIX)


def resolve(model: str) -> str:
    """``local:<name>`` -> the folder ``models_dir()/<name>``; anything else unchanged."""
    if is_local_id(model):
        return str(models_dir() / model[len(LOCAL_PREFIX):])
    return model


def is_trained(model: str) -> bool:
    """True when `model` (``local:<name>`` or a folder) holds a finished model."""
    folder = Path(resolve(model)).expanduser()
    return (folder / WEIGHTS).is_file() and (folder / CONFIG).is_file()


def load_module(cls: type, model: str, *, task: str, train_command: str, device: Any = None,
                revision: str | None = None) -> Any:
    """``cls.from_pretrained(model)`` (a `PyTorchModelHubMixin` module) in eval mode on `device`, strictly.

    Every failure is a `ModelLoadError`: a missing ``local:`` model names `train_command`; a folder or Hub repo of
    another architecture (its weights do not fit `cls`) is ``wrong_task``; an unreachable Hub is ``offline``.
    """
    device = resolve_device(device)
    path = resolve(model)
    if is_local_id(model) or is_local_path(path):
        folder = Path(path).expanduser()
        if not (folder / WEIGHTS).is_file():
            what = f"no trained {task} model in {folder} yet" if is_local_id(model) else \
                f"no {WEIGHTS} in {folder}" if folder.is_dir() else f"no such local folder {str(folder)!r}"
            raise ModelLoadError(model, "not_found", f"{what}. Train one (a few minutes on a CPU): `{train_command}`"
                                                     f"; or use model='tiny' (a small stand-in, offline), or pass a "
                                                     f"folder / Hub id of a model trained that way.")
        path = str(folder)
    with translating_load_errors(path, task), contextlib.redirect_stdout(io.StringIO()):  # mixin print()s
        try:
            module = cls.from_pretrained(path, revision=revision, strict=True, map_location="cpu")
        except RuntimeError as err:  # load_state_dict: missing / unexpected / mis-shaped tensors
            reason = "wrong_task" if "key" in str(err).lower() else "incompatible"
            raise ModelLoadError(model, reason, f"its weights do not fit a {cls.__name__} ({_first_line(err)})."
                                 ) from err
        except TypeError as err:  # config.json with arguments the class does not take
            raise ModelLoadError(model, "wrong_task", f"its config.json does not describe a {cls.__name__} "
                                                      f"({err}).") from err
    return module.to(device).eval()


def _first_line(err: BaseException, limit: int = 300) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
