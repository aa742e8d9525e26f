"""Shared audio input and output for the audio pipelines: read, validate, convert, resample, trim, save.

Audio comes in as a file path (WAV / FLAC / OGG / MP3, decoded by `soundfile`), as an array of shape
``(channels, samples)`` or ``(samples,)`` with its ``sample_rate``, or as Gradio's ``(sample_rate, array)`` tuple
(whose array is ``(samples,)`` or ``(samples, channels)``, integer or float). It leaves as float32 arrays plus a
sample rate, and is saved as WAV or FLAC on request. Resampling uses `soxr` (not torchaudio).

>>> from pipelines.audio import read_audio
>>> clip = read_audio("speech.flac", target_rate=16_000, channels=1, min_seconds=3, max_seconds=30)
>>> clip.audio.shape, clip.sample_rate
((1, 160000), 16000)
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from pipelines import validate
from pipelines.base import Result
from pipelines.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["Audio", "AudioResult", "read_audio", "resample", "save_audio", "trim_silence", "SAVE_FORMATS"]

SAVE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
MAX_CHANNELS = 8
SILENCE_PEAK = 1e-4  # -80 dBFS: a clip whose loudest sample is below this is silence


@dataclasses.dataclass
class Audio:
    """Validated audio: float32 array of shape ``(channels, samples)`` and its sample rate."""

    audio: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        return self.audio.shape[-1] / self.sample_rate


@dataclasses.dataclass
class AudioResult(Result):
    """Generated audio: a float32 array (``(samples,)``, mono) at `sample_rate`, with the licence of the weights.

    ``result.save("out.wav")`` writes it (``.wav`` or ``.flac``).
    """

    audio: np.ndarray
    sample_rate: int
    licence: str = ""
    model: str = ""
    language: str | None = None
    commercial_use: bool = True

    @property
    def seconds(self) -> float:
        return self.audio.shape[-1] / self.sample_rate

    def save(self, path: str | os.PathLike, subtype: str | None = None) -> Path:
        """Write the audio to `path` (``.wav`` or ``.flac``) and return the path."""
        return save_audio(path, self.audio, self.sample_rate, subtype=subtype)


def read_audio(audio: Any, sample_rate: int | None = None, *, target_rate: int | None = None,
               channels: int | None = None, min_seconds: float = 0.0, max_seconds: float | None = None,
               argument: str = "audio", rate_argument: str = "sample_rate") -> Audio:
    """Validate and load `audio` into a float32 ``(channels, samples)`` array, optionally converted.

    Args:
        audio: a path (`str` / `os.PathLike`), an array ``(channels, samples)`` or ``(samples,)``, a torch tensor of
            those shapes, or a ``(sample_rate, array)`` tuple as Gradio gives it (array ``(samples[, channels])``).
        sample_rate (`int`, *optional*): the rate of an array input; required for arrays, refused for paths.
        target_rate (`int`, *optional*): resample to this rate (soxr, high quality).
        channels (`int`, *optional*): 1 (mean of channels) or 2 (mono duplicated); default keeps the input's.
        min_seconds, max_seconds: allowed duration, checked on the input before any conversion.
        argument, rate_argument: the caller's parameter names, used in error messages.

    Raises:
        InputError: not audio, unreadable, empty, silent, NaN/inf samples, bad shape or rate, too short or too long.
    """
    if isinstance(audio, tuple) and len(audio) == 2 and isinstance(audio[0], (int, np.integer)):
        _check_rate(audio[0], f"{argument}[0]", required=True)  # validated before int(): NaN, inf, str raise there
        _check_rate(sample_rate, rate_argument, required=False)
        if sample_rate is not None and int(sample_rate) != int(audio[0]):
            raise InputError(rate_argument, sample_rate, f"omitted or equal to the tuple's rate {audio[0]}")
        sample_rate, array = int(audio[0]), np.asarray(audio[1])
        if array.ndim == 2:  # Gradio's layout is (samples, channels)
            array = array.T
        audio = array
    if isinstance(audio, (str, os.PathLike)):
        if sample_rate is not None:
            raise InputError(rate_argument, sample_rate, "omitted when the audio is a file (the file has its rate)")
        data, sample_rate = _read_file(audio, argument)
    else:
        data = _to_array(audio, argument)
        _check_rate(sample_rate, rate_argument, required=True)
        sample_rate = int(sample_rate)
    _check_samples(data, sample_rate, argument, min_seconds, max_seconds)
    if channels is not None and data.shape[0] != channels:
        if channels == 1:
            data = data.mean(axis=0, keepdims=True)
        elif data.shape[0] == 1:
            data = np.repeat(data, channels, axis=0)
        else:
            raise InputError(argument, f"audio with {data.shape[0]} channels", f"mono or {channels}-channel audio")
    if target_rate is not None and target_rate != sample_rate:
        data = resample(data, sample_rate, target_rate)
        sample_rate = target_rate
    return Audio(np.ascontiguousarray(data, dtype=np.float32), int(sample_rate))


def _read_file(path: str | os.PathLike, argument: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(argument, str(path), "an existing audio file (WAV, FLAC, OGG or MP3) or an array")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise InputError(argument, str(path), "an audio file soundfile can decode (WAV, FLAC, OGG or MP3)",
                         f"It could not be read as audio: {err}.") from err
    return data.T, int(rate)


def _to_array(audio: Any, argument: str) -> np.ndarray:
    if hasattr(audio, "detach") and hasattr(audio, "cpu"):  # torch tensor
        audio = audio.detach().cpu().float().numpy()
    if not isinstance(audio, (np.ndarray, list)):
        raise InputError(argument, audio, "a path to an audio file, an array (channels, samples) or (samples,), "
                                          "or a (sample_rate, array) tuple")
    array = np.asarray(audio)
    if array.dtype.kind in "iu":  # PCM integers: scale to [-1, 1]
        info = np.iinfo(array.dtype)
        array = (array.astype(np.float64) - (info.min + info.max + 1) / 2) / (2 ** (info.bits - 1))
    elif array.dtype.kind != "f":
        raise InputError(argument, f"an array of dtype {array.dtype}", "a float or integer array")
    if array.ndim == 1:
        array = array[None]
    elif array.ndim != 2:
        raise InputError(argument, f"an array of shape {array.shape}", "an array of shape (channels, samples) or "
                                                                         "(samples,)")
    if array.shape[0] > MAX_CHANNELS:
        raise InputError(argument, f"an array of shape {array.shape}",
                         f"an array of shape (channels, samples) with at most {MAX_CHANNELS} channels",
                         "A (samples, channels) array needs `.T`.")
    return array.astype(np.float32, copy=False)


def _check_rate(rate: Any, argument: str, required: bool) -> None:
    if rate is None:
        if required:
            raise InputError(argument, rate, "the sample rate of the array in Hz (e.g. 44100)")
        return
    allowed = "an integer sample rate between 1000 and 384000 Hz"
    try:  # NaN, inf, str and bool too: validate.number refuses them (int(nan) would raise a bare ValueError)
        value = validate.number(argument, rate, low=1000, high=384_000)
    except InputError:
        raise InputError(argument, rate, allowed) from None
    if value != int(value):
        raise InputError(argument, rate, allowed)


def _check_samples(data: np.ndarray, rate: int, argument: str, min_seconds: float, max_seconds: float | None) -> None:
    allowed = f"between {min_seconds:g} and {max_seconds:g} seconds" if max_seconds else \
        f"at least {min_seconds:g} seconds"
    if data.shape[-1] == 0:
        raise InputError(argument, "an empty clip (0 samples)", f"audio {allowed} long")
    if not np.isfinite(data).all():
        raise InputError(argument, "audio with NaN or infinite samples", "finite samples")
    seconds = data.shape[-1] / rate
    if seconds < min_seconds or (max_seconds is not None and seconds > max_seconds):
        raise InputError(argument, f"a clip of {seconds:.2f} s", f"audio {allowed} long")
    if float(np.abs(data).max()) < SILENCE_PEAK:
        raise InputError(argument, "a silent clip", "audio that is not silent (peak above -80 dBFS)")


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample ``(channels, samples)`` or ``(samples,)`` float audio with soxr (high quality)."""
    import soxr

    if from_rate == to_rate:
        return audio
    out = soxr.resample(np.ascontiguousarray(audio.T), from_rate, to_rate, quality="HQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)


def trim_silence(audio: np.ndarray, sample_rate: int, floor_db: float = 40.0, frame_seconds: float = 0.02,
                 keep_seconds: float = 0.05) -> np.ndarray:
    """Cut leading and trailing frames quieter than `floor_db` below the loudest frame (``(..., samples)`` audio).

    ``keep_seconds`` of margin stay on each side so that word onsets are not clipped.
    """
    mono = audio.reshape(-1, audio.shape[-1]).mean(axis=0)
    frame = max(1, int(frame_seconds * sample_rate))
    count = len(mono) // frame
    if count < 2:
        return audio
    rms = np.sqrt(np.square(mono[: count * frame].reshape(count, frame)).mean(axis=1)) + 1e-12
    db = 20 * np.log10(rms)
    loud = np.flatnonzero(db > db.max() - floor_db)
    margin = int(keep_seconds * sample_rate)
    start = max(0, loud[0] * frame - margin)
    end = min(audio.shape[-1], (loud[-1] + 1) * frame + margin)
    return audio[..., start:end]


def save_audio(path: str | os.PathLike, audio: Any, sample_rate: int, subtype: str | None = None) -> Path:
    """Write float audio (``(samples,)`` or ``(channels, samples)``) to a ``.wav`` or ``.flac`` file.

    The default subtype is 16-bit PCM (samples are clipped to [-1, 1]); pass ``subtype="FLOAT"`` for 32-bit float WAV.
    """
    import soundfile as sf

    from pipelines import validate

    path = validate.output_file("path", path, SAVE_FORMATS)
    fmt = SAVE_FORMATS[path.suffix.lower()]
    if subtype is not None:  # one of libsndfile's subtypes for this format (sf.available_subtypes), e.g. FLOAT
        subtype = validate.choice("subtype", subtype.upper() if isinstance(subtype, str) else subtype,
                                  sf.available_subtypes(fmt))
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 2:
        data = data.T  # soundfile wants (samples, channels)
    if subtype is None or subtype.upper().startswith("PCM"):
        data = np.clip(data, -1.0, 1.0)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), data, int(sample_rate), subtype=subtype or "PCM_16", format=fmt)
    except (OSError, sf.LibsndfileError) as err:  # a read-only folder, a full disk
        raise InputError("path", str(path), "a file that can be written", f"({err})") from None
    logger.info("wrote %s (%.2f s at %d Hz)", path, data.shape[0] / sample_rate, sample_rate)
    return path
