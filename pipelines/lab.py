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

Adding a lab task: a `PyTorchModelHubMixin` module (listed in `LAB_MODELS`), ``ModelInfo(lab.local_id(task), ...)``
as the registry's default, a trainer whose default ``--output-dir`` is ``lab.resolve(lab.local_id(task))``, and
`load_module` in the pipeline's ``from_pretrained``.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import logging
import os
from pathlib import Path
from typing import Any

from pipelines.base import is_local_path, resolve_device, translating_load_errors
from pipelines.errors import ModelLoadError
from pipelines.textfiles import parse_json

logger = logging.getLogger(__name__)

LOCAL_PREFIX = "local:"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


# Every lab model class, with the tasks that load it and its name in messages.
# `PyTorchModelHubMixin.save_pretrained` writes all of a class's ``__init__`` arguments (the passed ones and the
# JSON-able defaults) to config.json, and `from_pretrained` silently drops config keys the ``__init__`` does not take
# (huggingface_hub hub_mixin.py, ``_hub_mixin_jsonable_default_values`` / "Populate model_kwargs from config"): so a
# folder of another lab model builds a default `cls` and fails on its tensors, or even loads. Their key sets tell
# the classes apart (each set is different: tests/pipelines/test_lab.py).
LAB_MODELS: dict[str, tuple[tuple[str, ...], str]] = {  # class -> (the tasks that load it, its name in messages)
    "pipelines.digit_recognition:DigitCNN": (("digit-recognition", "activation-maximisation"),
                                             "digit-recognition CNN"),
    "pipelines.autoencoder:MnistVAE": (("autoencoder",), "MNIST VAE"),
    "pipelines.gan:DCGANGenerator": (("gan",), "DCGAN generator"),
    # the trainer saves it in the generator's folder, as discriminator/: load that folder as a gan
    "pipelines.gan:DCGANDiscriminator": (("gan",), "DCGAN discriminator"),
    "pipelines.playground:PlaygroundNet": (("playground",), "Playground network"),
    "pipelines.metric_learning:EmbeddingNet": (("metric-learning",), "metric-learning embedding network"),
}
DISCRIMINATOR = "pipelines.gan:DCGANDiscriminator"


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


def config_keys(cls: type) -> frozenset[str]:
    """The config.json keys `PyTorchModelHubMixin` writes for `cls`: its ``__init__`` arguments."""
    return frozenset(name for name, p in inspect.signature(cls.__init__).parameters.items()
                     if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))


def lab_classes() -> dict[str, type]:
    """`LAB_MODELS`' classes by their ``module:name`` (imported on first use: torch and the pipelines)."""
    out = {}
    for name in LAB_MODELS:
        module, attribute = name.split(":")
        out[name] = getattr(importlib.import_module(module), attribute)
    return out


def check_config(cls: type, model: str, config: Any, unknown_hint: str = "") -> None:
    """`ModelLoadError` (``wrong_task``) unless `config` (a folder's config.json) can describe a `cls`.

    A config whose keys are exactly another lab model's is named (``... is an MNIST VAE, not a digit-recognition
    CNN; load it with load('autoencoder', ...)``); one with keys `cls` does not take is refused (`unknown_hint`
    added). A config with only some of `cls`'s keys (written by hand: the others take their defaults) passes.
    """
    if not isinstance(config, dict):
        raise ModelLoadError(model, "incompatible", f"its {CONFIG} is not a JSON object.")
    ours, keys = f"{cls.__module__}:{cls.__qualname__}", frozenset(config)
    expected = config_keys(cls)
    what = LAB_MODELS.get(ours, ((), cls.__name__))[1]
    if keys == expected:
        return
    for name, other in lab_classes().items():
        if name != ours and keys == config_keys(other):
            tasks, its_name = LAB_MODELS[name]
            target = model.rstrip("/\\")
            if name == DISCRIMINATOR:
                target = str(Path(target).parent) if Path(target).name == "discriminator" else "<the GAN's folder>"
            how = " or ".join(f"load({task!r}, model={target!r})" for task in tasks)
            raise ModelLoadError(model, "wrong_task", f"it is {_a(its_name)} model, not {_a(what)} (its {CONFIG} has "
                                                      f"{', '.join(sorted(keys))}); load it with {how}.")
    unknown = sorted(keys - expected)
    if unknown:
        raise ModelLoadError(model, "wrong_task", f"its {CONFIG} does not describe {_a(what)} (it has "
                                                  f"{', '.join(unknown[:8])}{', ...' if len(unknown) > 8 else ''}; "
                                                  f"{_a(what)} takes {', '.join(sorted(expected))})."
                                                  + (f" {unknown_hint}" if unknown_hint else ""))


def _a(name: str) -> str:
    return f"{'an' if name[0].lower() in 'aeiou' or name.startswith('MNIST') else 'a'} {name}"


def _read_config(path: str, model: str, local: bool, revision: str | None) -> Any:
    """The parsed config.json of a folder or Hub repo, or None when it has none (the mixin then uses defaults)."""
    if local:
        file = Path(path) / CONFIG
        if not file.is_file():
            return None
    else:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import RemoteEntryNotFoundError

        try:  # the same file (and cache entry) the mixin reads next
            file = Path(hf_hub_download(path, CONFIG, revision=revision))
        except RemoteEntryNotFoundError:  # the repo has no config.json (not: offline and not cached)
            return None
    try:
        return parse_json(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelLoadError(model, "incompatible", f"its {CONFIG} is not valid JSON ({_first_line(err)}).") from None


def load_module(cls: type, model: str, *, task: str, train_command: str, device: Any = None,
                revision: str | None = None, unknown_hint: str = "") -> Any:
    """``cls.from_pretrained(model)`` (a `PyTorchModelHubMixin` module) in eval mode on `device`, strictly.

    Every failure is a `ModelLoadError`: a missing ``local:`` model names `train_command`; a folder or Hub repo of
    another lab model (its config.json, see `check_config`) or another architecture (its weights do not fit `cls`)
    is ``wrong_task``, naming the task that loads it where it can tell; an unreachable Hub is ``offline``.
    `unknown_hint` ends the message for a config.json that `cls` does not take.
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
    local = is_local_path(path)
    with translating_load_errors(path, task), contextlib.redirect_stdout(io.StringIO()):  # mixin print()s
        config = _read_config(path, model, local, revision)
        if config is not None:
            check_config(cls, model, config, unknown_hint)
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
    """The start of `err`'s message: its first line, and the next (torch's "Error(s) in loading state_dict for X:"
    says what only on the second)."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    text = " ".join(lines[:2]) if lines else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
