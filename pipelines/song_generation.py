"""Songs with lyrics (text-to-song) with ACE-Step 1.5 through diffusers' own ``AceStepPipeline``.

>>> from pipelines import load
>>> song = load("text-to-song")                          # ACE-Step/acestep-v15-xl-turbo-diffusers (GPU)
>>> result = song("indie pop, female vocals, acoustic guitar, upbeat", lyrics="[verse]\\nAla ma kota\\n"
...               "[chorus]\\nA kot ma Alę", language="pl", duration=30, seed=0)
>>> result.save("ala.flac"); result.sample_rate, result.audio.shape
(48000, (2, 1440000))
>>> song("lo-fi hip hop, mellow piano", instrumental=True, duration=20, bpm=80, key="A minor").save("lofi.wav")

One call is one ``AceStepPipeline.__call__`` (task ``text2music``) with a CPU ``torch.Generator`` seeded with `seed`:
the same seed gives the same samples as that call by hand (``tests/pipelines/test_song_generation.py``). mmhub adds
the checks below (first, with `InputError`), progress and stop, one call at a time per pipeline (diffusers keeps the
call's guidance and interrupt flag on the pipeline object), and a `SongResult`.

Facts and their sources (diffusers 0.42.1 ``pipelines/ace_step/pipeline_ace_step.py`` and its docs page
``docs/source/en/api/pipelines/ace_step.md``; ACE-Step's own repository ace-step/ACE-Step-1.5 at f30aee4,
``acestep/constants.py``, ``acestep/inference.py``, ``acestep/api_server.py``, ``docs/en/INFERENCE.md``):

- Languages the lyrics may be in: ``VALID_LANGUAGES`` of ``acestep/constants.py`` (50 codes, Polish ``pl`` among
  them, plus ``unknown``: "used when language cannot be determined automatically"). The code is written into the
  lyrics header the text encoder reads (``# Languages\\n{code}\\n\\n# Lyric\\n...``, diffusers ``_format_prompt``,
  ACE-Step ``handler._format_lyrics``). diffusers' default is ``"en"``; so is mmhub's.
- Duration: 10 to 600 s (``DURATION_MIN`` / ``DURATION_MAX``; diffusers docs: "10 seconds to 10 minutes"). Output
  is stereo 48 kHz; the DiT works on 25 latent frames per second (the VAE's hop 1920 = 2*4*4*6*10), so the audio is
  ``ceil(duration * 25) * 1920`` samples long.
- ``bpm``: 30 to 300 (``BPM_MIN`` / ``BPM_MAX``); ``key``: one of the 70 ``VALID_KEYSCALES`` ("C major", "F# minor",
  "B♭ major": note A-G, accidental none / # / b / ♯ / ♭, major or minor); ``time_signature``: 2, 3, 4 or 6 (for
  2/4, 3/4, 4/4, 6/8; ``VALID_TIME_SIGNATURES``). Left unset, diffusers writes ``N/A`` into the "# Metas" block.
- Instrumental: ACE-Step's lyrics for "no vocals" are ``"[Instrumental]"`` (``inference.py``: "Use '[Instrumental]'
  for instrumental songs"; its Gradio checkbox fills that tag in); its API server also takes ``"[inst]"`` and
  empty lyrics as instrumental (``_is_instrumental``). mmhub asks for it explicitly: ``instrumental=True`` (or the
  tag as the lyrics); empty lyrics with vocals asked are an `InputError`.
- Caption (here `prompt`) under 512 characters, lyrics under 4096 (``inference.py`` ``GenerationParams``).
- Steps: 8 by default (diffusers' and ACE-Step's default; "The turbo model is designed for 8 steps"); turbo 1-20,
  base / SFT 1-200 (INFERENCE.md: "Turbo model: 1-20 (recommended 8). Base model: 1-200 (recommended 32-64)").
- Guidance: turbo checkpoints have guidance distilled into the weights; diffusers ignores ``guidance_scale > 1``
  for them with a warning (the result reports the 1.0 used). Base / SFT: adaptive projected guidance with the
  learned null condition, default 7.0 (diffusers); INFERENCE.md gives the range 1.0-15.0.
- ``shift``: 1.0 to 5.0 (INFERENCE.md), default 3.0 (diffusers; "Recommended 3.0 for turbo models").
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from typing import Any

import numpy as np
import torch

from pipelines import validate
from pipelines.audio import AudioResult
from pipelines.base import (
    Pipeline,
    ProgressCallback,
    place_diffusers_pipeline,
    report_progress,
    resolve_device,
    resolve_dtype,
    translating_load_errors,
)
from pipelines.errors import InputError, ModelLoadError
from pipelines.song_languages import VALID_LANGUAGES

logger = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "en"  # AceStepPipeline.__call__(vocal_language="en")
#: acestep/constants.py KEYSCALE_NOTES x KEYSCALE_ACCIDENTALS x KEYSCALE_MODES = VALID_KEYSCALES (70)
KEYSCALE_NOTES, KEYSCALE_ACCIDENTALS, KEYSCALE_MODES = "ABCDEFG", ("", "#", "b", "♯", "♭"), ("major", "minor")
VALID_KEYSCALES = tuple(f"{n}{a} {m}" for n in KEYSCALE_NOTES for a in KEYSCALE_ACCIDENTALS for m in KEYSCALE_MODES)
VALID_TIME_SIGNATURES = (2, 3, 4, 6)  # acestep/constants.py: 2/4, 3/4, 4/4, 6/8
BPM_MIN, BPM_MAX = 30, 300  # acestep/constants.py
DURATION_MIN, DURATION_MAX = 10.0, 600.0  # acestep/constants.py (seconds)
DEFAULT_DURATION = 30.0  # the diffusers docs' example (audio_duration=30.0); the call's own default is 60
MAX_PROMPT_CHARS = 512  # acestep/inference.py GenerationParams: caption "< 512 characters"
MAX_LYRICS_CHARS = 4096  # acestep/inference.py GenerationParams: lyrics "< 4096 characters"
INSTRUMENTAL_TAG = "[Instrumental]"  # acestep/inference.py, its Gradio UI's instrumental checkbox
INSTRUMENTAL_MARKERS = ("[inst]", "[instrumental]")  # acestep/api_server.py _is_instrumental (lower-cased)
DEFAULT_STEPS = 8  # AceStepPipeline.__call__(num_inference_steps=8)
MAX_STEPS = {"turbo": 20, "base": 200}  # docs/en/INFERENCE.md inference_steps
DEFAULT_GUIDANCE = 7.0  # AceStepPipeline.__call__(guidance_scale=7.0); ignored (1.0) by turbo checkpoints
MAX_GUIDANCE = 15.0  # docs/en/INFERENCE.md guidance_scale "1.0-15.0"
DEFAULT_SHIFT, SHIFT_RANGE = 3.0, (1.0, 5.0)  # diffusers' default; INFERENCE.md "range 1.0-5.0"
LOW_MEMORY_BYTES = 4 * 2**30  # below this much free memory after loading, the VAE decodes in tiles


@dataclasses.dataclass
class SongResult(AudioResult):
    """A generated song: float32 stereo audio ``(2, samples)`` at `sample_rate` (48 kHz for ACE-Step), the settings
    that reproduce it and the licence of the weights. ``result.save("song.flac")`` writes it (``.wav`` / ``.flac``).

    `language` is the lyrics' language code given to the model; `lyrics` what it was given to sing
    (``"[Instrumental]"`` for an instrumental); `guidance_scale` the guidance used (1.0 on turbo checkpoints, whose
    guidance is distilled); `interrupted` says the progress callback stopped it after `steps_done` steps (the audio is
    then the partly denoised song).
    """

    prompt: str = ""
    lyrics: str = ""
    instrumental: bool = False
    seed: int = 0
    duration: float = 0.0
    num_inference_steps: int = DEFAULT_STEPS
    guidance_scale: float = 1.0
    shift: float = DEFAULT_SHIFT
    bpm: int | None = None
    key: str | None = None
    time_signature: int | None = None
    steps_done: int = 0
    interrupted: bool = False


class SongGenerationPipeline(Pipeline):
    """A song from style tags and lyrics with ACE-Step 1.5 (diffusers ``AceStepPipeline``).

    >>> song = SongGenerationPipeline.from_pretrained("ACE-Step/acestep-v15-xl-turbo-diffusers")
    >>> song("synth pop, male vocals", lyrics="[verse]\\nHello world", duration=15, seed=1).seconds
    15.0
    """

    task = "text-to-song"

    def __init__(self, pipe: Any, model_id: str, device: Any, dtype: Any, cpu_offload: bool = False):
        super().__init__(model_id, device, dtype)
        self.pipe, self.cpu_offload, self.vae_tiling = pipe, cpu_offload, False
        self._lock = threading.Lock()  # diffusers keeps a call's guidance and interrupt flag on the pipe

    # ------------------------------------------------------------------------------------------------ loading

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None, revision: str | None = None,
                        cpu_offload: bool | None = None, progress_bar: bool = False,
                        **options: Any) -> SongGenerationPipeline:
        """Load an ACE-Step 1.5 checkpoint in diffusers' layout (a Hub id or a folder with ``model_index.json`` naming
        ``AceStepPipeline``: ``transformer/``, ``condition_encoder/``, ``vae/``, ``text_encoder/``, ``tokenizer/``,
        ``scheduler/``, optionally ``audio_tokenizer/`` and ``audio_token_detokenizer/``, as diffusers'
        ``scripts/convert_ace_step_to_diffusers.py`` writes it). When less than 4 GiB stays free after loading, the VAE
        decodes songs over 20.5 s in overlapping tiles (``vae_tiling``; not bit-equal to one pass).

        Args:
            model (`str`): ``"ACE-Step/acestep-v15-xl-turbo-diffusers"``, ``"ACE-Step/acestep-v15-xl-base-diffusers"``
                or a folder (e.g. the converter's output for the 2B ``acestep-v15-turbo``).
            device (`str`, *optional*): default CUDA when present, else CPU.
            dtype (`str` or `torch.dtype`, *optional*): default bfloat16 on GPU (as diffusers' docs load it), float32
                on CPU.
            revision (`str`, *optional*): a Hub revision.
            cpu_offload (`bool`, *optional*): model CPU offload (CUDA only); ``None`` switches it on when the weights
                do not fit the free GPU memory with 4 GiB to spare.
            progress_bar (`bool`, *optional*, defaults to `False`): show diffusers' tqdm bar.
            options: passed on to diffusers' ``from_pretrained`` (e.g. ``cache_dir``).
        """
        from diffusers import AceStepPipeline, DiffusionPipeline

        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
        if cpu_offload is not None:
            validate.boolean("cpu_offload", cpu_offload)
        if cpu_offload and device.type != "cuda":
            raise InputError("cpu_offload", cpu_offload, "False or None on a CPU device",
                             "Model CPU offload moves weights to a GPU only while they run.")
        validate.boolean("progress_bar", progress_bar)
        kwargs: dict[str, Any] = {"use_safetensors": True, **options}
        if revision is not None:
            kwargs["revision"] = revision
        with translating_load_errors(model, cls.task):
            index = DiffusionPipeline.load_config(model, **{k: v for k, v in kwargs.items()
                                                             if k not in ("use_safetensors",)})
            if index.get("_class_name") != "AceStepPipeline":
                raise ModelLoadError(model, "wrong_task", f"its model_index.json names {index.get('_class_name')!r}, "
                                                          f"not AceStepPipeline (ACE-Step 1.5 in diffusers' layout).")
            pipe = AceStepPipeline.from_pretrained(model, dtype=dtype, **kwargs)
        offloaded, free = place_diffusers_pipeline(pipe, device, cpu_offload, LOW_MEMORY_BYTES)
        tiling = free < LOW_MEMORY_BYTES
        if tiling:  # songs over 512 latent frames (20.5 s) are then decoded in overlapping tiles (AutoencoderOobleck)
            logger.info("VAE tiling on (%.1f GiB free)", free / 2**30)
            pipe.vae.enable_tiling()
        pipe.set_progress_bar_config(disable=not progress_bar)
        pipeline = cls(pipe, model, device, dtype, cpu_offload=offloaded)
        pipeline.vae_tiling = tiling
        if device.type == "cpu" and not pipeline.is_tiny:
            logger.warning("Running %s on a CPU: expect minutes per song.", model)
        logger.info("loaded %s (%s) on %s in %s", model, "turbo" if pipeline.is_turbo else "base/sft", device, dtype)
        return pipeline

    # ------------------------------------------------------------------------------------------------ geometry

    @property
    def sample_rate(self) -> int:
        """48000 for the released checkpoints (the VAE's ``sampling_rate``)."""
        return int(self.pipe.sample_rate)

    @property
    def latents_per_second(self) -> float:
        """25 for the released checkpoints: the sample rate over the VAE's hop (1920)."""
        return float(self.pipe.latents_per_second)

    @property
    def is_turbo(self) -> bool:
        """A guidance-distilled checkpoint (``is_turbo`` / ``model_version == "turbo"`` in the transformer config)."""
        return bool(self.pipe.is_turbo)

    @property
    def max_steps(self) -> int:
        return MAX_STEPS["turbo" if self.is_turbo else "base"]

    def samples_for(self, duration: float) -> int:
        """Samples of a song of `duration` seconds: whole latent frames (``ceil(duration * 25) * 1920``)."""
        frames = math.ceil(duration * self.latents_per_second)
        return int(round(frames * self.sample_rate / self.latents_per_second))

    # ------------------------------------------------------------------------------------------------ call

    def __call__(self, prompt: str, lyrics: str | None = None, duration: float = DEFAULT_DURATION,
                 seed: int | None = None, language: str = DEFAULT_LANGUAGE, instrumental: bool = False,
                 bpm: int | None = None, key: str | None = None, time_signature: int | None = None,
                 num_inference_steps: int | None = None, guidance_scale: float | None = None,
                 shift: float | None = None, progress: ProgressCallback | None = None) -> SongResult:
        """Generate a song in the style of `prompt` singing `lyrics` (or an instrumental).

        Args:
            prompt (`str`): style tags / a caption: genre, instruments, mood, voice ("indie pop, female vocals,
                acoustic guitar"); up to 512 characters.
            lyrics (`str`, *optional*): what to sing, with structure tags (``[verse]``, ``[chorus]``, ``[bridge]``);
                up to 4096 characters. Required unless `instrumental`.
            duration (`float`, *optional*, defaults to 30.0): seconds, 10 to 600.
            seed (`int`, *optional*): default a random one, reported in the result. The noise is drawn on the CPU,
                so a seed gives the same song on any device (up to its arithmetic).
            language (`str`, *optional*, defaults to ``"en"``): the lyrics' language, one of ACE-Step's codes
                (`VALID_LANGUAGES`: ``pl``, ``en``, ``de``, ``ja``, ... or ``unknown``).
            instrumental (`bool`, *optional*, defaults to `False`): no vocals; the model gets ACE-Step's
                ``"[Instrumental]"`` as lyrics (leave `lyrics` empty).
            bpm (`int`, *optional*): tempo, 30 to 300; default left to the model.
            key (`str`, *optional*): e.g. ``"C major"``, ``"F# minor"``, ``"B♭ major"``; default left to the model.
            time_signature (`int`, *optional*): 2, 3, 4 or 6 (2/4, 3/4, 4/4, 6/8); default left to the model.
            num_inference_steps (`int`, *optional*): denoising steps, default 8; 1-20 on turbo checkpoints, 1-200
                on base / SFT (32-64 recommended there).
            guidance_scale (`float`, *optional*): 0 to 15, default 7.0 (<= 1 turns guidance off); turbo checkpoints
                ignore it (their guidance is distilled) and the result says 1.0.
            shift (`float`, *optional*): timestep shift, 1.0 to 5.0, default 3.0.
            progress (`ProgressCallback`, *optional*): ``progress(step, total, info)`` after each denoising step
                (``info``: ``stage="denoising"``, ``timestep``). Returning ``False`` stops: the VAE decodes the partly
                denoised latents and the result says ``interrupted``.

        Returns:
            `SongResult`.
        """
        prompt = validate.text("prompt", prompt, max_chars=MAX_PROMPT_CHARS)
        instrumental = validate.boolean("instrumental", instrumental)
        sung = self._check_lyrics(lyrics, instrumental)
        instrumental = sung == INSTRUMENTAL_TAG
        language = validate.choice("language", language, VALID_LANGUAGES, normalise=lambda s: s.strip().lower())
        duration = validate.number("duration", duration, low=DURATION_MIN, high=DURATION_MAX,
                                   hint="ACE-Step 1.5 makes songs of 10 s to 10 minutes (600 s).")
        seed = validate.seed(seed)
        bpm = validate.optional_integer("bpm", bpm, low=BPM_MIN, high=BPM_MAX)
        key = None if key is None else _check_key(key)
        if time_signature is not None:
            time_signature = validate.integer("time_signature", time_signature, low=min(VALID_TIME_SIGNATURES),
                                              high=max(VALID_TIME_SIGNATURES), hint="2, 3, 4 or 6 (2/4, 3/4, 4/4, "
                                                                                    "6/8).")
            if time_signature not in VALID_TIME_SIGNATURES:
                raise InputError("time_signature", time_signature, "2, 3, 4 or 6 (2/4, 3/4, 4/4, 6/8)")
        kind = "turbo" if self.is_turbo else "base / SFT"
        steps = validate.integer("num_inference_steps", DEFAULT_STEPS if num_inference_steps is None
                                 else num_inference_steps, low=1, high=self.max_steps,
                                 hint=f"{self.model_id} is a {kind} checkpoint (ACE-Step: turbo 1-20, recommended "
                                      f"8; base 1-200, recommended 32-64).")
        # Unset on a turbo checkpoint: 1.0, which is what diffusers runs there anyway (and it then does not warn that
        # its default 7.0 is ignored); a value given is passed on as it is (diffusers warns and uses 1.0).
        default_guidance = 1.0 if self.is_turbo else DEFAULT_GUIDANCE
        guidance = validate.number("guidance_scale", default_guidance if guidance_scale is None else guidance_scale,
                                   low=0, high=MAX_GUIDANCE, hint="<= 1 turns guidance off.")
        shift = validate.number("shift", DEFAULT_SHIFT if shift is None else shift, low=SHIFT_RANGE[0],
                                high=SHIFT_RANGE[1])
        validate.callback("progress", progress, "progress(step, total, info)")
        used_guidance = 1.0 if self.is_turbo and guidance > 1 else guidance  # what diffusers runs

        done: list[int] = []
        stopped: list[bool] = []

        def on_step_end(ace: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
            done.append(step + 1)
            if not report_progress(progress, step + 1, steps, stage="denoising", timestep=float(timestep)):
                ace._interrupt = True
                stopped.append(True)
            return callback_kwargs

        generator = torch.Generator("cpu").manual_seed(seed)  # CPU noise: the same seed, the same song anywhere
        with self._lock, torch.inference_mode():
            output = self.pipe(prompt=prompt, lyrics=sung, audio_duration=duration, vocal_language=language,
                               num_inference_steps=steps, guidance_scale=guidance, shift=shift, generator=generator,
                               bpm=bpm, keyscale=key, timesignature=None if time_signature is None
                               else str(time_signature), output_type="np",
                               callback_on_step_end=on_step_end if progress is not None else None)
        if stopped:
            logger.info("Stopped by the progress callback after %d of %d steps.", done[-1], steps)
        audio = np.ascontiguousarray(output.audios[0], dtype=np.float32)  # (channels, samples)
        info = self._info()
        return SongResult(audio, self.sample_rate, licence=info.licence if info else "", model=self.model_id,
                          language=language, commercial_use=info.commercial_use if info else True, prompt=prompt,
                          lyrics=sung, instrumental=instrumental, seed=seed, duration=duration,
                          num_inference_steps=steps, guidance_scale=used_guidance, shift=shift, bpm=bpm, key=key,
                          time_signature=time_signature, steps_done=done[-1] if done else steps,
                          interrupted=bool(stopped))

    # ------------------------------------------------------------------------------------------------ helpers

    @staticmethod
    def _check_lyrics(lyrics: Any, instrumental: bool) -> str:
        """The lyrics the model gets: the text, or ``"[Instrumental]"`` for an instrumental."""
        text = validate.text("lyrics", "" if lyrics is None else lyrics, allow_empty=True, max_chars=MAX_LYRICS_CHARS)
        tagged = text.strip().lower() in INSTRUMENTAL_MARKERS
        if instrumental:
            if text.strip() and not tagged:
                raise InputError("lyrics", lyrics, "empty (or '[Instrumental]') when instrumental=True",
                                 "An instrumental has no vocals: leave the lyrics out, or pass instrumental=False "
                                 "to have them sung.")
            return INSTRUMENTAL_TAG
        if tagged:
            return INSTRUMENTAL_TAG
        if not text.strip():
            raise InputError("lyrics", lyrics, "the lyrics to sing (e.g. '[verse]\\n...\\n[chorus]\\n...')",
                             "For a song without vocals pass instrumental=True (ACE-Step's '[Instrumental]').")
        return text

    def _info(self):
        from pipelines import TASKS

        return TASKS[self.task].model_info(self.model_id)


def _check_key(value: Any) -> str:
    """A key as ACE-Step writes it (``"F# minor"``): note and accidental as given, the mode in lower case."""
    allowed = "a key such as 'C major', 'F# minor' or 'B♭ major' (A-G, optional #/b/♯/♭, major or minor)"
    text = validate.text("key", value, max_chars=32)
    parts = text.split()
    if len(parts) == 2 and parts[0][:1].upper() in KEYSCALE_NOTES:
        candidate = f"{parts[0][:1].upper()}{parts[0][1:]} {parts[1].lower()}"
        if candidate in VALID_KEYSCALES:
            return candidate
    raise InputError("key", value, allowed, "Write the mode out: 'A minor', not 'Am'.")


__all__ = ["SongGenerationPipeline", "SongResult", "VALID_LANGUAGES", "VALID_KEYSCALES", "INSTRUMENTAL_TAG"]
