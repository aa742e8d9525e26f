"""The small shared contract: device/dtype choice, load-error translation, result serialisation, the base class."""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import inspect
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from pipelines.errors import InputError, ModelLoadError

logger = logging.getLogger(__name__)

#: The one progress-callback shape of every pipeline: ``progress(step, total, info)`` after each unit of work
#: (a denoising step, an optimisation step, a separated segment, a spoken sentence...), ``1 <= step <= total``;
#: ``info`` is a dict (``"stage"``, ``"loss"``, a ``"preview"`` image...). Returning ``False`` asks the pipeline to
#: stop early (it then returns what it has and says so in its result). The CLI feeds a tqdm bar from it, the Spaces
#: a ``gr.Progress``.
ProgressCallback = Callable[[int, int, dict[str, Any]], Any]


def report_progress(progress: ProgressCallback | None, step: int, total: int, **info: Any) -> bool:
    """Call ``progress(step, total, info)`` if there is one; False when it asked to stop."""
    return progress is None or progress(step, total, info) is not False


def check_keywords(func: Callable[..., Any], kwargs: dict[str, Any], where: str, skip: int = 0) -> None:
    """`InputError` for a keyword `func` does not take (with a did-you-mean), instead of Python's `TypeError`.

    `skip` leading positional parameters (``self``, ``model``) are not offered as keywords.
    """
    parameters = list(inspect.signature(func).parameters.values())[skip:]
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return
    known = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for name, value in kwargs.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            raise InputError(name, value, f"a parameter {where} takes ({', '.join(known)})",
                             f"Did you mean {close[0]!r}?" if close else None)


def _checked_call(call: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a pipeline's ``__call__`` so that unknown, missing or doubled arguments raise `InputError`."""
    signature = inspect.signature(call)

    @functools.wraps(call)
    def checked(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            signature.bind(self, *args, **kwargs)
        except TypeError as err:
            check_keywords(call, kwargs, f"the {self.task or type(self).__name__} pipeline", skip=1)
            raise InputError("arguments", f"{len(args)} positional, keywords {sorted(kwargs)}",
                             f"a valid call of {type(self).__name__}{str(signature).replace('(self, ', '(', 1)}",
                             f"({err})") from None
        return call(self, *args, **kwargs)

    checked._mmhub_checked = True  # type: ignore[attr-defined]
    return checked

_DTYPES = {"float32": "float32", "fp32": "float32", "float": "float32", "float16": "float16", "fp16": "float16",
           "half": "float16", "bfloat16": "bfloat16", "bf16": "bfloat16"}


def resolve_device(device: Any = None):
    """`torch.device`: the explicit argument, else CUDA when present, else CPU."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise InputError("device", device, "'cpu', 'cuda', 'cuda:N' or None (auto)") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device", device, "a device this machine has", "No CUDA GPU is visible; use 'cpu'.")
    return resolved


def resolve_dtype(dtype: Any, device) -> Any:
    """`torch.dtype`: the explicit argument, else bfloat16 (or float16) on GPU and float32 on CPU."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    name = _DTYPES.get(str(dtype).replace("torch.", "").lower())
    if name is None:
        raise InputError("dtype", dtype, "one of float32, float16, bfloat16 (or a torch.dtype), or None (auto)")
    return getattr(torch, name)


def place_diffusers_pipeline(pipe: Any, device: Any, cpu_offload: bool | None, reserve_bytes: int) -> tuple[bool, int]:
    """Put a diffusers pipeline on `device`; returns ``(offloaded, free bytes afterwards)``.

    On CUDA, `cpu_offload` (None: when the GPU's free memory is below the weights plus `reserve_bytes`) keeps each
    model on the CPU until it runs (``enable_model_cpu_offload``); the free bytes are then the GPU's, elsewhere the
    machine's RAM. Callers switch their own memory savers (attention / VAE slicing, VAE tiling) on that figure.
    """
    import torch

    if device.type != "cuda":
        import psutil

        pipe.to(device)
        return False, psutil.virtual_memory().available
    weights = sum(p.numel() * p.element_size() for m in pipe.components.values()
                  if isinstance(m, torch.nn.Module) for p in m.parameters())
    free, _ = torch.cuda.mem_get_info(device)
    if cpu_offload is None:
        cpu_offload = free < weights + reserve_bytes
    if cpu_offload:
        logger.info("Model CPU offload on (%.1f GiB free on the GPU, %.1f GiB of weights)", free / 2**30,
                    weights / 2**30)
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    return bool(cpu_offload), torch.cuda.mem_get_info(device)[0]


def is_local_path(model: str) -> bool:
    """True for something that names a folder rather than a Hub id (exists, or starts like a path)."""
    return os.path.isdir(model) or model.startswith((".", "/", "~")) or os.sep in model.replace("/", "", 1)


@contextlib.contextmanager
def translating_load_errors(model: str, task: str) -> Iterator[None]:
    """Turn the Hub's and the libraries' many load failures into one `ModelLoadError` that says which case it is."""
    if is_local_path(model) and not os.path.isdir(os.path.expanduser(model)):
        raise ModelLoadError(model, "not_found", f"no such local folder {str(Path(model).expanduser())!r}.")
    try:
        yield
    except ModelLoadError:
        raise
    except ImportError as err:
        raise ModelLoadError(model, "missing_dependency", f"{err}") from err
    except (OSError, ValueError, KeyError) as err:
        raise _classify(err, model, task) from err


def _classify(err: BaseException, model: str, task: str) -> BaseException:
    from huggingface_hub import errors as hub_errors

    chain, cause = [], err
    while cause is not None and len(chain) < 8:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    text = " ".join(str(e) for e in chain)
    names = {type(e).__name__ for e in chain}
    if any(isinstance(e, hub_errors.GatedRepoError) for e in chain) or "gated repo" in text.lower():
        return ModelLoadError(model, "not_found", "the repository is gated: accept its terms on the Hub and run "
                                                  "`hf auth login` (or set HF_TOKEN).")
    if (any(isinstance(e, hub_errors.RepositoryNotFoundError) for e in chain)
            or "is not a valid model identifier" in text or "Repo id must" in text
            or "is not a local folder" in text):
        return ModelLoadError(model, "not_found", f"no repository {model!r} on the Hub and no such local folder. "
                                                  f"Check the id (e.g. `python -m pipelines list`).")
    offline = ModelLoadError(model, "offline", "the Hugging Face Hub cannot be reached and the model is not in the "
                                               "local cache. Download it once with network access "
                                               f"(`hf download {model}`), or pass a local folder.")
    if ("couldn't connect" in text.lower() or "offline" in text.lower() or "LocalEntryNotFoundError" in names
            or "OfflineModeIsEnabled" in names or "connection" in text.lower()):
        return offline
    if "Unrecognized configuration class" in text or "Unrecognized model" in text:
        return ModelLoadError(model, "wrong_task", f"this checkpoint is not a {task} model ({chain[0]}).")
    if isinstance(err, OSError) and not is_local_path(model) and _hub_offline():
        return offline  # some loaders (feature extractors...) word "offline and not cached" as a generic OSError
    return ModelLoadError(model, "incompatible", str(err))


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def check_architecture(config: Any, model: str, task: str, suffixes: tuple[str, ...]) -> None:
    """Raise `ModelLoadError(wrong_task)` when the checkpoint's declared architectures fit none of `suffixes`."""
    architectures = getattr(config, "architectures", None) or []
    if architectures and not any(a.endswith(suffixes) for a in architectures):
        raise ModelLoadError(model, "wrong_task", f"it is a {', '.join(architectures)}, not a {task} model "
                                                  f"(expected *{' / *'.join(suffixes)}).")


@dataclasses.dataclass
class Result:
    """Base of every pipeline result: a dataclass that serialises to plain JSON."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if getattr(value, "ndim", 0) > 0 and hasattr(value, "shape"):  # audio and other arrays: describe, don't inline
        return {"array": {"shape": list(value.shape), "dtype": str(value.dtype)}}
    if hasattr(value, "tolist"):  # numpy / torch scalars
        return value.tolist()
    if hasattr(value, "size") and hasattr(value, "mode"):  # PIL images: describe, don't inline
        return {"image": {"size": list(value.size), "mode": value.mode}}
    return value


class Pipeline:
    """Base class: holds the model id, device and dtype; subclasses implement `from_pretrained` and `__call__`.

    Subclasses validate first (raising `InputError`), then call the wrapped library, then return a `Result`.
    """

    task: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        if call is not None and not getattr(call, "_mmhub_checked", False):
            cls.__call__ = _checked_call(call)  # type: ignore[method-assign]

    def __init__(self, model_id: str, device: Any, dtype: Any):
        self.model_id, self.device, self.dtype = model_id, device, dtype

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None, **options: Any) -> Pipeline:
        raise NotImplementedError

    def __call__(self, inputs: Any, **params: Any) -> Any:
        raise NotImplementedError

    @property
    def is_tiny(self) -> bool:
        """True when this runs a tiny random model: its output is noise, and UIs say so."""
        from pipelines.tiny import is_tiny_path

        return is_tiny_path(self.model_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model_id!r}, device={self.device}, dtype={self.dtype})"
