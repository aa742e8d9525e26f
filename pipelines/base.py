"""The small shared contract: device/dtype choice, load-error translation, result serialisation, the base class."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from pipelines.errors import ModelLoadError

logger = logging.getLogger(__name__)

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
        from pipelines.errors import InputError

        raise InputError("device", device, "'cpu', 'cuda', 'cuda:N' or None (auto)") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        from pipelines.errors import InputError

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
        from pipelines.errors import InputError

        raise InputError("dtype", dtype, "one of float32, float16, bfloat16 (or a torch.dtype), or None (auto)")
    return getattr(torch, name)


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
