"""Text-to-music with MusicGen (transformers' ``MusicgenForConditionalGeneration``), melody-conditioned with
``MusicgenMelodyForConditionalGeneration``, and pieces longer than the model's window by audio continuation.

>>> from pipelines import load
>>> music = load("text-to-music")                                # facebook/musicgen-small (CC-BY-NC-4.0)
>>> result = music("lo-fi piano with soft drums", duration=8, seed=0)
>>> result.save("lofi.wav"); result.sample_rate, result.audio.shape
(32000, (256000,))
>>> hum = load("text-to-music", model="facebook/musicgen-melody")
>>> hum("a jazz trio", melody="humming.wav", duration=10, seed=1).save("jazz.flac")

How it maps onto upstream (read in transformers 5.24 and facebookresearch/audiocraft 896ec7c):

- One window is one ``model.generate(**processor(text=...), max_new_tokens=...)`` call, exactly as the model card
  shows: the same seed gives the same samples as that call by hand. MusicGen's codebooks are generated with a delay
  of one step each (``build_delay_pattern_mask``), so ``n`` audio frames take ``n + num_codebooks - 1`` new tokens.
- The window is what the checkpoint's ``generation_config.max_length`` allows: 1500 decoder positions for the
  ``facebook/musicgen-*`` checkpoints (huggingface.co/facebook/musicgen-large/discussions/5), i.e. 1500 - 1 (BOS) -
  3 (delays) = 1496 frames = 29.92 s at EnCodec-32kHz's 50 frames per second; audiocraft's ``max_duration`` is 30 s.
- Longer pieces are continued as audiocraft's ``MusicGen._generate_tokens`` does (its ``extend_stride`` defaults to
  18 s of a 30 s window): the first window is generated from the text alone; then the last ``window - stride`` of
  the tokens generated so far become the audio prompt (``decoder_input_ids``) of the next window, which adds
  ``stride`` new seconds, until the duration is reached. The whole token sequence is decoded by EnCodec once at the
  end. With a melody, each window is conditioned on the melody from its own start time on, the clip repeated
  periodically when it is shorter (audiocraft's extended-generation branch).
- Sampling defaults are the checkpoint's generation config (``do_sample=True``, ``guidance_scale=3.0`` for the
  ``facebook`` checkpoints; ``top_k`` is not set there, so transformers' own default 50 applies, whereas audiocraft
  samples with ``top_k=250``: pass ``top_k=250`` to match audiocraft).
- Melody conditioning uses the chroma of ``MusicgenMelodyFeatureExtractor``, which needs torchaudio (excluded here);
  `melody_chroma` computes the same features with ``torch.stft`` (see its docstring).
- Before the chroma, the melody is separated with Demucs and only the stems that carry the melody are kept, as
  audiocraft's ``ChromaStemConditioner`` does (``audiocraft/modules/conditioners.py``, "uses DEMUCS to first filter
  out drums and bass, as the drums and bass often dominate the chroma"): ``pretrained.get_model('htdemucs')``; the
  clip (already at the model's 32 kHz, mono) is brought to Demucs' 44.1 kHz stereo with ``demucs.audio.convert_audio``,
  separated by ``demucs.apply.apply_model`` with its defaults (one random shift, 25 % overlap: seeded here with the
  call's seed), the ``vocals`` and ``other`` stems are summed, and the sum converted back to 32 kHz mono
  (``convert_audio`` again: channels averaged, julius resampling). transformers' feature extractor leaves this to
  the caller (it separates only when given Demucs' output). mmhub separates the first ``chunk_length`` (30) seconds
  of the clip, all that the chroma reads (audiocraft separates the whole clip, then cuts the chroma). The tiny
  melody twin uses the tiny HTDemucs twin; ``melody_separator=None`` skips the separation (the chroma of the whole
  mix, as transformers' feature extractor computes it from a plain waveform).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
from typing import Any

import numpy as np
import torch

from pipelines import validate
from pipelines.audio import AudioResult, read_audio
from pipelines.base import (
    Pipeline,
    ProgressCallback,
    report_progress,
    resolve_device,
    resolve_dtype,
    translating_load_errors,
)
from pipelines.errors import Cancelled, InputError, ModelLoadError
from pipelines.generation_params import MIN_TEMPERATURE

logger = logging.getLogger(__name__)

MAX_DURATION = 600.0  # seconds: a finite bound (20 windows of 30 s); hours of CPU time for musicgen-small
MAX_PROMPTS = 8
MAX_PROMPT_CHARS = 2000
DEFAULT_DURATION = 10.0
#: audiocraft `MusicGen.set_generation_params(extend_stride=18)` with `max_duration=30`: each continuation window
#: keeps the last 12 s as its prompt and adds 18 s.
EXTEND_STRIDE_FRACTION = 18 / 30
#: audiocraft's `max_duration` for every MusicGen checkpoint; used when a checkpoint's generation config sets no
#: `max_length` of its own.
AUDIOCRAFT_MAX_DURATION = 30.0
MELODY_MIN_SECONDS = 0.5
MELODY_MAX_SECONDS = 30 * 60.0
PREVIEW_CONTEXT_FRAMES = 25  # frames decoded before a preview chunk, so that it starts without an edge artefact
MODEL_TYPES = {"musicgen": "MusicgenForConditionalGeneration",
               "musicgen_melody": "MusicgenMelodyForConditionalGeneration"}
#: audiocraft ChromaStemConditioner: the Demucs model and the stems kept for the chroma (drums and bass left out).
MELODY_SEPARATOR = "htdemucs"
MELODY_STEMS = ("vocals", "other")
_DEMUCS_LOCK = threading.Lock()  # demucs draws its shift from the global `random`: one seeded call at a time


@dataclasses.dataclass
class MusicResult(AudioResult):
    """Generated music: float32 audio (``(samples,)`` mono, ``(2, samples)`` for stereo checkpoints) at
    `sample_rate`, the settings that reproduce it, and the licence of the weights. ``result.save("x.wav")`` writes
    it (``.wav`` or ``.flac``)."""

    prompt: str = ""
    seed: int = 0
    guidance_scale: float | None = None
    windows: int = 1
    melody: bool = False
    interrupted: bool = False


class _Stop(Exception):
    """Raised inside `generate` when the progress callback asks to stop."""


class _StepHook:
    """A transformers `StoppingCriteria` that never stops generation but sees every step's token ids: they feed the
    progress callback, the previews, and the codes of a window (generate returns only the decoded audio)."""

    def __init__(self, on_step: Any):
        self.on_step, self.ids = on_step, None

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        self.ids = input_ids
        if self.on_step(input_ids) is False:
            raise _Stop
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


class MusicGenerationPipeline(Pipeline):
    """Music from a text prompt (and optionally a melody to follow) with MusicGen.

    >>> music = MusicGenerationPipeline.from_pretrained("facebook/musicgen-small")
    >>> music(["80s pop with synths", "a calm cello solo"], duration=5, seed=3)[1].seconds
    5.0
    """

    task = "text-to-music"

    def __init__(self, model: Any, processor: Any, tokenizer: Any, chroma: dict[str, Any] | None, model_id: str,
                 device: Any, dtype: Any, melody_separator: str | None = None):
        super().__init__(model_id, device, dtype)
        self.model, self.processor, self.tokenizer, self.chroma = model, processor, tokenizer, chroma
        #: the Demucs model that separates a melody clip (audiocraft's ChromaStemConditioner); None: no separation
        self.melody_separator = melody_separator
        self._demucs: Any = None
        self._demucs_lock = threading.Lock()

    # ------------------------------------------------------------------------------------------------ loading

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None, revision: str | None = None,
                        melody_separator: str | None = "auto", **options: Any) -> MusicGenerationPipeline:
        """Load a MusicGen checkpoint (``facebook/musicgen-small`` / ``-medium`` / ``-large`` / ``-melody``, a folder).

        Args:
            model (`str`): a Hub id or a local folder holding a ``musicgen`` or ``musicgen_melody`` model.
            device (`str`, *optional*): default CUDA when present, else CPU.
            dtype (`str` or `torch.dtype`, *optional*): default float16 on GPU (as the model cards), float32 on CPU.
            revision (`str`, *optional*): a Hub revision.
            melody_separator (`str`, *optional*, defaults to ``"auto"``): melody models only: the Demucs model that
                separates a melody clip before its chroma (audiocraft's ``htdemucs``; the tiny HTDemucs twin for the
                tiny models), a demucs name or folder (`pipelines.separation`), or None to take the chroma of the
                whole mix. Loaded on the first melody.
            options: passed on to transformers' ``from_pretrained`` (e.g. ``cache_dir``).
        """
        import transformers
        from transformers import AutoConfig, AutoProcessor, AutoTokenizer
        from transformers.feature_extraction_utils import FeatureExtractionMixin

        device = resolve_device(device)
        dtype = torch.float16 if dtype is None and device.type == "cuda" else resolve_dtype(dtype, device)
        kwargs = {"revision": revision, **options} if revision is not None else dict(options)
        with translating_load_errors(model, cls.task):
            config = AutoConfig.from_pretrained(model, **kwargs)
            if config.model_type not in MODEL_TYPES:
                raise ModelLoadError(model, "wrong_task", f"it is a {config.model_type!r} model, not MusicGen "
                                                          f"({' or '.join(MODEL_TYPES)}).")
            network = getattr(transformers, MODEL_TYPES[config.model_type]).from_pretrained(model, dtype=dtype,
                                                                                           **kwargs)
            if config.model_type == "musicgen":
                processor = AutoProcessor.from_pretrained(model, **kwargs)
                tokenizer, chroma = processor.tokenizer, None
            else:  # MusicgenMelodyProcessor needs torchaudio: the tokenizer, and the chroma settings as data
                processor, tokenizer = None, AutoTokenizer.from_pretrained(model, **kwargs)
                chroma = FeatureExtractionMixin.get_feature_extractor_dict(model, **kwargs)[0]
        network.eval().to(device)
        logger.info("loaded %s (%s) on %s in %s", model, type(network).__name__, device, dtype)
        pipeline = cls(network, processor, tokenizer, chroma, model, device, dtype)
        if melody_separator is not None:
            melody_separator = validate.text("melody_separator", melody_separator)
        if chroma is not None and melody_separator == "auto":
            melody_separator = "tiny" if pipeline.is_tiny else MELODY_SEPARATOR
        pipeline.melody_separator = melody_separator if chroma is not None else None
        return pipeline

    # ------------------------------------------------------------------------------------------------ geometry

    @property
    def sample_rate(self) -> int:
        return int(self.model.config.audio_encoder.sampling_rate)

    @property
    def frame_rate(self) -> int:
        """EnCodec frames (= decoder steps) per second: 50 for the 32 kHz codec of the facebook checkpoints."""
        return int(self.model.config.audio_encoder.frame_rate)

    @property
    def hop_length(self) -> int:
        return int(np.prod(self.model.config.audio_encoder.upsampling_ratios))

    @property
    def num_codebooks(self) -> int:
        return int(self.model.decoder.num_codebooks)

    @property
    def audio_channels(self) -> int:
        return int(self.model.decoder.config.audio_channels)

    @property
    def delays(self) -> list[int]:
        """Each codebook's delay in the delay pattern (stereo checkpoints interleave left/right codebooks)."""
        return [k // self.audio_channels for k in range(self.num_codebooks)]

    @property
    def window_frames(self) -> int:
        """Frames one ``generate`` call may produce: the generation config's ``max_length`` less BOS and delays."""
        from transformers import GenerationConfig

        max_length = self.model.generation_config.max_length
        if max_length is None or max_length == GenerationConfig().max_length:  # the checkpoint sets none
            return int(AUDIOCRAFT_MAX_DURATION * self.frame_rate)
        return int(max_length) - 1 - max(self.delays)

    @property
    def window_seconds(self) -> float:
        return self.window_frames / self.frame_rate

    @property
    def is_melody(self) -> bool:
        return self.chroma is not None

    # ------------------------------------------------------------------------------------------------ call

    def __call__(self, prompt: str | list[str], duration: float = DEFAULT_DURATION, seed: int | None = None,
                 guidance_scale: float | None = None, temperature: float | None = None, top_k: int | None = None,
                 top_p: float | None = None, melody: Any = None, melody_sample_rate: int | None = None,
                 extend_stride: float | None = None, progress: ProgressCallback | None = None,
                 preview_seconds: float | None = None) -> MusicResult | list[MusicResult]:
        """Generate `duration` seconds of music for `prompt` (or one piece per prompt of a list, in one batch).

        Args:
            prompt (`str` or `list[str]`): a description of the music; a list of up to 8 makes a batch.
            duration (`float`, *optional*, defaults to 10.0): seconds, from one frame (0.02 s) to 600. Beyond the
                model's window (29.92 s for the facebook checkpoints) the piece is continued window by window.
            seed (`int`, *optional*): default a random one, reported in the result.
            guidance_scale (`float`, *optional*): classifier-free guidance, 0 to 30 (<= 1 turns it off); default
                the checkpoint's (3.0).
            temperature (`float`, *optional*): sampling temperature from 0.01 to 10; default the checkpoint's (1.0).
            top_k (`int`, *optional*): sample among the k likeliest tokens (0 = all); default the checkpoint's.
            top_p (`float`, *optional*): nucleus sampling in (0, 1]; default the checkpoint's (1.0 = off).
            melody (*optional*): a clip whose melody the music follows (melody checkpoints only): a path, an array
                ``(channels, samples)`` / ``(samples,)`` with `melody_sample_rate`, or Gradio's ``(rate, array)``;
                0.5 s to 30 min, any rate (resampled to the model's).
            melody_sample_rate (`int`, *optional*): the rate of an array `melody`.
            extend_stride (`float`, *optional*): seconds each continuation window adds, in (0, window); default 60 %
                of the window (audiocraft's 18 s of 30 s). The rest of the window is the previous audio, as prompt.
            progress (`ProgressCallback`, *optional*): ``progress(step, total, info)`` after each generated token
                step (``total`` counts all windows); ``info`` holds ``stage``, ``window``, ``windows`` and, every
                `preview_seconds`, ``preview``: the newly generated audio, float32 ``(batch, [channels,] samples)``
                (decoded on its own: a listening preview, not bit-equal to the final result). Returning ``False``
                stops: the result holds the frames finished so far and says ``interrupted``.
            preview_seconds (`float`, *optional*): how often (in seconds of audio) previews are decoded, (0, 60];
                default no previews.

        Returns:
            `MusicResult` (a list of them for a list of prompts).
        """
        prompts = self._check_prompts(prompt)
        duration = validate.number("duration", duration, low=1 / self.frame_rate, high=MAX_DURATION,
                                   hint=f"Seconds of music; {self.model_id} generates {self.window_seconds:g} s per "
                                        f"window and continues longer pieces.")
        seed = validate.seed(seed)
        sampling = {
            "guidance_scale": validate.optional_number("guidance_scale", guidance_scale, low=0, high=30,
                                                       hint="<= 1 turns classifier-free guidance off."),
            "temperature": validate.optional_number("temperature", temperature, low=MIN_TEMPERATURE, high=10),
            "top_k": validate.optional_integer("top_k", top_k, low=0, high=int(self.model.decoder.config.vocab_size)),
            "top_p": validate.optional_number("top_p", top_p, low=0, high=1, low_open=True),
        }
        sampling = {name: value for name, value in sampling.items() if value is not None}
        window = self.window_frames
        stride_seconds = validate.optional_number(
            "extend_stride", extend_stride, low=0, high=self.window_seconds, low_open=True, high_open=True,
            hint=f"Seconds each continuation window adds; the window of {self.model_id} is {self.window_seconds:g} s.")
        stride = max(1, round((stride_seconds or EXTEND_STRIDE_FRACTION * self.window_seconds) * self.frame_rate))
        stride = min(stride, window - 1)
        validate.callback("progress", progress, "progress(step, total, info)")
        preview = validate.optional_number("preview_seconds", preview_seconds, low=0, high=60, low_open=True)
        clip = self._check_melody(melody, melody_sample_rate)

        frames = max(1, round(duration * self.frame_rate))
        plan = _plan_windows(frames, window, stride)
        text = self.tokenizer(prompts, padding=True, return_tensors="pt").to(self.device)
        inputs = {"input_ids": text["input_ids"], "attention_mask": text["attention_mask"]}
        if clip is not None and len(plan) == 1:
            inputs["input_features"] = self._chroma(clip, len(prompts), seed)
        state = _Generation(self, plan, len(prompts), progress, None if preview is None else
                            max(1, round(preview * self.frame_rate)))
        state.seed = seed
        forked = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=forked), torch.inference_mode():
            torch.manual_seed(seed)  # generate samples with torch's global generator (torch.multinomial)
            audio = state.run(inputs, sampling, clip)
        if state.interrupted:
            logger.info("Stopped by the progress callback after %d of %d frames.", state.frames_done, frames)
        info = self._info()
        guidance = sampling.get("guidance_scale", self.model.generation_config.guidance_scale)
        results = [MusicResult(_squeeze(audio[i]), self.sample_rate, licence=info.licence if info else "",
                               model=self.model_id, commercial_use=info.commercial_use if info else True,
                               prompt=text_prompt, seed=seed, guidance_scale=guidance, windows=len(plan),
                               melody=clip is not None, interrupted=state.interrupted)
                   for i, text_prompt in enumerate(prompts)]
        return results if isinstance(prompt, list) else results[0]

    # ------------------------------------------------------------------------------------------------ helpers

    def _check_prompts(self, prompt: Any) -> list[str]:
        if isinstance(prompt, list):
            if not 1 <= len(prompt) <= MAX_PROMPTS:
                raise InputError("prompt", f"a list of {len(prompt)} prompts", f"1 to {MAX_PROMPTS} prompts")
            return [validate.text(f"prompt[{i}]", p, max_chars=MAX_PROMPT_CHARS) for i, p in enumerate(prompt)]
        return [validate.text("prompt", prompt, max_chars=MAX_PROMPT_CHARS)]

    def _check_melody(self, melody: Any, melody_sample_rate: Any) -> np.ndarray | None:
        if melody is None:
            if melody_sample_rate is not None:
                raise InputError("melody_sample_rate", melody_sample_rate, "None when no melody is given")
            return None
        if not self.is_melody:
            raise InputError("melody", "a melody clip", f"None for {self.model_id}, which is not a melody model",
                             "Melody conditioning needs a MusicGen-Melody checkpoint, e.g. facebook/musicgen-melody.")
        clip = read_audio(melody, melody_sample_rate, target_rate=int(self.chroma["sampling_rate"]), channels=1,
                          min_seconds=MELODY_MIN_SECONDS, max_seconds=MELODY_MAX_SECONDS, argument="melody",
                          rate_argument="melody_sample_rate")
        return clip.audio[0]

    def _chroma(self, clip: np.ndarray, batch: int, seed: int = 0) -> torch.Tensor:
        features = melody_chroma(self.melody_mix(clip, seed), self.chroma)
        return features.expand(batch, -1, -1).to(self.device, self.dtype)

    def melody_mix(self, clip: np.ndarray, seed: int = 0) -> np.ndarray:
        """The part of a melody clip (mono, at the chroma's rate) that carries the melody: Demucs' ``vocals`` +
        ``other`` stems, as audiocraft's ``ChromaStemConditioner._get_stemmed_wav`` (see the module docstring); the
        clip itself when `melody_separator` is None. `seed` seeds Demucs' random shift."""
        demucs = self._melody_demucs()
        if demucs is None:
            return clip
        from demucs.apply import apply_model
        from demucs.audio import convert_audio

        rate = int(self.chroma["sampling_rate"])
        wav = torch.from_numpy(np.ascontiguousarray(clip[: int(self.chroma["chunk_length"]) * rate],
                                                    dtype=np.float32))[None, None]
        wav = convert_audio(wav, rate, demucs.samplerate, demucs.audio_channels)
        indices = [list(demucs.sources).index(name) for name in MELODY_STEMS]
        with _DEMUCS_LOCK, torch.inference_mode():
            state = random.getstate()
            try:
                random.seed(seed)
                stems = apply_model(demucs, wav, device=self.device)
            finally:
                random.setstate(state)
        mix = stems[:, indices].sum(1)
        return convert_audio(mix, demucs.samplerate, rate, 1)[0, 0].cpu().numpy()

    def _melody_demucs(self) -> Any:
        """The Demucs model of `melody_separator`, loaded once (through `pipelines.separation`)."""
        if self.melody_separator is None:
            return None
        with self._demucs_lock:
            if self._demucs is None:
                from pipelines.separation import SeparationPipeline

                name = self.melody_separator
                if name == "tiny":
                    from pipelines import tiny

                    name = str(tiny.build("separation"))
                separator = SeparationPipeline.from_pretrained(name, device=self.device)
                missing = [stem for stem in MELODY_STEMS if stem not in separator.sources]
                if missing:
                    raise InputError("melody_separator", self.melody_separator,
                                     f"a Demucs model with the stems {list(MELODY_STEMS)}",
                                     f"It separates {separator.sources}.")
                self._demucs = separator.separator.model
            return self._demucs

    def _melody_window(self, clip: np.ndarray, start_frame: int, batch: int, seed: int = 0) -> torch.Tensor:
        """The chroma of the melody from a window's start time on, for one window length, the clip repeated
        periodically (audiocraft ``_generate_tokens``: ``ref_wav[..., positions % wav_length]``), each window
        separated on its own as audiocraft's conditioner does."""
        rate = int(self.chroma["sampling_rate"])
        start = int(start_frame / self.frame_rate * rate)
        positions = np.arange(start, start + int(self.window_seconds * rate))
        return self._chroma(clip[positions % len(clip)], batch, seed)

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``(batch, codebooks, frames)`` -> audio ``(batch, channels, samples)``, as the end of ``generate``."""
        scales = [None] * codes.shape[0]
        codec = self.model.audio_encoder
        if self.audio_channels == 1:
            return codec.decode(codes[None], audio_scales=scales).audio_values
        left = codec.decode(codes[None, :, ::2], audio_scales=scales).audio_values
        right = codec.decode(codes[None, :, 1::2], audio_scales=scales).audio_values
        return torch.cat([left, right], dim=1)

    def _info(self):
        from pipelines import TASKS

        return TASKS[self.task].model_info(self.model_id)


class _Generation:
    """One call's windows: runs ``generate`` per window, collects the codes, reports progress and previews."""

    def __init__(self, pipe: MusicGenerationPipeline, plan: list[tuple[int, int, int]], batch: int,
                 progress: ProgressCallback | None, preview_frames: int | None):
        self.pipe, self.plan, self.batch, self.progress, self.preview_frames = pipe, plan, batch, progress, \
            preview_frames
        self.delay = max(pipe.delays)
        self.total = sum(chunk - prompt + self.delay for _, prompt, chunk in plan)
        self.step, self.codes, self.interrupted, self.previewed = 0, [], False, 0
        self.seed = 0  # the call's seed: Demucs' random shift when a melody window is separated

    @property
    def frames_done(self) -> int:
        return sum(c.shape[-1] for c in self.codes)

    def run(self, inputs: dict[str, Any], sampling: dict[str, Any], clip: np.ndarray | None) -> np.ndarray:
        from transformers import StoppingCriteriaList

        pipe, audio = self.pipe, None
        for index, (offset, prompt_frames, chunk) in enumerate(self.plan):
            call = dict(inputs)
            if prompt_frames:  # audiocraft: the last `window - stride` generated tokens prompt the next window
                previous = torch.cat(self.codes, dim=-1)[..., -prompt_frames:]
                call["decoder_input_ids"] = previous.reshape(self.batch * pipe.num_codebooks, prompt_frames)
            if clip is not None and len(self.plan) > 1:
                call["input_features"] = pipe._melody_window(clip, offset, self.batch, self.seed)
            hook = _StepHook(lambda ids, i=index, p=prompt_frames: self._on_step(ids, i, p))
            try:
                audio = pipe.model.generate(**call, **sampling, max_new_tokens=chunk - prompt_frames + self.delay,
                                            stopping_criteria=StoppingCriteriaList([hook]))
            except _Stop:
                self.interrupted = True
            self.codes.append(self._new_frames(hook.ids, prompt_frames))
            if self.interrupted:
                break
        if self.frames_done == 0:
            raise Cancelled("music generation stopped by the progress callback before the first frame")
        if len(self.plan) > 1 or self.interrupted:  # one EnCodec pass over the whole piece (audiocraft)
            audio = pipe._decode(torch.cat(self.codes, dim=-1))
        return audio.float().cpu().numpy()

    def _new_frames(self, ids: torch.Tensor | None, prompt_frames: int) -> torch.Tensor:
        """This window's new complete frames from generate's raw ids ``(batch * codebooks, length)``: codebook k's
        frame j sits at position 1 + j + delay(k) (BOS first); positions not yet filled for every codebook wait."""
        pipe = self.pipe
        if ids is None:
            return torch.zeros(self.batch, pipe.num_codebooks, 0, dtype=torch.long, device=pipe.device)
        ids = ids.reshape(self.batch, pipe.num_codebooks, -1)
        end = max(prompt_frames, ids.shape[-1] - 1 - self.delay)
        return torch.stack([ids[:, k, 1 + d + prompt_frames: 1 + d + end] for k, d in enumerate(pipe.delays)], dim=1)

    def _on_step(self, ids: torch.Tensor, window: int, prompt_frames: int) -> bool:
        self.step += 1
        if self.progress is None:
            return True
        info: dict[str, Any] = {"stage": "generating", "window": window + 1, "windows": len(self.plan)}
        if self.preview_frames:
            done = self.frames_done + max(0, ids.shape[-1] - 1 - self.delay - prompt_frames)
            if done - self.previewed >= self.preview_frames or (self.step == self.total and done > self.previewed):
                info["preview"] = self._preview(self._new_frames(ids, prompt_frames))
        return report_progress(self.progress, self.step, self.total, **info)

    def _preview(self, current: torch.Tensor) -> np.ndarray:
        """Decode the frames generated since the last preview (with a little context before them)."""
        codes = torch.cat([*self.codes, current], dim=-1)
        start = max(0, self.previewed - PREVIEW_CONTEXT_FRAMES)
        audio = self.pipe._decode(codes[..., start:])
        chunk = audio[..., (self.previewed - start) * self.pipe.hop_length:].float().cpu().numpy()
        self.previewed = codes.shape[-1]
        return chunk[:, 0] if chunk.shape[1] == 1 else chunk


def _plan_windows(total: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """The windows of audiocraft's ``_generate_tokens`` loop, in frames: ``(offset, prompt_frames, chunk_frames)``.

    Each window generates ``chunk`` frames (its prompt included) starting at ``offset``; the next one starts
    ``stride`` later with the last ``chunk - stride`` frames as prompt, until ``total`` frames exist.
    """
    plan, offset, prompt = [], 0, 0
    while offset + prompt < total:
        chunk = min(total - offset, window)
        plan.append((offset, prompt, chunk))
        prompt, offset = max(0, chunk - stride), offset + stride
    return plan


def _squeeze(audio: np.ndarray) -> np.ndarray:
    """``(channels, samples)`` -> ``(samples,)`` for mono."""
    return np.ascontiguousarray(audio[0] if audio.shape[0] == 1 else audio, dtype=np.float32)


def melody_chroma(audio: np.ndarray, settings: dict[str, Any]) -> torch.Tensor:
    """The chroma features MusicGen-Melody is conditioned on: ``(1, frames, num_chroma)``, one-hot per frame.

    A port of transformers' ``MusicgenMelodyFeatureExtractor`` (``_torch_extract_fbank_features``), which needs
    torchaudio for its spectrogram: ``torchaudio.transforms.Spectrogram(n_fft, win_length=n_fft, hop_length,
    power=2, center=True, pad=0, normalized=True)`` is a Hann-windowed, reflect-padded ``torch.stft`` divided by the
    window's L2 norm, squared. Then, as upstream: the first ``chunk_length`` seconds, zero-padded to ``n_fft`` when
    shorter, librosa's chroma filter bank (``transformers.audio_utils.chroma_filter_bank``, tuning 0), max-normalised
    per frame and replaced by the one-hot of its argmax. `audio` is mono float at ``settings["sampling_rate"]``.
    """
    from transformers.audio_utils import chroma_filter_bank

    rate, n_fft, hop = int(settings["sampling_rate"]), int(settings["n_fft"]), int(settings["hop_length"])
    wav = torch.as_tensor(np.asarray(audio, dtype=np.float32)[: int(settings["chunk_length"]) * rate])[None]
    if wav.shape[-1] < n_fft:
        pad = n_fft - wav.shape[-1]
        wav = torch.nn.functional.pad(wav, (pad // 2, pad // 2 + pad % 2), "constant", 0)
    window = torch.hann_window(n_fft)
    spec = torch.stft(wav, n_fft, hop_length=hop, win_length=n_fft, window=window, center=True, pad_mode="reflect",
                      normalized=False, onesided=True, return_complex=True)
    spec = (spec / window.pow(2.0).sum().sqrt()).abs().pow(2.0)
    filters = torch.from_numpy(chroma_filter_bank(sampling_rate=rate, num_frequency_bins=n_fft, tuning=0,
                                                  num_chroma=int(settings["num_chroma"]))).float()
    chroma = torch.einsum("cf,...ft->...ct", filters, spec)
    chroma = torch.nn.functional.normalize(chroma, p=float("inf"), dim=-2, eps=1e-6).transpose(1, 2)
    return torch.zeros_like(chroma).scatter_(-1, chroma.argmax(-1, keepdim=True), 1.0)


__all__ = ["MusicGenerationPipeline", "MusicResult", "melody_chroma"]
