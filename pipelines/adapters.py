"""LoRA adapters on the generators: find an adapter's base, check that it fits a model, apply it.

Two kinds of folders, both written by mmhub's trainers and loadable by the upstream libraries alone:

- a *language-model adapter* (peft): ``adapter_config.json`` + ``adapter_model.safetensors``; peft records the base
  in ``base_model_name_or_path``. ``load("text-generation", model=DIR)`` loads that base and applies it;
  ``load("text-generation", model=BASE, adapter=DIR)`` applies it to another copy of the base.
- a *Stable Diffusion LoRA* (diffusers): ``pytorch_lora_weights.safetensors`` with ``unet.<module>.lora.down/up``
  keys (``StableDiffusionLoraLoaderMixin.save_lora_weights``). ``load("text-to-image", lora=DIR)`` applies it.

An adapter trained for another base model is refused before anything is changed: every LoRA matrix is compared
with the layer it adapts (``lora_A`` / ``lora.down`` is ``(rank, in_features)``, ``lora_B`` / ``lora.up`` is
``(out_features, rank)``: peft's ``LoraLayer``), and the error names the base the adapter needs (from mmhub's
``mmhub_run.json``, else peft's ``base_model_name_or_path``).

>>> from pipelines import load
>>> gen = load("text-generation", model="runs/bielik-pl-lora")             # the base comes from the folder
>>> t2i = load("text-to-image", model="stable-diffusion-v1-5/stable-diffusion-v1-5", lora="runs/sks-mug")
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from pipelines.errors import InputError, ModelLoadError
from pipelines.textfiles import parse_json

logger = logging.getLogger(__name__)

PEFT_CONFIG = "adapter_config.json"
RUN_FILE = "mmhub_run.json"  # finetune.catalog.RUN_FILE (pipelines does not import finetune)
SD_LORA_WEIGHTS = "pytorch_lora_weights.safetensors"  # diffusers' LORA_WEIGHT_NAME_SAFE


def _run_info(folder: Path) -> dict[str, Any]:
    try:
        info = parse_json((folder / RUN_FILE).read_text(encoding="utf-8"))
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def is_lm_adapter(path: str | os.PathLike) -> bool:
    """True for a local folder holding a peft adapter (``adapter_config.json``)."""
    try:
        return (Path(path).expanduser() / PEFT_CONFIG).is_file()
    except (OSError, ValueError):
        return False


# ----------------------------------------------------------------------------------------------------------------
# language-model adapters (peft)


def lm_adapter_base(folder: str | os.PathLike) -> tuple[str, str | None]:
    """``(base model, revision)`` a peft adapter folder was trained on.

    mmhub's ``mmhub_run.json`` wins (it keeps the name the user gave, e.g. ``tiny-chat``, and the revision), then
    peft's ``adapter_config.json`` ``base_model_name_or_path``.
    """
    folder = Path(folder).expanduser()
    info = _run_info(folder)
    try:
        config = parse_json((folder / PEFT_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelLoadError(str(folder), "incompatible", f"unreadable {PEFT_CONFIG} ({err}).") from err
    base = info.get("base_model") or config.get("base_model_name_or_path")
    if not isinstance(base, str) or not base:
        raise ModelLoadError(str(folder), "incompatible", f"{PEFT_CONFIG} does not say which base model the adapter "
                                                          f"belongs to; pass it: load(..., model=BASE, adapter=DIR).")
    revision = info.get("base_revision") or config.get("revision")
    return base, revision if isinstance(revision, str) else None


def resolve_base(base: str) -> str:
    """A base model name as something ``from_pretrained`` loads: the tiny names become their cache folders."""
    from pipelines import TINY_NAMES

    if base in TINY_NAMES:
        from pipelines import tiny

        return str(tiny.build("text-generation", base))
    return base


def _lora_shapes(weights: Path, prefixes: tuple[str, ...], down: str, up: str) -> dict[str, dict[str, tuple]]:
    """``{module: {"down": shape, "up": shape}}`` for the LoRA matrices in a safetensors file (header only)."""
    from safetensors import safe_open

    shapes: dict[str, dict[str, tuple]] = {}
    with safe_open(str(weights), framework="pt") as handle:
        for key in handle.keys():  # noqa: SIM118 (safe_open is not a dict)
            for kind, suffix in (("down", down), ("up", up)):
                if key.endswith(suffix) and key.startswith(prefixes):
                    module = key[: -len(suffix)]
                    for prefix in prefixes:
                        if module.startswith(prefix):
                            module = module[len(prefix):]
                            break
                    shapes.setdefault(module, {})[kind] = tuple(handle.get_slice(key).get_shape())
    return shapes


#: The largest float16 value: a LoRA weight above it cannot be held in the half precision a GPU pipeline runs in, and
#: in float32 it overflows once multiplied (a weight of 1e30 gives black images, as NaN does).
HALF_MAX = 65504.0


def check_lora_weights(weights: Path, source: str, argument: str = "lora") -> None:
    """`InputError` naming `argument` and the file unless `weights` is a safetensors file of finite floating-point
    tensors within float16's range: not an empty file, not another format, no integer tensors, no NaN / inf / 1e30.

    Every tensor is read once (LoRA files are small: a few MB); a bad one is refused before anything is applied.
    """
    import torch
    from safetensors import SafetensorError, safe_open

    allowed = "a LoRA .safetensors file of finite floating-point weights"
    try:
        if weights.stat().st_size == 0:
            raise InputError(argument, source, allowed, f"{weights} is empty.")
        with safe_open(str(weights), framework="pt") as handle:
            keys = list(handle.keys())
            if not keys:
                raise InputError(argument, source, allowed, f"{weights} holds no tensors.")
            for key in keys:
                tensor = handle.get_tensor(key)
                if not tensor.is_floating_point():
                    raise InputError(argument, source, allowed, f"{weights}: tensor {key!r} holds {tensor.dtype} "
                                                                f"values, not floating-point weights.")
                values = tensor.float()
                if not bool(torch.isfinite(values).all()):
                    raise InputError(argument, source, allowed, f"{weights}: tensor {key!r} holds NaN or infinite "
                                                                f"values (they would turn every output black).")
                largest = float(values.abs().max()) if values.numel() else 0.0
                if largest > HALF_MAX:
                    raise InputError(argument, source, allowed,
                                     f"{weights}: tensor {key!r} holds a weight of {largest:.3g}, beyond float16's "
                                     f"range ({HALF_MAX:g}); a trained LoRA's weights are small.")
    except InputError:
        raise
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        raise InputError(argument, source, allowed, f"{weights} is not a readable safetensors file ({err}).") from None


def _layer_shape(layer: Any) -> tuple[int, int] | None:
    """``(in, out)`` features of a linear or convolution layer; None for layers LoRA is not checked on."""
    for fan_in, fan_out in (("in_features", "out_features"), ("in_channels", "out_channels")):
        if hasattr(layer, fan_in) and hasattr(layer, fan_out):
            return int(getattr(layer, fan_in)), int(getattr(layer, fan_out))
    if hasattr(layer, "nf") and getattr(layer, "weight", None) is not None:  # GPT-2's Conv1D: weight is (in, out)
        return int(layer.weight.shape[0]), int(layer.nf)
    return None


def mismatches(model: Any, shapes: dict[str, dict[str, tuple]], limit: int = 3) -> list[str]:
    """Why LoRA matrices do not fit `model` (a missing layer, other in/out sizes); empty when all fit."""
    problems = []
    for module, pair in shapes.items():
        try:
            layer = model.get_submodule(module)
        except AttributeError:
            problems.append(f"it adapts a layer {module!r} this model does not have")
        else:
            size = _layer_shape(layer)
            want = (pair["down"][1] if "down" in pair else None, pair["up"][0] if "up" in pair else None)
            if size is not None and any(w is not None and w != s for w, s in zip(want, size, strict=True)):
                problems.append(f"its layer {module!r} maps {want[0]} -> {want[1]} features, this model's maps "
                                f"{size[0]} -> {size[1]}")
        if len(problems) >= limit:
            break
    return problems


def check_lm_adapter(folder: str | os.PathLike, config: Any, model: str) -> None:
    """`ModelLoadError(incompatible)` naming the base the adapter needs, when it does not fit `config`'s model.

    The model is built on the meta device (no weights allocated), so a wrong 11B base costs nothing to refuse.
    """
    import torch
    from transformers import AutoModelForCausalLM

    folder = Path(folder).expanduser()
    weights = folder / "adapter_model.safetensors"
    if not weights.is_file():
        raise ModelLoadError(str(folder), "incompatible", "the adapter folder has no adapter_model.safetensors "
                                                          "(only safetensors adapters are loaded).")
    check_lora_weights(weights, str(folder), "adapter")
    shapes = _lora_shapes(weights, ("base_model.model.",), ".lora_A.weight", ".lora_B.weight")
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config)
    problems = mismatches(skeleton, shapes)
    base, _ = lm_adapter_base(folder)
    if problems:
        raise ModelLoadError(str(folder), "incompatible",
                             f"this LoRA adapter was trained on {base!r}, not {model!r}: {'; '.join(problems)}. "
                             f"Load it on its base: load('text-generation', model={str(folder)!r}).")
    if resolve_base(base) != model:
        logger.warning("applying an adapter trained on %s to %s: the layers fit, but check that this is the same "
                       "model family.", base, model)


def apply_lm_adapter(model: Any, folder: str | os.PathLike, merge: bool) -> Any:
    """The peft adapter in `folder` on `model`; merged into the weights (plain transformers model) when `merge`."""
    from peft import PeftModel

    peft_model = PeftModel.from_pretrained(model, str(Path(folder).expanduser()))
    return peft_model.merge_and_unload() if merge else peft_model


# ----------------------------------------------------------------------------------------------------------------
# Stable Diffusion LoRA (diffusers)


def sd_lora_list(lora: Any, lora_scale: Any) -> list[tuple[str, float]]:
    """``[(lora, scale)]`` from ``lora=`` (a path / Hub id, or a list) and ``lora_scale=`` (one number, or a list)."""
    from pipelines import validate

    if lora is None:
        return []
    loras = [lora] if isinstance(lora, (str, os.PathLike)) else lora
    if not isinstance(loras, (list, tuple)) or not loras:
        raise InputError("lora", lora, "a LoRA folder or Hub id, a non-empty list of them, or None")
    if not all(isinstance(item, (str, os.PathLike)) for item in loras):
        raise InputError("lora", lora, "LoRA folders or Hub ids (strings)")
    loras = [validate.text("lora", os.fspath(item)).strip() for item in loras]
    if len(set(loras)) != len(loras):
        raise InputError("lora", lora, "each LoRA once")
    scales = list(lora_scale) if isinstance(lora_scale, (list, tuple)) else [lora_scale] * len(loras)
    if len(scales) != len(loras):
        raise InputError("lora_scale", lora_scale, f"one number, or one per LoRA ({len(loras)})")
    scales = [validate.number("lora_scale", s, low=-4.0, high=4.0, hint="1 applies a LoRA as trained, 0 not at all.")
              for s in scales]
    return list(zip(loras, scales, strict=True))


def sd_lora_file(lora: str) -> Path | None:
    """The safetensors weights of a local LoRA folder (or file); None for a Hub id (diffusers downloads it)."""
    path = Path(lora).expanduser()
    if path.is_file():
        if path.suffix != ".safetensors":
            raise InputError("lora", lora, "a .safetensors LoRA file or a folder holding one")
        return path
    if path.is_dir():
        if (path / SD_LORA_WEIGHTS).is_file():
            return path / SD_LORA_WEIGHTS
        found = sorted(path.glob("*.safetensors"))
        if len(found) != 1:
            raise InputError("lora", lora, f"a folder with {SD_LORA_WEIGHTS} (or exactly one .safetensors file)",
                             f"It holds {len(found)} .safetensors files.")
        return found[0]
    from pipelines.base import is_local_path

    if is_local_path(lora):
        raise InputError("lora", lora, "an existing LoRA folder or file, or a Hub id")
    return None


def check_sd_lora(lora: str, weights: Path, pipe: Any, model: str) -> None:
    """`ModelLoadError(incompatible)` when a diffusers LoRA does not fit `pipe`'s UNet / text encoder."""
    shapes_by_part = {
        part: _lora_shapes(weights, (f"{part}.",), ".lora.down.weight", ".lora.up.weight")
        for part in ("unet", "text_encoder")
    }
    problems = []
    for part, shapes in shapes_by_part.items():
        component = getattr(pipe, part, None)
        if shapes and component is not None:
            problems += mismatches(component, shapes)
    if problems:
        base = _run_info(weights.parent).get("base_model")
        needs = f"it was trained on {base!r}" if base else "it was trained for another base model"
        raise ModelLoadError(lora, "incompatible", f"this LoRA does not fit {model!r}: {needs}; "
                                                   f"{'; '.join(problems[:3])}."
                                                   + (f" Load it with model={base!r}." if base else ""))


class SDLoras:
    """The LoRAs loaded into one Stable Diffusion pipeline's UNet / text encoder, by source, and which are active.

    `activate` loads each requested source once (``load_lora_weights(..., adapter_name=)``), deletes the adapters of
    the sources the request does not use (diffusers' ``delete_adapters``: the cached UNet shared by every request
    holds only the current request's LoRAs, never a growing pile of earlier ones), and sets the active set and their
    scales with ``set_adapters`` (several LoRAs combine). An empty list unloads them all (``unload_lora_weights``):
    the model is the base model again, as after `unload`.

    A request either succeeds whole or changes nothing: every new local LoRA is checked (its file, its weights, its
    fit) before any is loaded, and one that fails to load takes out the adapters loaded before it in the same
    request, leaving the earlier active set (and `active`) exactly as they were.
    """

    def __init__(self) -> None:
        self.names: dict[str, str] = {}  # source -> adapter name
        self.active: list[tuple[str, float]] = []
        self._loaded = 0  # adapter names are never reused: lora0, lora1, ... in load order

    def activate(self, pipe: Any, model: str, loras: list[tuple[str, float]]) -> None:
        if not loras:
            self.unload(pipe)
            return
        wanted = {source for source, _ in loras}
        new = [source for source, _ in loras if source not in self.names]
        files = {source: self._check(pipe, model, source) for source in new}  # all checked before any change
        loaded: list[str] = []
        try:
            for source in new:
                self._load(pipe, model, source, files[source])
                loaded.append(source)
            pipe.set_adapters([self.names[s] for s, _ in loras], adapter_weights=[scale for _, scale in loras])
        except BaseException:
            self._roll_back(pipe, loaded)
            raise
        stale = [name for source, name in self.names.items() if source not in wanted]
        if stale:
            pipe.delete_adapters(stale)
            self.names = {source: name for source, name in self.names.items() if source in wanted}
        self.active = list(loras)

    def _check(self, pipe: Any, model: str, source: str) -> Path | None:
        """The weights file of a local LoRA, checked (readable, finite, fits the model); None for a Hub id."""
        weights = sd_lora_file(source)
        if weights is not None:
            check_lora_weights(weights, source)
            check_sd_lora(source, weights, pipe, model)
        return weights

    def _load(self, pipe: Any, model: str, source: str, weights: Path | None) -> None:
        from pipelines.base import translating_load_errors

        name = f"lora{self._loaded}"
        self._loaded += 1
        if weights is None:  # a Hub id: diffusers downloads it
            with translating_load_errors(source, "text-to-image"):
                pipe.load_lora_weights(source, adapter_name=name)
        else:  # a local file (or the one in a folder): loaded by its folder and file name
            try:
                pipe.load_lora_weights(str(weights.parent), weight_name=weights.name, adapter_name=name)
            except (OSError, ValueError, KeyError, RuntimeError) as err:
                with contextlib.suppress(Exception):  # what a failed load may have injected
                    pipe.delete_adapters([name])
                raise ModelLoadError(source, "incompatible", f"diffusers cannot load this LoRA "
                                                             f"({type(err).__name__}: {err}).") from err
        self.names[source] = name
        logger.info("loaded LoRA %s into %s", source, model)

    def _roll_back(self, pipe: Any, loaded: list[str]) -> None:
        """Undo a failed `activate`: drop the adapters it loaded, make the earlier set active again."""
        names = [self.names.pop(source) for source in loaded if source in self.names]
        if names:
            pipe.delete_adapters(names)
        if not self.names:
            pipe.unload_lora_weights()  # exactly the base model, as `unload` leaves it
            self.active = []
        elif self.active:
            pipe.set_adapters([self.names[s] for s, _ in self.active],
                              adapter_weights=[scale for _, scale in self.active])

    def unload(self, pipe: Any) -> None:
        if self.names:
            pipe.unload_lora_weights()
        self.names.clear()
        self.active = []
