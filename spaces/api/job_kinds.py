"""The kinds of long job (`spaces.api.jobs`): what each one's request takes, how its work runs, what it leaves.

- ``/v1/videos`` (text-to-video): OpenAI's ``prompt``, ``model``, ``seconds``, ``size`` (``WxH``),
  ``input_reference`` (an image: the first frame, Wan 2.2 TI2V only); ``negative_prompt``, ``num_frames``,
  ``num_inference_steps``, ``guidance_scale``, ``seed``, ``flow_shift``. Outputs: ``video`` (MP4), ``thumbnail``
  (WebP, the first frame), ``spritesheet`` (JPEG, up to 16 frames, 4 per row).
- ``/v1/music`` (text-to-music): ``prompt``, ``model``, ``duration``, ``seed``, ``guidance_scale``, ``temperature``,
  ``top_k``, ``top_p``, ``response_format`` (wav, flac, mp3); ``melody`` (audio, a melody model). Output: ``audio``.
- ``/v1/songs`` (text-to-song): ``prompt``, ``lyrics``, ``duration``, ``seed``, ``language``, ``instrumental``,
  ``bpm``, ``key``, ``time_signature``, ``num_inference_steps``, ``guidance_scale``, ``shift``, ``response_format``.
  Output: ``audio``.
- ``/v1/separations`` (separation): ``file`` (audio, up to 30 min), ``model``, ``stems``, ``two_stems``, ``shifts``,
  ``overlap``, ``seed``, ``response_format`` (flac, wav). Outputs: ``zip`` (every stem), and one per stem.
- ``/v1/style-transfers`` (style-transfer): ``content``, ``style`` (images), ``model``, ``steps``, ``seed``, the loss
  weights, ``optimizer``, ``learning_rate``, ``init``, ``max_size``, ``preserve_colors``, ``pooling``. Output:
  ``image`` (PNG).
- ``/v1/deep-dreams`` (deep-dream): ``image``, ``model``, ``layer``, ``steps``, ``octaves``, ``octave_scale``,
  ``step_size``, ``jitter``, ``seed``, ``max_size``. Outputs: ``image`` (PNG), ``animation`` (GIF).

Each request is checked when the job is created (types and the pipelines' own ranges, `test_jobs` compares them with
the pipelines' constants; files decoded): a bad value is a 400 naming the field and no job is made. What only the
loaded model can judge (a Wan 2.2 size that is not a multiple of 32, a layer the network does not have, a stem the
separation model does not make) fails the job: ``status: "failed"`` with ``error: {code, message, param}``.

`run` functions are plain: ``run(pipe, params, inputs, out, progress) -> info`` writes its files into `out` and
returns what the answer reports, with ``_outputs`` {variant: file name}; they run wherever the pipeline lives (this
process, or a Ray Serve replica).

>>> from spaces.api.job_kinds import KINDS
>>> KINDS["videos"].path, KINDS["videos"].task, KINDS["videos"].variants[0]
('/v1/videos', 'text-to-video', 'video')
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from pipelines.errors import Cancelled, InputError

from .fields import OpenAIRequest

SEED = {"ge": 0, "le": 2**63 - 1}
# pipelines.video_generation: MAX_FRAMES, MAX_SIDE, MAX_STEPS, MAX_FLOW_SHIFT; guidance 0-30; sides multiples of 16
# (Wan 2.1: VAE x8 x patch 2; Wan 2.2 TI2V needs 32, checked by the pipeline)
VIDEO_MAX_FRAMES, VIDEO_MAX_SIDE, VIDEO_MAX_STEPS, VIDEO_MAX_FLOW_SHIFT = 241, 1920, 500, 100.0
VIDEO_SIDE_MULTIPLE = 16
VIDEO_MAX_SECONDS = 15.0  # 241 frames at 16 fps; at 24 fps (Wan 2.2) 10 s, checked once the model's rate is known
# pipelines.music_generation: MAX_DURATION, MAX_PROMPT_CHARS; generation_params.MIN_TEMPERATURE
MUSIC_MAX_DURATION, MUSIC_MAX_PROMPT_CHARS, MUSIC_MIN_TEMPERATURE = 600.0, 2000, 1e-2
# pipelines.song_generation: DURATION_MIN/MAX, MAX_PROMPT_CHARS, MAX_LYRICS_CHARS, BPM_MIN/MAX, MAX_STEPS["base"],
# MAX_GUIDANCE, SHIFT_RANGE, VALID_TIME_SIGNATURES
SONG_DURATION, SONG_MAX_PROMPT_CHARS, SONG_MAX_LYRICS_CHARS = (10.0, 600.0), 512, 4096
SONG_BPM, SONG_MAX_STEPS, SONG_MAX_GUIDANCE, SONG_SHIFT = (30, 300), 200, 15.0, (1.0, 5.0)
# pipelines.separation: MAX_SHIFTS, MAX_OVERLAP
SEPARATION_MAX_SHIFTS, SEPARATION_MAX_OVERLAP = 20, 0.9
# pipelines.style_transfer: MAX_STEPS, MAX_CONTENT_WEIGHT, MAX_STYLE_WEIGHT, MAX_TV_WEIGHT, MAX_LEARNING_RATE
STYLE_MAX_STEPS, STYLE_MAX_CONTENT, STYLE_MAX_STYLE, STYLE_MAX_TV, STYLE_MAX_LR = 5000, 1e6, 1e12, 1e6, 100.0
# pipelines.deep_dream: MAX_STEPS, MAX_OCTAVES, MAX_JITTER, MAX_SIDE; octave_scale (1, 4], step_size (0, 20]
DREAM_MAX_STEPS, DREAM_MAX_OCTAVES, DREAM_MAX_JITTER, DREAM_MAX_SIDE = 200, 12, 256, 2048

AUDIO_FORMATS = ("wav", "flac", "mp3")
MEDIA_TYPES = {".mp4": "video/mp4", ".webp": "image/webp", ".jpg": "image/jpeg", ".png": "image/png",
               ".gif": "image/gif", ".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg",
               ".zip": "application/zip"}
SPRITES = 16  # frames in a video's spritesheet (evenly spaced), 4 per row


# -- requests ---------------------------------------------------------------------------------------------------------


class JobRequest(OpenAIRequest):
    """A job request: unknown fields refused (a 400 naming them); numbers finite and in the pipeline's range."""

    model: str | None = Field(None, min_length=1, max_length=1000,
                              description="A model of the task (GET /v1/models); default: the task's default model.")
    seed: int | None = Field(None, **SEED, description="The same seed, the same output; default random (reported).")

    @field_validator("*")
    @classmethod
    def _text(cls, value: Any) -> Any:
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as err:
                    raise ValueError(f"holds a lone surrogate at index {err.start}, which is not text") from None
        return value


class VideoRequest(JobRequest):
    """OpenAI's ``videos.create`` (prompt, model, seconds, size, input_reference) and Wan's settings."""

    ENDPOINT: ClassVar[str] = "videos.create"
    prompt: str = Field(min_length=1, max_length=32000)
    seconds: str | float | None = Field(None, description="Length in seconds (OpenAI sends '4', '8', '12'); "
                                                          "default: the model's (Wan 2.1: 81 frames at 16 fps).")
    size: str | None = Field(None, description="'WIDTHxHEIGHT' (multiples of 16); default: the model's (832x480).")
    negative_prompt: str | None = Field(None, max_length=32000, description="Default: Wan's own.")
    num_frames: int | None = Field(None, ge=1, le=VIDEO_MAX_FRAMES, description="4k + 1 frames; wins over seconds.")
    num_inference_steps: int | None = Field(None, ge=1, le=VIDEO_MAX_STEPS)
    guidance_scale: float | None = Field(None, ge=0, le=30)
    flow_shift: float | None = Field(None, gt=0, le=VIDEO_MAX_FLOW_SHIFT)

    @field_validator("seconds")
    @classmethod
    def _seconds(cls, value: Any) -> float | None:
        if value is None:
            return None
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise ValueError("must be a number of seconds such as '4'") from None
        if not math.isfinite(seconds) or not 0 < seconds <= VIDEO_MAX_SECONDS:
            raise ValueError(f"must be a number of seconds in (0, {VIDEO_MAX_SECONDS:g}]")
        return seconds

    @field_validator("size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = value.lower().split("x")
        if len(parts) != 2 or not all(p.isascii() and p.isdigit() and len(p) <= 5 for p in parts):
            raise ValueError("must be 'WIDTHxHEIGHT', e.g. '832x480'")
        for side in (int(p) for p in parts):
            if not VIDEO_SIDE_MULTIPLE <= side <= VIDEO_MAX_SIDE or side % VIDEO_SIDE_MULTIPLE:
                raise ValueError(f"each side must be a multiple of {VIDEO_SIDE_MULTIPLE} from {VIDEO_SIDE_MULTIPLE} "
                                 f"to {VIDEO_MAX_SIDE}")
        return value.lower()

    @field_validator("num_frames")
    @classmethod
    def _frames(cls, value: int | None) -> int | None:
        if value is not None and (value - 1) % 4:
            raise ValueError("must be 4k + 1 (1, 5, 9, ..., 81, ...): the VAE packs 4 frames into one")
        return value


class MusicRequest(JobRequest):
    """MusicGen: a prompt (and a melody to follow, with a melody model)."""

    prompt: str = Field(min_length=1, max_length=MUSIC_MAX_PROMPT_CHARS)
    duration: float = Field(10.0, gt=0, le=MUSIC_MAX_DURATION, description="Seconds of music (default 10).")
    guidance_scale: float | None = Field(None, ge=0, le=30)
    temperature: float | None = Field(None, ge=MUSIC_MIN_TEMPERATURE, le=10)
    top_k: int | None = Field(None, ge=0, le=10**6)
    top_p: float | None = Field(None, gt=0, le=1)
    response_format: Literal["wav", "flac", "mp3"] = "wav"


class SongRequest(JobRequest):
    """ACE-Step 1.5: a style prompt and lyrics (or an instrumental)."""

    prompt: str = Field(min_length=1, max_length=SONG_MAX_PROMPT_CHARS)
    lyrics: str | None = Field(None, max_length=SONG_MAX_LYRICS_CHARS)
    duration: float = Field(30.0, ge=SONG_DURATION[0], le=SONG_DURATION[1], description="Seconds (default 30).")
    language: str | None = Field(None, min_length=1, max_length=16, description="The lyrics' language (default en).")
    instrumental: bool | None = None
    bpm: int | None = Field(None, ge=SONG_BPM[0], le=SONG_BPM[1])
    key: str | None = Field(None, min_length=1, max_length=16, description="e.g. 'C major', 'F# minor'.")
    time_signature: Literal[2, 3, 4, 6] | None = None
    num_inference_steps: int | None = Field(None, ge=1, le=SONG_MAX_STEPS)
    guidance_scale: float | None = Field(None, ge=0, le=SONG_MAX_GUIDANCE)
    shift: float | None = Field(None, ge=SONG_SHIFT[0], le=SONG_SHIFT[1])
    response_format: Literal["wav", "flac", "mp3"] = "wav"


class SeparationRequest(JobRequest):
    """Demucs on an uploaded track (``file``)."""

    stems: list[str] | str | None = Field(None, description="Stems to keep (a list, or comma-separated).")
    two_stems: str | None = Field(None, min_length=1, max_length=32, description="e.g. 'vocals': vocals + the rest.")
    shifts: int | None = Field(None, ge=0, le=SEPARATION_MAX_SHIFTS)
    overlap: float | None = Field(None, ge=0, le=SEPARATION_MAX_OVERLAP)
    response_format: Literal["wav", "flac"] = "flac"

    @field_validator("stems")
    @classmethod
    def _stems(cls, value: Any) -> list[str] | None:
        if value is None:
            return None
        names = [s.strip() for s in value.split(",")] if isinstance(value, str) else value
        if not names or any(not s or len(s) > 32 for s in names) or len(names) > 16:
            raise ValueError("must be stem names such as 'vocals,drums'")
        return names


class StyleTransferRequest(JobRequest):
    """Gatys et al. over VGG-19: the ``content`` photo painted in the ``style`` picture's style."""

    steps: int = Field(300, ge=1, le=STYLE_MAX_STEPS)
    content_weight: float | None = Field(None, ge=0, le=STYLE_MAX_CONTENT)
    style_weight: float | None = Field(None, ge=0, le=STYLE_MAX_STYLE)
    tv_weight: float | None = Field(None, ge=0, le=STYLE_MAX_TV)
    optimizer: Literal["lbfgs", "adam"] | None = None
    learning_rate: float | None = Field(None, gt=0, le=STYLE_MAX_LR)
    init: Literal["content", "noise"] | None = None
    max_size: int | None = Field(None, ge=64, le=2048)
    preserve_colors: bool | None = None
    pooling: Literal["max", "avg"] | None = None


class DeepDreamRequest(JobRequest):
    """DeepDream over VGG-19 at one layer of the uploaded ``image``."""

    layer: str | None = Field(None, min_length=1, max_length=32, description="e.g. 'conv4_3' (the default).")
    steps: int | None = Field(None, ge=1, le=DREAM_MAX_STEPS)
    octaves: int | None = Field(None, ge=1, le=DREAM_MAX_OCTAVES)
    octave_scale: float | None = Field(None, gt=1, le=4)
    step_size: float | None = Field(None, gt=0, le=20)
    jitter: int | None = Field(None, ge=0, le=DREAM_MAX_JITTER)
    max_size: int | None = Field(None, ge=64, le=DREAM_MAX_SIDE)


# -- the work ---------------------------------------------------------------------------------------------------------


def _call(pipe: Callable[..., Any], args: tuple[Any, ...], params: dict[str, Any], progress: Any) -> Any:
    settings = {k: v for k, v in params.items() if v is not None}
    result = pipe(*args, **settings, progress=progress)
    if getattr(result, "interrupted", False):
        raise Cancelled("stopped by its progress callback")
    return result


def encode_audio(audio: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """`audio` (``(samples,)`` or ``(channels, samples)``) as a WAV / FLAC (16-bit) or MP3 file."""
    import soundfile as sf

    data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    data = data.T if data.ndim == 2 else data
    buffer = io.BytesIO()
    if fmt == "mp3":
        sf.write(buffer, data, int(sample_rate), format="MP3", subtype="MPEG_LAYER_III")
    else:
        sf.write(buffer, data, int(sample_rate), format=fmt.upper(), subtype="PCM_16")
    return buffer.getvalue()


def run_video(pipe: Any, params: dict[str, Any], inputs: dict[str, Path], out: Path, progress: Any) -> dict[str, Any]:
    from PIL import Image

    params = dict(params)
    seconds = params.pop("seconds", None)
    if seconds is not None and params.get("num_frames") is None:
        fps, step = pipe.fps, pipe.frame_multiple
        frames = round(seconds * fps / step) * step + 1
        if frames > VIDEO_MAX_FRAMES:
            raise InputError("seconds", seconds, f"at most {(VIDEO_MAX_FRAMES - 1) / fps:g} s at {fps} fps "
                                                 f"({VIDEO_MAX_FRAMES} frames)")
        params["num_frames"] = frames
    if "input_reference" in inputs:
        params["image"] = str(inputs["input_reference"])
    try:
        result = _call(pipe, (params.pop("prompt"),), params, progress)
    except InputError as err:  # the pipeline's names for OpenAI's fields
        if err.argument in ("width", "height"):
            err.argument = "size"
        elif err.argument == "image":
            err.argument = "input_reference"
        raise
    result.save(out / "video.mp4")
    frames = result.frames
    Image.fromarray(frames[0]).save(out / "thumbnail.webp", format="WEBP")
    picks = np.unique(np.linspace(0, len(frames) - 1, min(SPRITES, len(frames))).round().astype(int))
    columns = min(4, len(picks))
    rows = -(-len(picks) // columns)
    sheet = Image.new("RGB", (columns * result.width, rows * result.height))
    for n, index in enumerate(picks):
        sheet.paste(Image.fromarray(frames[index]), ((n % columns) * result.width, (n // columns) * result.height))
    sheet.save(out / "spritesheet.jpg", format="JPEG", quality=90)
    return {"_outputs": {"video": "video.mp4", "thumbnail": "thumbnail.webp", "spritesheet": "spritesheet.jpg"},
            "seed": result.seed, "fps": result.fps, "num_frames": result.num_frames, "width": result.width,
            "height": result.height, "seconds": result.seconds, "num_inference_steps": result.num_inference_steps}


def _audio_out(result: Any, out: Path, fmt: str, name: str) -> dict[str, Any]:
    file_name = f"{name}.{fmt}"
    (out / file_name).write_bytes(encode_audio(result.audio, result.sample_rate, fmt))
    return {"_outputs": {"audio": file_name}, "seed": result.seed, "sample_rate": int(result.sample_rate),
            "seconds": round(float(np.asarray(result.audio).shape[-1]) / result.sample_rate, 3)}


def run_music(pipe: Any, params: dict[str, Any], inputs: dict[str, Path], out: Path, progress: Any) -> dict[str, Any]:
    params = dict(params)
    fmt = params.pop("response_format")
    if "melody" in inputs:
        params["melody"] = str(inputs["melody"])
    return _audio_out(_call(pipe, (params.pop("prompt"),), params, progress), out, fmt, "music")


def run_song(pipe: Any, params: dict[str, Any], inputs: dict[str, Path], out: Path, progress: Any) -> dict[str, Any]:
    params = dict(params)
    fmt = params.pop("response_format")
    result = _call(pipe, (params.pop("prompt"),), params, progress)
    info = _audio_out(result, out, fmt, "song")
    return info | {"language": getattr(result, "language", None), "instrumental": bool(result.instrumental)}


def run_separation(pipe: Any, params: dict[str, Any], inputs: dict[str, Path], out: Path,
                   progress: Any) -> dict[str, Any]:
    params = dict(params)
    fmt = params.pop("response_format")
    result = _call(pipe, (str(inputs["file"]),), params, progress)
    outputs = {}
    with zipfile.ZipFile(out / "stems.zip", "w", compression=zipfile.ZIP_STORED) as bundle:
        for name, audio in result.stems.items():
            data = encode_audio(audio, result.sample_rate, fmt)
            (out / f"{name}.{fmt}").write_bytes(data)
            bundle.writestr(f"{name}.{fmt}", data)
            outputs[name] = f"{name}.{fmt}"
    return {"_outputs": {"zip": "stems.zip", **outputs}, "stems": list(result.stems),
            "sample_rate": int(result.sample_rate)}


def run_style_transfer(pipe: Any, params: dict[str, Any], inputs: dict[str, Path], out: Path,
                       progress: Any) -> dict[str, Any]:
    result = _call(pipe, (str(inputs["content"]), str(inputs["style"])), params, progress)
    result.image.save(out / "image.png", format="PNG")
    return {"_outputs": {"image": "image.png"}, "seed": result.seed, "steps": result.steps,
            "width": result.size[0], "height": result.size[1], "loss": float(result.losses[-1]) if result.losses
            else None}


def run_deep_dream(pipe: Any, params: dict[str, Any], inputs: dict[str, Path], out: Path,
                   progress: Any) -> dict[str, Any]:
    result = _call(pipe, (str(inputs["image"]),), params, progress)
    result.image.save(out / "image.png", format="PNG")
    result.save_gif(out / "animation.gif")
    return {"_outputs": {"image": "image.png", "animation": "animation.gif"}, "seed": result.seed,
            "layer": result.layer, "steps": result.steps, "width": result.size[0], "height": result.size[1]}


# -- the table --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileField:
    """An uploaded file of a job request: ``image`` or ``audio``, required or not."""

    kind: Literal["image", "audio"]
    required: bool = True


@dataclass(frozen=True)
class JobKind:
    """One kind of job: its URL name, task, object name and id prefix, request, files, work, and outputs."""

    name: str
    task: str
    object: str
    prefix: str
    request: type[JobRequest]
    run: Callable[..., dict[str, Any]]
    variants: tuple[str, ...]
    files: dict[str, FileField] = field(default_factory=dict)
    text: str = "prompt"  # the request field shown as the job's ``prompt``
    tiny_variant: str = "tiny"
    summary: str = ""

    @property
    def path(self) -> str:
        return f"/v1/{self.name}"

    def outputs(self, result: dict[str, Any]) -> dict[str, str]:
        return result.pop("_outputs")


KINDS: dict[str, JobKind] = {kind.name: kind for kind in (
    JobKind("videos", "text-to-video", "video", "video", VideoRequest, run_video,
            ("video", "thumbnail", "spritesheet"), {"input_reference": FileField("image", required=False)},
            summary="a video from a prompt (OpenAI: videos.create)"),
    JobKind("music", "text-to-music", "music", "music", MusicRequest, run_music, ("audio",),
            {"melody": FileField("audio", required=False)}, summary="music from a prompt (MusicGen)"),
    JobKind("songs", "text-to-song", "song", "song", SongRequest, run_song, ("audio",),
            summary="a song with lyrics (ACE-Step 1.5)"),
    JobKind("separations", "separation", "separation", "sep", SeparationRequest, run_separation,
            ("zip", "vocals", "drums", "bass", "other", "guitar", "piano", "no_vocals", "no_drums", "no_bass",
             "no_other", "no_guitar", "no_piano"), {"file": FileField("audio")}, text="",
            summary="a track split into stems (Demucs)"),
    JobKind("style-transfers", "style-transfer", "style_transfer", "style", StyleTransferRequest, run_style_transfer,
            ("image",), {"content": FileField("image"), "style": FileField("image")}, text="",
            summary="a photo painted in another picture's style (Gatys et al.)"),
    JobKind("deep-dreams", "deep-dream", "deep_dream", "dream", DeepDreamRequest, run_deep_dream,
            ("image", "animation"), {"image": FileField("image")}, text="", summary="DeepDream on a photo"),
)}
