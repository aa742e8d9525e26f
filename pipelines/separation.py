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
from pathlib import Path
from typing import Any

import numpy as np

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

    def __init__(self, separator: Any, model_id: str, device: Any, dtype: Any):
        super().__init__(model_id, device, dtype)
        self.separator = separator

    @classmethod
    def from_pretrained(cls, model: str = "htdemucs", *, device: Any = None, dtype: Any = None,
                        name: str | None = None, **options: Any) -> SeparationPipeline:
        """Load a Demucs model: a Hub name (``htdemucs``, ``htdemucs_ft``, ``htdemucs_6s``, ``ns/name``) or a folder.

        Args:
            model (`str`): a demucs model name, looked up on the Hub (``adefossez/HTDemucs`` for ``htdemucs``), or a
                local demucs repository folder (``<sig>.th`` files plus a ``<name>.yaml`` bag, as ``demucs --repo``).
            device (`str`, *optional*): default CUDA when present, else CPU.
            dtype: demucs runs in float32; anything else is refused.
            name (`str`, *optional*): the bag to load from a local folder holding several ``.yaml`` files.
            options: ``overlap`` (float, default 0.25), ``segment`` (seconds, at most the model's), ``jobs`` (int).
        """
        import torch
        from demucs.api import Separator

        device = resolve_device(device)
        if dtype not in (None, "auto", "float32", "fp32", torch.float32):
            raise InputError("dtype", dtype, "float32 (or None): demucs runs in float32")
        unknown = set(options) - {"overlap", "segment", "jobs", "revision"}
        if unknown:
            raise InputError("options", sorted(unknown), "among overlap, segment, jobs")
        options.pop("revision", None)  # demucs' Hub loader always reads the repo's main revision
        with translating_load_errors(model, cls.task):
            if is_local_path(model):
                folder = Path(model).expanduser()
                separator = Separator(model=_bag_name(folder, name), repo=folder, device=str(device), shifts=1,
                                      progress=False, **options)
            else:
                hub_name = model if model.startswith("hf://") else f"hf://{model}"
                separator = Separator(model=hub_name, device=str(device), shifts=1, progress=False, **options)
        logger.info("loaded demucs model %s (%s) on %s", model, ", ".join(separator.model.sources), device)
        return cls(separator, model, device, torch.float32)

    @property
    def sources(self) -> list[str]:
        """The stems this model produces, in demucs' order."""
        return list(self.separator.model.sources)

    @property
    def sample_rate(self) -> int:
        return int(self.separator.samplerate)

    def __call__(self, audio: Any, sample_rate: int | None = None, stems: list[str] | None = None,
                 two_stems: str | None = None, shifts: int = 1, overlap: float = 0.25, seed: int | None = None,
                 progress: ProgressCallback | None = None) -> SeparationResult:
        """Separate `audio` into stems.

        Args:
            audio: a path (WAV / FLAC / OGG / MP3), an array ``(channels, samples)`` or ``(samples,)``, or a Gradio
                ``(sample_rate, array)`` tuple. Mono is duplicated to stereo; any rate is resampled (soxr).
            sample_rate (`int`, *optional*): the rate of an array input.
            stems (`list[str]`, *optional*): keep only these stems (default: all of the model's).
            two_stems (`str`, *optional*): e.g. ``"vocals"`` -> ``{"vocals", "no_vocals"}`` (the sum of the others).
            shifts (`int`, defaults to 1): random time shifts averaged (demucs' ``--shifts``); more is slower and a
                little better, 0 disables them.
            overlap (`float`, defaults to 0.25): overlap between segments.
            seed (`int`, *optional*): seeds the random shifts, for repeatable output.
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
        if two_stems is not None and two_stems not in sources:
            raise InputError("two_stems", two_stems, f"one of {sources}")
        if stems is not None:
            if isinstance(stems, str):
                stems = [stems]
            if not stems or any(s not in sources for s in stems):
                raise InputError("stems", stems, f"a non-empty list drawn from {sources}")
        if isinstance(shifts, bool) or not isinstance(shifts, int) or not 0 <= shifts <= MAX_SHIFTS:
            raise InputError("shifts", shifts, f"an integer between 0 and {MAX_SHIFTS}")
        if not isinstance(overlap, (int, float)) or not 0.0 <= overlap < 1.0:
            raise InputError("overlap", overlap, "a number in [0, 1)")
        if progress is not None and not callable(progress):
            raise InputError("progress", progress, "a callable progress(step, total, info) or None")
        clip = read_audio(audio, sample_rate, target_rate=self.sample_rate, channels=self.separator.audio_channels,
                          min_seconds=MIN_SECONDS, max_seconds=MAX_SECONDS)

        wav = torch.from_numpy(clip.audio)
        callback = _ProgressAdapter(progress, self.separator, shifts, overlap) if progress else None
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
