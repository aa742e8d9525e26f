"""Music source separation with Demucs (HTDemucs), through demucs' own `demucs.api.Separator`.

>>> from pipelines import load
>>> sep = load("separation")                         # htdemucs, from the Hub repo adefossez/HTDemucs
>>> result = sep("song.mp3")                         # or an array (channels, samples) with sample_rate=
>>> sorted(result.stems), result.sample_rate
(['bass', 'drums', 'other', 'vocals'], 44100)
>>> result.save("stems/")                            # stems/vocals.wav, stems/drums.wav, ...
>>> karaoke = sep("song.mp3", two_stems="vocals")    # {'vocals', 'no_vocals'}

Long tracks are cut by demucs into overlapping segments (``split=True``), so the model's working memory does not
grow with the track; only the stems themselves (and demucs' accumulator of the same size) do.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import threading
from pathlib import Path
from typing import Any
from urllib.error import URLError

import numpy as np

from pipelines import validate
from pipelines.audio import read_audio, save_audio
from pipelines.base import (
    Pipeline,
    ProgressCallback,
    Result,
    is_local_path,
    report_progress,
    resolve_device,
    translating_load_errors,
)
from pipelines.errors import Cancelled, InputError, ModelLoadError

logger = logging.getLogger(__name__)

MIN_SECONDS = 0.5
MAX_SECONDS = 30 * 60.0
MAX_SHIFTS = 20
MAX_OVERLAP = 0.9  # 1 - overlap is the stride between segments: at 0.9, ten times the segments of no overlap
MAX_SEGMENT = 600.0  # seconds; the model's own segment is the real limit, checked once it is loaded
MAX_JOBS = 64


@dataclasses.dataclass
class SeparationResult(Result):
    """Separated stems: name -> float32 array ``(channels, samples)`` at `sample_rate` (the model's rate)."""

    stems: dict[str, np.ndarray]
    sample_rate: int

    def save(self, folder: str | os.PathLike, format: str = "wav", subtype: str | None = None) -> dict[str, Path]:
        """Write each stem to ``folder/<name>.<format>`` (``wav`` or ``flac``); returns name -> path."""
        if format.lower().lstrip(".") not in ("wav", "flac"):
            raise InputError("format", format, "'wav' or 'flac'")
        folder = Path(folder).expanduser()
        return {name: save_audio(folder / f"{name}.{format.lower().lstrip('.')}", audio, self.sample_rate, subtype)
                for name, audio in self.stems.items()}


class SeparationPipeline(Pipeline):
    """Splits music into stems (vocals, drums, bass, other; + guitar, piano with ``htdemucs_6s``) with Demucs.

    Example:

    >>> sep = SeparationPipeline.from_pretrained("htdemucs")
    >>> sep("song.flac", shifts=2).stems["vocals"].shape      # (2, samples) at 44.1 kHz
    """

    task = "separation"

    def __init__(self, separator: Any, model_id: str, device: Any, dtype: Any, overlap: float = 0.25):
        super().__init__(model_id, device, dtype)
        self.separator = separator
        self.overlap = overlap  # the default of every call that passes none (from_pretrained's `overlap`)
        # A call sets the shared Separator's shifts / overlap / callback and seeds Python's global `random` (demucs
        # draws its shifts from it): calls from several threads take turns, so none runs with another's settings.
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(cls, model: str = "htdemucs", *, device: Any = None, dtype: Any = None,
                        revision: str | None = None, name: str | None = None, overlap: float = 0.25,
                        segment: float | None = None, jobs: int = 0) -> SeparationPipeline:
        """Load a Demucs model by name (``htdemucs``, ``htdemucs_ft``, ``htdemucs_6s``, ``ns/name``...) or a folder.

        Names are resolved by demucs itself (`demucs.pretrained.get_model`, demucs 4.1): ``hf://[ns/]name`` only on
        the Hub; any other name first on the Hub (``adefossez/HTDemucs`` for ``htdemucs``, ``ns/name`` for another
        namespace), then in demucs' legacy repository (the bags in ``demucs/remote/*.yaml`` and the signatures in
        ``remote/files.txt``, downloaded by torch.hub to ``~/.cache/torch/hub/checkpoints``; this also serves
        signatures such as ``955717e8``, and weights a ``demucs`` command line run already downloaded).

        Args:
            model (`str`): a demucs model name, or a local demucs repository folder (``<sig>.th`` files plus a
                ``<name>.yaml`` bag, as ``demucs --repo``).
            device (`str`, *optional*): default CUDA when present, else CPU.
            dtype: demucs runs in float32; anything else is refused.
            revision: must be None: demucs' loaders read the repository's main revision.
            name (`str`, *optional*): the bag to load from a local folder holding several ``.yaml`` files.
            overlap (`float`, defaults to 0.25): default overlap between segments, 0 to 0.9.
            segment (`float`, *optional*): seconds per segment, more than 0 and at most the model's own (7.8 s for
                HTDemucs); default the model's.
            jobs (`int`, defaults to 0): demucs' worker threads, 0 to 64.
        """
        import torch
        from demucs.api import Separator
        from demucs.repo import ModelLoadingError

        device = resolve_device(device)
        if dtype not in (None, "auto", "float32", "fp32", torch.float32):
            raise InputError("dtype", dtype, "float32 (or None): demucs runs in float32")
        if revision is not None:
            raise InputError("revision", revision, "None for demucs models", "demucs' loaders always read the "
                                                                             "repository's main revision.")
        overlap = validate.number("overlap", overlap, low=0.0, high=MAX_OVERLAP)
        segment = validate.optional_number("segment", segment, low=0.0, high=MAX_SEGMENT, low_open=True)
        jobs = validate.integer("jobs", jobs, low=0, high=MAX_JOBS)
        name = validate.optional_text("name", name, allow_empty=False)
        options = {"device": str(device), "shifts": 1, "overlap": overlap, "jobs": jobs, "progress": False}
        hub_only = model.startswith("hf://") if isinstance(model, str) else False
        with translating_load_errors(model[len("hf://"):] if hub_only else model, cls.task):
            if not hub_only and is_local_path(model):
                folder = Path(model).expanduser()
                separator = Separator(model=_bag_name(folder, name), repo=folder, **options)
            else:
                _check_cached_when_offline(model)  # before demucs tries its download server
                try:
                    separator = Separator(model=model, **options)
                except ModelLoadingError as err:  # demucs' "... is neither a single pre-trained model or a bag"
                    raise ModelLoadError(model, "not_found", f"demucs knows no model {model!r} on the Hub or in "
                                                             f"its legacy repository ({err}). Known names include "
                                                             f"htdemucs, htdemucs_ft, htdemucs_6s, mdx_extra.") \
                        from err
                except URLError as err:  # the legacy repository's download (torch.hub) cannot reach the server
                    raise ModelLoadError(model, "offline", f"neither the Hugging Face Hub nor demucs' download "
                                                           f"server can be reached ({err.reason}).") from err
        longest = min(float(m.segment) for m in getattr(separator.model, "models", [separator.model]))
        if segment is not None:
            if segment > longest:
                raise InputError("segment", segment, f"a number of seconds in (0, {longest:g}] for this model",
                                 "Transformer models cannot look further than they were trained to.")
            separator.update_parameter(segment=segment)
        logger.info("loaded demucs model %s (%s) on %s", model, ", ".join(separator.model.sources), device)
        return cls(separator, model, device, torch.float32, overlap=overlap)

    @property
    def sources(self) -> list[str]:
        """The stems this model produces, in demucs' order."""
        return list(self.separator.model.sources)

    @property
    def sample_rate(self) -> int:
        return int(self.separator.samplerate)

    def __call__(self, audio: Any, sample_rate: int | None = None, stems: list[str] | None = None,
                 two_stems: str | None = None, shifts: int = 1, overlap: float | None = None, seed: int | None = None,
                 progress: ProgressCallback | None = None) -> SeparationResult:
        """Separate `audio` into stems.

        Args:
            audio: a path (WAV / FLAC / OGG / MP3), an array ``(channels, samples)`` or ``(samples,)``, or a Gradio
                ``(sample_rate, array)`` tuple. Mono is duplicated to stereo; any rate is resampled (soxr).
            sample_rate (`int`, *optional*): the rate of an array input, 1000 to 384000 Hz.
            stems (`list[str]`, *optional*): keep only these stems (default: all of the model's).
            two_stems (`str`, *optional*): e.g. ``"vocals"`` -> ``{"vocals", "no_vocals"}`` (the sum of the others).
            shifts (`int`, defaults to 1): random time shifts averaged (demucs' ``--shifts``), 0 to 20; more is
                slower and a little better, 0 disables them.
            overlap (`float`, *optional*): overlap between segments, 0 to 0.9; default the one given to
                `from_pretrained` (0.25).
            seed (`int`, *optional*): 0 to 2**63 - 1; seeds the random shifts, for repeatable output.
            progress (*optional*): ``progress(step, total, info)`` as segments finish (``total``: segments x
                shifts x models in the bag); returning False stops the separation with `Cancelled`.

        Returns:
            `SeparationResult` with ``stems`` (name -> float32 ``(2, samples)``) at the model's ``sample_rate``
            (44.1 kHz); a 44.1 kHz input keeps its exact length.
        """
        import torch

        sources = self.sources
        if stems is not None and two_stems is not None:
            raise InputError("stems", stems, "None when `two_stems` is given (pick one of the two)")
        if two_stems is not None:
            two_stems = validate.choice("two_stems", two_stems, sources)
        if stems is not None:
            if isinstance(stems, str):
                stems = [stems]
            if not isinstance(stems, (list, tuple)) or not stems or any(s not in sources for s in stems):
                raise InputError("stems", stems, f"a non-empty list drawn from {sources}")
        shifts = validate.integer("shifts", shifts, low=0, high=MAX_SHIFTS)
        overlap = validate.number("overlap", self.overlap if overlap is None else overlap, low=0.0, high=MAX_OVERLAP)
        if seed is not None:
            seed = validate.seed(seed)
        validate.callback("progress", progress, "progress(step, total, info)")
        if sample_rate is not None:
            rate = validate.number("sample_rate", sample_rate, low=1000, high=384_000, hint="in Hz, e.g. 44100")
            if rate != int(rate):
                raise InputError("sample_rate", sample_rate, "a whole number of Hz from 1000 to 384000")
            sample_rate = int(rate)
        clip = read_audio(audio, sample_rate, target_rate=self.sample_rate, channels=self.separator.audio_channels,
                          min_seconds=MIN_SECONDS, max_seconds=MAX_SECONDS)

        wav = torch.from_numpy(clip.audio)
        callback = _ProgressAdapter(progress, self.separator, shifts, overlap) if progress else None
        with self._lock:
            self.separator.update_parameter(shifts=shifts, overlap=overlap, callback=callback)
            state = random.getstate() if seed is not None else None
            try:
                if seed is not None:
                    random.seed(seed)  # demucs draws its shifts from Python's `random`
                with torch.inference_mode():
                    _, separated = self.separator.separate_tensor(wav, self.sample_rate)
            finally:
                if seed is not None:
                    random.setstate(state)
                self.separator.update_parameter(callback=None)
        if callback is not None:
            report_progress(progress, callback.total, callback.total, stage="done")

        out = {name: t.numpy() for name, t in separated.items()}
        if two_stems is not None:
            rest = sum(v for k, v in out.items() if k != two_stems)
            out = {two_stems: out[two_stems], f"no_{two_stems}": rest}
        elif stems is not None:
            out = {name: out[name] for name in stems}
        return SeparationResult({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()},
                                self.sample_rate)


def _check_cached_when_offline(model: str) -> None:
    """With ``HF_HUB_OFFLINE=1``, refuse a name that neither the Hub cache nor torch.hub's cache can serve.

    demucs' fallback for a name the Hub cannot give is a download from its legacy server (torch.hub), which ignores
    the Hub's offline switch; this finds the files that fallback would read (demucs' own ``remote/files.txt`` and
    ``remote/<name>.yaml``) and says which are missing instead of trying the network.
    """
    from huggingface_hub import constants, try_to_load_from_cache

    if not constants.HF_HUB_OFFLINE or model == "demucs_unittest":
        return
    import torch.hub
    import yaml
    from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name
    from demucs.pretrained import REMOTE_ROOT, _parse_remote_files

    hub_only = model.startswith("hf://")  # hf:// names go to the Hub only
    namespace, _, short = model.removeprefix("hf://").rpartition("/")
    repo_id = f"{namespace or DEFAULT_NAMESPACE}/{hf_repo_name(short)}"
    if isinstance(try_to_load_from_cache(repo_id, f"{short}.yaml"), str):
        return
    remote = _parse_remote_files(REMOTE_ROOT / "files.txt")  # signature -> URL on demucs' server
    bag = REMOTE_ROOT / f"{model}.yaml"
    signatures = [] if hub_only else [model] if model in remote else \
        yaml.safe_load(bag.read_text())["models"] if bag.is_file() else []
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    files = [folder / os.path.basename(remote[sig]) for sig in signatures if sig in remote]
    if files and len(files) == len(signatures) and all(f.is_file() for f in files):
        return
    where = f"not in the Hugging Face cache ({repo_id})"
    if files:
        where = f"in neither the Hugging Face cache ({repo_id}) nor torch.hub's cache " \
                f"({', '.join(str(f) for f in files if not f.is_file())})"
    raise ModelLoadError(model, "offline", f"HF_HUB_OFFLINE is set and the model is {where}. Run once with network "
                                           f"access (`hf download {repo_id}`), or pass a local folder.")


class _ProgressAdapter:
    """Counts demucs' finished segments into ``progress(step, total, info)`` calls.

    demucs' `apply_model` walks each model of the bag, each random shift, and each ``stride``-spaced offset of the
    (shift-padded) track, reporting ``state == "end"`` per segment; ``total`` is that count, computed from the first
    report's ``audio_length``. The last step is held back until the stems are ready.
    """

    def __init__(self, progress: ProgressCallback, separator: Any, shifts: int, overlap: float):
        self.progress, self.step, self.total = progress, 0, 1
        model = separator.model
        self.passes = max(shifts, 1)
        self.models = len(getattr(model, "models", [model]))
        segment = separator._segment or min(float(m.segment) for m in getattr(model, "models", [model]))
        self.stride = max(1, int((1 - overlap) * int(model.samplerate * segment)))
        self.pad = int(0.5 * model.samplerate) if shifts else 0

    def __call__(self, info: dict) -> None:
        if info.get("state") != "end":
            return
        if self.step == 0:
            segments = -(-(info["audio_length"] + self.pad) // self.stride)
            self.total = self.models * self.passes * segments + 1
        self.step = min(self.step + 1, self.total - 1)
        if not report_progress(self.progress, self.step, self.total, stage="separating"):
            raise Cancelled("separation stopped by the progress callback")


def _bag_name(folder: Path, name: str | None) -> str:
    if not folder.is_dir():
        raise ModelLoadError(str(folder), "not_found", f"no such local folder {str(folder)!r}.")
    bags = sorted(p.stem for p in folder.glob("*.yaml"))
    signatures = sorted(p.stem.split("-")[0] for p in folder.glob("*.th"))
    if name is not None:
        if name not in bags + signatures:
            raise InputError("name", name, f"one of the models in {folder}: {bags + signatures}")
        return name
    if len(bags) == 1:
        return bags[0]
    if not bags and len(signatures) == 1:
        return signatures[0]
    if not bags and not signatures:
        raise ModelLoadError(str(folder), "wrong_task", "the folder holds no demucs model (no <name>.yaml bag and no "
                                                        "<sig>.th file).")
    raise InputError("name", name, f"one of {bags or signatures} (the folder holds several models)")
