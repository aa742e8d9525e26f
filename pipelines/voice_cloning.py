"""Voice cloning (text -> speech in the voice of a short clip) and voice conversion (speech -> the clip's voice).

Routes (the result's ``route`` says which one ran, ``tts_model`` which checkpoint spoke):

- ``"pocket-tts"``: **Pocket TTS** (``eustlb/pocket-tts``, English; `PocketTTSForConditionalGeneration` and its
  processor, called directly: transformers 5.24's text-to-speech pipeline fails for it) reads the voice from the clip
  itself; no transcript is needed. Kyutai ships one checkpoint and one tokenizer per language, and English is the only
  one whose transformers-format id could be confirmed (see `pipelines.tts_languages`).
- ``"pocket-tts+knn-vc"``: a Pocket TTS checkpoint whose voice cloning is withheld. Kyutai gates the cloning weights
  behind its terms (kyutai-labs/pocket-tts ``tts_model.py``: ``has_voice_cloning = False`` when only
  ``kyutai/pocket-tts-without-voice-cloning`` could be downloaded). Such a checkpoint is detected at load time
  (`cloning_withheld`): its speaker projection ``audio_prompt_proj`` is all zeros, or its audio tokenizer has no
  encoder (``encoder_config: null``). It then speaks the text without a voice prompt, and kNN-VC converts the speech
  to the reference voice.
- ``"mms-tts+knn-vc"``: every other language, 1,100+ of them (`pipelines.tts_languages`): **MMS-TTS**
  (``facebook/mms-tts-<iso 639-3>``, VITS, CC-BY-NC-4.0: non-commercial) speaks the text, then **kNN-VC** (WavLM-Large
  layer 6, k=4 nearest reference frames, kNN-VC's HiFi-GAN; `pipelines.knn_vc`) converts it to the reference voice.
- Voice conversion (task ``voice-conversion``, route ``"knn-vc"``) is that last step alone, for any language; it
  improves with more reference audio (minutes rather than seconds).

Cloning a voice needs the consent of the person it belongs to. Quality is modest: Pocket TTS is a 100M model, and
kNN-VC with a 3-30 s reference is at the weak end of what it was designed for (its WavLM and vocoder saw English only).

>>> from pipelines import load
>>> vc = load("voice-cloning")                                        # eustlb/pocket-tts (+ MMS-TTS on demand)
>>> out = vc("Hello, this is my voice.", reference="me.wav", language="en")
>>> out = vc("Dzień dobry, to jest mój głos.", reference="me.wav", language="pl")    # facebook/mms-tts-pol
>>> out.route, out.tts_model, out.licence
>>> conv = load("voice-conversion")                                   # microsoft/wavlm-large + kNN-VC vocoder
>>> conv("speech.wav", reference="me.wav").save("converted.wav")
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from pipelines import tts_languages, validate
from pipelines.audio import AudioResult, read_audio, resample, trim_silence
from pipelines.base import (
    Pipeline,
    ProgressCallback,
    is_local_path,
    report_progress,
    resolve_device,
    resolve_dtype,
    translating_load_errors,
)
from pipelines.errors import Cancelled, InputError, ModelLoadError
from pipelines.tts_languages import MMS_ROUTE, POCKET_CONVERSION_ROUTE, POCKET_ROUTE
from pipelines.voice_dsp import speech_only

logger = logging.getLogger(__name__)

POCKET_MODEL = tts_languages.POCKET_TTS["en"]
MMS_MODEL = tts_languages.MMS_TTS_TEMPLATE
CONVERSION_MODEL = "microsoft/wavlm-large"
CONVERSION_ROUTE = "knn-vc"

REFERENCE_SECONDS = (3.0, 30.0)  # Pocket TTS: speech after trimming silence (upstream truncates voices at 30 s)
CLONING_CONVERSION_SECONDS = (3.0, 120.0)  # the kNN-VC routes of voice cloning: more reference is better
CONVERSION_REFERENCE_SECONDS = (3.0, 600.0)  # voice conversion: up to 10 min of reference speech
SOURCE_SECONDS = (0.3, 300.0)
MAX_RAW_REFERENCE_SECONDS = 120.0
MAX_TEXT_CHARS = 2000
MAX_NEW_TOKENS = 4096  # Pocket TTS frames per text chunk (12.5 per second): over five minutes
MAX_K = 64
LOUDNESS_RANGE = (-70.0, 0.0)  # LUFS; BS.1770's absolute gate is -70
VITS_CHUNK_CHARS = 400
MAX_LOADED_MMS = 2  # MMS-TTS checkpoints kept loaded (each ~145 MB); older ones are dropped

TINY_LICENCE = "none: tiny random weights, the output is noise"
POCKET_LICENCE = "cc-by-4.0 (Kyutai Pocket TTS weights; speaker consent required)"
MMS_LICENCE = "cc-by-nc-4.0"  # the facebook/mms-tts model cards
VOCODER_LICENCE = "mit"  # bshall/knn-vc LICENSE


@dataclasses.dataclass
class VoiceResult(AudioResult):
    """Speech from voice cloning or conversion: `AudioResult` plus how it was made.

    ``route`` is ``"pocket-tts"``, ``"pocket-tts+knn-vc"``, ``"mms-tts+knn-vc"`` or (voice conversion) ``"knn-vc"``;
    ``tts_model`` the checkpoint that spoke the text; ``conversion_model`` the WavLM of the kNN-VC step; ``note`` why
    the route was taken when it is not the language's first choice; ``licence`` covers every set of weights used.
    """

    route: str = ""
    tts_model: str | None = None
    conversion_model: str | None = None
    seed: int | None = None
    note: str = ""


class _Progress:
    """The caller's ``progress(step, total, info)`` fed in percent of the whole call (``total`` = 100), from stages
    that report fractions; `Cancelled` when it returns False."""

    def __init__(self, callback: ProgressCallback | None, start: float = 0.0, end: float = 1.0):
        self.callback, self.start, self.end = callback, start, end

    def __call__(self, fraction: float, stage: str) -> None:
        if self.callback is None:
            return
        step = min(100, max(1, round(100 * (self.start + (self.end - self.start) * fraction))))
        if not report_progress(self.callback, step, 100, stage=stage):
            raise Cancelled(f"stopped by the progress callback at {stage!r}")

    def part(self, start: float, end: float) -> _Progress:
        """The stage ``[start, end]`` (fractions of this one)."""
        span = self.end - self.start
        return _Progress(self.callback, self.start + span * start, self.start + span * end)


def _licence(task: str, model_id: str, fallback: str, fallback_commercial: bool = True) -> tuple[str, bool]:
    from pipelines import TASKS
    from pipelines.tiny import is_tiny_path

    if is_tiny_path(model_id):
        return TINY_LICENCE, True
    info = TASKS[task].model_info(model_id)
    return (info.licence, info.commercial_use) if info else (fallback, fallback_commercial)


def _check_rate(name: str, value: Any) -> int | None:
    return validate.optional_integer(name, value, low=1000, high=384_000, hint="The sample rate in Hz, e.g. 16000.")


# ------------------------------------------------------------------------------------------------------------------
# voice conversion


class VoiceConversionPipeline(Pipeline):
    """kNN-VC: the same speech, in the voice of a reference clip (any language; 16 kHz out).

    Example:

    >>> conv = VoiceConversionPipeline.from_pretrained("microsoft/wavlm-large")
    >>> result = conv("speech.wav", reference="target_voice.flac")    # result.audio: float32 (samples,), 16 kHz
    """

    task = "voice-conversion"

    def __init__(self, wavlm: Any, vocoder: Any, model_id: str, device: Any, dtype: Any):
        super().__init__(model_id, device, dtype)
        self.wavlm, self.vocoder = wavlm, vocoder

    @classmethod
    def from_pretrained(cls, model: str = CONVERSION_MODEL, *, device: Any = None, dtype: Any = None,
                        vocoder: str | None = None, vocoder_sha256: str | None = None, layer: int = 6,
                        **options: Any) -> VoiceConversionPipeline:
        """Load WavLM (cut after `layer`) and the kNN-VC vocoder.

        Args:
            model (`str`): a WavLM checkpoint (Hub id or folder); default ``microsoft/wavlm-large``.
            vocoder (`str`, *optional*): a converted vocoder folder, or kNN-VC's original ``prematch_g_02500000.pt``.
                Default: ``<model>/vocoder`` when the model folder has one, else the cached conversion of the file
                published at `pipelines.knn_vc.VOCODER_URL` (downloaded once, then converted to safetensors).
            vocoder_sha256 (`str`, *optional*): the expected SHA-256 of the ``.pt`` checkpoint.
            layer (`int`, defaults to 6): the WavLM layer whose features are matched (kNN-VC uses 6).
            options: passed to ``WavLMModel.from_pretrained`` (e.g. ``revision``).
        """
        from pipelines import knn_vc

        layer = validate.integer("layer", layer, low=1, high=48)
        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
        with translating_load_errors(model, cls.task):
            wavlm = knn_vc.load_wavlm(model, layer=layer, device=device, dtype=dtype, **options)
        if vocoder is None and is_local_path(model) and (Path(model).expanduser() / "vocoder").is_dir():
            vocoder = str(Path(model).expanduser() / "vocoder")
        with translating_load_errors(str(vocoder or knn_vc.VOCODER_URL), cls.task):
            voc = knn_vc.load_vocoder(vocoder, device=device, dtype=dtype, expected_sha256=vocoder_sha256)
        if voc.lin_pre.in_features != wavlm.config.hidden_size:
            raise ModelLoadError(model, "incompatible", f"the vocoder reads {voc.lin_pre.in_features}-d features, "
                                                        f"WavLM gives {wavlm.config.hidden_size}-d ones.")
        return cls(wavlm, voc, model, device, dtype)

    @property
    def sample_rate(self) -> int:
        return self.vocoder.sample_rate

    def reference_features(self, reference: Any, reference_sample_rate: int | None = None,
                           min_seconds: float = CONVERSION_REFERENCE_SECONDS[0],
                           max_seconds: float = CONVERSION_REFERENCE_SECONDS[1]):
        """The matching set: WavLM features ``(frames, D)`` of the reference clip, with non-speech trimmed from both
        ends by SoX's voice activity detector at trigger level 7, as kNN-VC's ``get_matching_set`` does."""
        import torch

        from pipelines import knn_vc

        reference_sample_rate = _check_rate("reference_sample_rate", reference_sample_rate)
        clip = read_audio(reference, reference_sample_rate, target_rate=knn_vc.SAMPLE_RATE, channels=1,
                          min_seconds=min(min_seconds, 0.1), max_seconds=max(max_seconds, MAX_RAW_REFERENCE_SECONDS),
                          argument="reference", rate_argument="reference_sample_rate")
        speech = speech_only(clip.audio[0], clip.sample_rate, (min_seconds, max_seconds))  # the one speech check
        return knn_vc.wavlm_features(self.wavlm, torch.from_numpy(np.ascontiguousarray(speech, dtype=np.float32)))

    def __call__(self, speech: Any, reference: Any = None, sample_rate: int | None = None,
                 reference_sample_rate: int | None = None, k: int = 4, target_loudness: float | None = -16.0,
                 progress: ProgressCallback | None = None) -> VoiceResult:
        """Convert `speech` to the voice of `reference`.

        Args:
            speech: the speech to convert: a path, an array ``(channels, samples)`` / ``(samples,)`` or a Gradio
                ``(sample_rate, array)`` tuple; 0.3 s to 5 min.
            reference: the target voice, same forms; 3 s to 10 min of speech once non-speech is trimmed from its ends
                (more is better). A features tensor from `reference_features` is accepted too (reuse it across calls).
            sample_rate, reference_sample_rate (`int`, *optional*): the rates (Hz) of array inputs, 1000 to 384000.
            k (`int`, defaults to 4): neighbours averaged per frame, 1 to 64.
            target_loudness (`float`, *optional*, defaults to -16): the output's loudness in LUFS (ITU-R BS.1770-4),
                -70 to 0, as kNN-VC normalises it; None leaves the vocoder's level.
            progress (*optional*): ``progress(step, total, info)``, in percent (``total`` = 100); returning False
                stops the call with `Cancelled`.

        Returns:
            `VoiceResult`: float32 mono audio at 16 kHz, ``len(speech) // 320 * 320`` samples (kNN-VC vocodes one
            320-sample hop per WavLM frame, see `pipelines.knn_vc.frame_count`), ``route="knn-vc"``.
        """
        import torch

        from pipelines import knn_vc

        if reference is None:
            raise InputError("reference", reference, "the target voice: a path, an array or a (sample_rate, array) "
                                                     "tuple")
        sample_rate = _check_rate("sample_rate", sample_rate)
        reference_sample_rate = _check_rate("reference_sample_rate", reference_sample_rate)
        k = validate.integer("k", k, low=1, high=MAX_K)
        target_loudness = validate.optional_number("target_loudness", target_loudness, low=LOUDNESS_RANGE[0],
                                                   high=LOUDNESS_RANGE[1])
        stages = _Progress(validate.callback("progress", progress, "progress(step, total, info)"))
        source = read_audio(speech, sample_rate, target_rate=knn_vc.SAMPLE_RATE, channels=1,
                            min_seconds=SOURCE_SECONDS[0], max_seconds=SOURCE_SECONDS[1], argument="speech")
        if isinstance(reference, torch.Tensor):
            if reference.ndim != 2 or reference.shape[1] != self.wavlm.config.hidden_size or not len(reference) \
                    or not torch.isfinite(reference).all():
                raise InputError("reference", f"a tensor of shape {tuple(reference.shape)}",
                                 f"audio, or finite features (frames, {self.wavlm.config.hidden_size}) from "
                                 "`reference_features`")
            pool = reference
        else:
            stages(0.0, "reading the reference voice")
            pool = self.reference_features(reference, reference_sample_rate)
        return self._convert(source.audio[0], pool, k, target_loudness, stages.part(0.3, 1.0))

    def _convert(self, speech: np.ndarray, pool: Any, k: int = 4, target_loudness: float | None = -16.0,
                 progress: _Progress | None = None) -> VoiceResult:
        """Convert validated mono 16 kHz `speech` (1-D float32 array) with the matching set `pool`."""
        import torch

        from pipelines import knn_vc
        from pipelines.voice_dsp import normalize_loudness

        progress = progress or _Progress(None)
        progress(0.0, "reading the speech")
        query = knn_vc.wavlm_features(self.wavlm, torch.from_numpy(np.ascontiguousarray(speech, dtype=np.float32)))
        progress(0.4, "matching frames")
        matched = knn_vc.knn_match(query, pool.to(query.device), k=k)
        progress(0.5, "vocoding")
        out = self.vocoder(matched).float().cpu().numpy()
        if target_loudness is not None:
            out = normalize_loudness(out, self.sample_rate, target_loudness)
        progress(1.0, "done")
        licence, commercial = _licence(self.task, self.model_id, "see the WavLM model card")
        if licence != TINY_LICENCE:
            licence = f"{licence} (WavLM {self.model_id}) + {VOCODER_LICENCE} (kNN-VC vocoder)"
        return VoiceResult(np.ascontiguousarray(out, dtype=np.float32), self.sample_rate, licence=licence,
                           model=self.model_id, commercial_use=commercial, route=CONVERSION_ROUTE,
                           conversion_model=self.model_id)


# ------------------------------------------------------------------------------------------------------------------
# text to speech


def cloning_withheld(model: Any, audio_tokenizer: Any) -> tuple[str, ...]:
    """Why a Pocket TTS checkpoint cannot clone a voice from a clip (empty when it can).

    Kyutai withholds cloning from users who have not accepted its terms (kyutai-labs/pocket-tts ``tts_model.py``:
    ``has_voice_cloning = False`` when only ``kyutai/pocket-tts-without-voice-cloning`` loads). In transformers'
    format that shows in two fields: a speaker projection ``model.audio_prompt_proj`` of zeros (a voice would be
    projected to nothing), and an audio tokenizer saved without its encoder (``encoder_config: null``;
    `PocketTTSProcessor` then refuses audio and takes only precomputed voices).
    """
    reasons = []
    if audio_tokenizer is None or audio_tokenizer.config.encoder_config is None:
        reasons.append("its audio tokenizer has no encoder (encoder_config: null)")
    if not bool(model.model.audio_prompt_proj.weight.detach().any()):
        reasons.append("its speaker projection audio_prompt_proj is all zeros")
    return tuple(reasons)


class _PocketTTS:
    """Pocket TTS through its processor and model (the transformers TTS pipeline fails for it in 5.24)."""

    def __init__(self, model_id: str, device: Any, dtype: Any, audio_tokenizer: str | None = None, **options: Any):
        from transformers import PocketTTSAudioTokenizerModel, PocketTTSForConditionalGeneration, PocketTTSProcessor

        self.model_id = model_id
        with translating_load_errors(model_id, "voice-cloning"):
            # the model first: its loader's errors say "offline" / "not found" plainly, the processor's do not
            self.model = PocketTTSForConditionalGeneration.from_pretrained(model_id, dtype=dtype, **options)
            self.processor = PocketTTSProcessor.from_pretrained(model_id, **options)
            if audio_tokenizer is not None or getattr(self.processor, "audio_tokenizer", None) is None:
                # the codec may live in its own repo, or in an ``audio_tokenizer/`` subfolder (mmhub's tiny bundles)
                source, sub = (audio_tokenizer, "") if audio_tokenizer else (model_id, "audio_tokenizer")
                self.processor.audio_tokenizer = PocketTTSAudioTokenizerModel.from_pretrained(
                    source, subfolder=sub, dtype=dtype, **options)
        codec = self.processor.audio_tokenizer
        if codec.config.decoder_config is None:
            raise ModelLoadError(model_id, "incompatible", "its audio tokenizer has no decoder: it cannot make audio.")
        codec.to(device).eval()
        self.model.to(device).eval()
        self.model.generation_config.return_dict_in_generate = True
        self.sample_rate = int(self.processor.feature_extractor.sampling_rate)
        self.withheld = cloning_withheld(self.model, codec)
        if self.withheld:
            logger.warning("%s cannot clone a voice (%s): it will speak without one, and kNN-VC will convert the "
                           "speech to the reference voice", model_id, "; ".join(self.withheld))

    @property
    def can_clone(self) -> bool:
        return not self.withheld

    def _prompt(self, text: str, with_voice: bool) -> str:
        """The prompt: the checkpoint's chat template, else the layout `PocketTTSProcessor` documents
        (voice BOS, voice placeholder, text, first audio position)."""
        if self.processor.chat_template:
            content = ([{"type": "audio"}] if with_voice else []) + [{"type": "text", "text": text}]
            return self.processor.apply_chat_template([{"role": "user", "content": content}], tokenize=False)
        tok = self.processor.tokenizer
        voice = (getattr(tok, "audio_prompt_bos_token", None) or "") + tok.audio_prompt_token if with_voice else ""
        return f"{voice}{text}{tok.audio_bos_token}"

    def __call__(self, text: str, reference: np.ndarray | None, seed: int, progress: _Progress,
                 max_new_tokens: int | None = None) -> np.ndarray:
        """Speech for `text` in the voice of `reference` (mono, at `sample_rate`), or without a voice prompt (None)."""
        import torch

        chunks = self.processor.split_text(text) or [text]
        voice, pieces = None, []
        for i, chunk in enumerate(chunks):
            prompt = self._prompt(chunk, with_voice=reference is not None)
            if reference is None:
                inputs = self.processor(text=[prompt], return_tensors="pt")
            elif voice is None:  # encode the clip once, reuse its latents for the other chunks
                inputs = self.processor(text=[prompt], audio=[reference], return_tensors="pt",
                                        audio_kwargs={"sampling_rate": self.sample_rate})
                voice = inputs["audio_prompt_latents"][0][inputs["audio_prompt_latents_mask"][0].bool()]
            else:
                inputs = self.processor(text=[prompt], audio_prompt_latents=[voice], return_tensors="pt")
            inputs = inputs.to(self.model.device)
            torch.manual_seed(seed + i)
            with torch.inference_mode():
                out = self.model.generate(**inputs, max_new_tokens=max_new_tokens)
            pieces.append(self.processor.decode(out.audio_latents, out.audio_latents_mask)[0].float().numpy())
            progress((i + 1) / len(chunks), f"speaking: {i + 1}/{len(chunks)}")
        return np.concatenate(pieces)


class _MmsTTS:
    """MMS-TTS (VITS) through `VitsModel` and its tokenizer; long texts are spoken sentence group by group."""

    def __init__(self, model_id: str, device: Any, dtype: Any, **options: Any):
        from transformers import AutoTokenizer, VitsModel
        from transformers.utils import is_uroman_available

        self.model_id = model_id
        with translating_load_errors(model_id, "voice-cloning"):
            self.model = VitsModel.from_pretrained(model_id, dtype=dtype, **options)
            self.tokenizer = AutoTokenizer.from_pretrained(model_id, **options)
        # MMS checkpoints trained on romanised text (VitsTokenizer.is_uroman) romanise non-Latin input with the
        # `uroman` package; without it transformers only warns and drops every character outside the vocabulary.
        if getattr(self.tokenizer, "is_uroman", False) and not is_uroman_available():
            raise ModelLoadError(model_id, "missing_dependency", "its tokenizer romanises text with uroman "
                                                                 "(is_uroman=True): pip install uroman")
        self.model.to(device).eval()
        self.sample_rate = int(self.model.config.sampling_rate)

    def __call__(self, text: str, seed: int, progress: _Progress) -> np.ndarray:
        import torch

        chunks = _sentence_groups(text, VITS_CHUNK_CHARS)
        pieces = []
        for i, chunk in enumerate(chunks):
            inputs = self.tokenizer(chunk, return_tensors="pt")
            if inputs["input_ids"].shape[-1] > 1:
                torch.manual_seed(seed + i)
                with torch.inference_mode():
                    waveform = self.model(**inputs.to(self.model.device)).waveform[0]
                pieces.append(waveform.float().cpu().numpy())
            progress((i + 1) / len(chunks), f"speaking: {i + 1}/{len(chunks)}")
        if not pieces:
            raise InputError("text", text, f"text with letters {self.model_id} can speak",
                             "Its vocabulary holds none of these characters: check the language.")
        return np.concatenate(pieces)


def _sentence_groups(text: str, limit: int) -> list[str]:
    """Sentences (split after . ! ? and newlines) greedily grouped up to `limit` characters."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?…])\s+|\n+", text) if s.strip()]
    groups: list[str] = []
    for sentence in sentences:
        while len(sentence) > limit:  # a run-on sentence: cut at the last space before the limit
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            groups.append(sentence[:cut])
            sentence = sentence[cut:].strip()
        if groups and len(groups[-1]) + 1 + len(sentence) <= limit:
            groups[-1] += " " + sentence
        elif sentence:
            groups.append(sentence)
    return groups


# ------------------------------------------------------------------------------------------------------------------
# voice cloning


class VoiceCloningPipeline(Pipeline):
    """Speech from text, in the voice of a reference clip: Pocket TTS (English), or MMS-TTS + kNN-VC (1,100+ other
    languages); see the module docstring for the routes.

    Only the model given to `from_pretrained` (and what its route needs) is loaded at once; every other checkpoint is
    loaded on its first use.

    Example:

    >>> vc = VoiceCloningPipeline.from_pretrained("eustlb/pocket-tts")
    >>> out = vc("Good morning!", reference="voice.wav", language="en")    # 24 kHz, route "pocket-tts"
    >>> out = vc("Dzień dobry!", reference="voice.wav", language="pl")     # 16 kHz, route "mms-tts+knn-vc"
    """

    task = "voice-cloning"

    def __init__(self, model_id: str, device: Any, dtype: Any, pocket: str | None, mms: str, conversion: str,
                 options: dict[str, Any], own_vits: tuple[str, str | None] | None = None):
        super().__init__(model_id, device, dtype)
        self.pocket_model = pocket  # None: English goes to MMS-TTS too
        self.mms_model = mms  # a template with "{code}", or one checkpoint for every language
        self.conversion_model = conversion
        self.own_vits = own_vits  # (id, its language code or None = every language): a VITS given as `model`
        self.options = options
        self._pocket: _PocketTTS | None = None
        self._conversion: VoiceConversionPipeline | None = None
        self._mms: collections.OrderedDict[str, _MmsTTS] = collections.OrderedDict()

    @classmethod
    def from_pretrained(cls, model: str = POCKET_MODEL, *, device: Any = None, dtype: Any = None,
                        mms_model: str | None = None, conversion_model: str | None = None,
                        vocoder: str | None = None, audio_tokenizer: str | None = None,
                        **options: Any) -> VoiceCloningPipeline:
        """Load a cloning model.

        Args:
            model (`str`): a Pocket TTS checkpoint (default ``eustlb/pocket-tts``, English); or an MMS-TTS (VITS)
                checkpoint such as ``facebook/mms-tts-pol``, used for its language (read from a ``mms-tts-<code>``
                id; a VITS whose id names no language is used for every language); or a folder holding
                ``pocket/``, ``mms-tts/`` and ``voice-conversion/`` (the ``tiny`` bundles: there one tiny VITS
                speaks every language).
            mms_model (`str`, *optional*): the MMS-TTS checkpoints, a template with ``{code}`` (default
                ``facebook/mms-tts-{code}``) or one checkpoint for every language.
            conversion_model (`str`, *optional*): the WavLM of the kNN-VC step, default ``microsoft/wavlm-large``.
            vocoder (`str`, *optional*): the kNN-VC vocoder (see `VoiceConversionPipeline.from_pretrained`).
            audio_tokenizer (`str`, *optional*): Pocket TTS's codec, when it is not in the processor's config.
            options: passed to each ``from_pretrained`` (e.g. ``revision``).
        """
        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
        for name, value in (("mms_model", mms_model), ("conversion_model", conversion_model)):
            if value is not None:
                validate.text(name, value)
        pocket: str | None = POCKET_MODEL
        mms, conversion, own_vits, primary = MMS_MODEL, CONVERSION_MODEL, None, "pocket"
        folder = Path(model).expanduser()
        if is_local_path(model) and ((folder / "pocket").is_dir() or (folder / "mms-tts").is_dir()):
            pocket = str(folder / "pocket") if (folder / "pocket").is_dir() else None
            mms, conversion = str(folder / "mms-tts"), str(folder / "voice-conversion")
            primary = "pocket" if pocket else "mms"
        else:
            from transformers import AutoConfig

            with translating_load_errors(model, cls.task):
                model_type = AutoConfig.from_pretrained(model, **options).model_type
            if model_type == "pocket_tts":
                pocket = model
            elif model_type == "vits":
                match = re.search(r"mms-tts-([a-z0-9_-]+)$", model.rstrip("/"))
                code = match.group(1) if match and match.group(1) in tts_languages.mms_languages() else None
                own_vits, primary = (model, code), "mms"
            else:
                raise ModelLoadError(model, "wrong_task", f"it is a {model_type!r} model; voice cloning takes a "
                                                          "Pocket TTS or an MMS-TTS (VITS) checkpoint.")
        pipe = cls(model, device, dtype, pocket, mms_model or mms, conversion_model or conversion,
                   {"vocoder": vocoder, "audio_tokenizer": audio_tokenizer, **options}, own_vits)
        if primary == "pocket":
            if pipe._pocket_tts().withheld:
                pipe._conversion_pipeline()  # English then needs kNN-VC too: load it now, not mid-call
        else:
            pipe._mms_tts(own_vits[1] if own_vits and own_vits[1] else "pol")
            pipe._conversion_pipeline()
        return pipe

    # -- parts, loaded on first use ------------------------------------------------------------------------------

    @property
    def _load_options(self) -> dict[str, Any]:
        return {k: v for k, v in self.options.items() if k not in ("vocoder", "audio_tokenizer")}

    def _pocket_tts(self) -> _PocketTTS:
        if self._pocket is None:
            logger.info("loading %s for voice cloning", self.pocket_model)
            self._pocket = _PocketTTS(self.pocket_model, self.device, self.dtype,
                                      audio_tokenizer=self.options.get("audio_tokenizer"), **self._load_options)
        return self._pocket

    def mms_model_id(self, code: str) -> str:
        """The MMS-TTS checkpoint that speaks the language `code` (an MMS checkpoint code)."""
        if self.own_vits and self.own_vits[1] in (None, code):
            return self.own_vits[0]
        return self.mms_model.format(code=code) if "{code}" in self.mms_model else self.mms_model

    def _mms_tts(self, code: str) -> _MmsTTS:
        model_id = self.mms_model_id(code)
        if model_id in self._mms:
            self._mms.move_to_end(model_id)
        else:
            logger.info("loading %s for voice cloning", model_id)
            self._mms[model_id] = _MmsTTS(model_id, self.device, self.dtype, **self._load_options)
            while len(self._mms) > MAX_LOADED_MMS:
                self._mms.popitem(last=False)
        return self._mms[model_id]

    def _conversion_pipeline(self) -> VoiceConversionPipeline:
        if self._conversion is None:
            logger.info("loading %s for voice cloning", self.conversion_model)
            self._conversion = VoiceConversionPipeline.from_pretrained(
                self.conversion_model, device=self.device, dtype=self.dtype, vocoder=self.options.get("vocoder"),
                **self._load_options)
        return self._conversion

    @property
    def languages(self) -> tuple[tts_languages.VoiceLanguage, ...]:
        """Every language this pipeline speaks (`pipelines.tts_languages.supported`)."""
        return tts_languages.supported()

    # -- the call ------------------------------------------------------------------------------------------------

    def __call__(self, text: str, reference: Any = None, reference_sample_rate: int | None = None,
                 language: str = "en", seed: int | None = None, max_new_tokens: int | None = None, k: int = 4,
                 progress: ProgressCallback | None = None) -> VoiceResult:
        """Speak `text` in the voice of `reference`.

        Args:
            text (`str`): what to say (at most 2000 characters; long texts are spoken in sentence-sized chunks).
            reference: the voice: a path, an array ``(channels, samples)`` / ``(samples,)`` or a Gradio
                ``(sample_rate, array)`` tuple; any rate, mono or stereo (mixed down). Pocket TTS takes 3-30 s of
                speech (silence trimmed); the kNN-VC routes 3-120 s once non-speech is trimmed (more is better).
            reference_sample_rate (`int`, *optional*): the rate (Hz) of an array `reference`, 1000 to 384000.
            language (`str`, defaults to ``"en"``): an ISO 639-1 or 639-3 code (``"pl"``, ``"pol"``), an MMS
                checkpoint code (``"azj-script_latin"``) or an ISO 639 English name; ``python -m pipelines list
                voice-cloning`` lists them. ``en`` is Pocket TTS; the others MMS-TTS + kNN-VC.
            seed (`int`, *optional*): 0 to 2**63 - 1, for repeatable output; None draws one (the result reports it).
            max_new_tokens (`int`, *optional*): Pocket TTS only: at most this many audio frames per text chunk
                (12.5 frames = 1 s), 1 to 4096; default the model's own budget, ``(text tokens / 3 + 2) * 12.5``.
            k (`int`, defaults to 4): kNN-VC routes: reference frames averaged per frame, 1 to 64.
            progress (*optional*): ``progress(step, total, info)``, in percent (``total`` = 100); returning False
                stops the call with `Cancelled`.

        Returns:
            `VoiceResult`: float32 mono audio (24 kHz from Pocket TTS, 16 kHz from kNN-VC), the route taken, the TTS
            checkpoint and the licences of every set of weights used.
        """
        text = validate.text("text", text, max_chars=MAX_TEXT_CHARS).strip()
        lang = tts_languages.resolve(language)
        if reference is None:
            raise InputError("reference", reference, "a clip of the voice to clone: a path, an array or a "
                                                     "(sample_rate, array) tuple")
        reference_sample_rate = _check_rate("reference_sample_rate", reference_sample_rate)
        seed = validate.seed(seed)
        max_new_tokens = validate.optional_integer("max_new_tokens", max_new_tokens, low=1, high=MAX_NEW_TOKENS,
                                                   hint="Audio frames per text chunk, 12.5 per second.")
        k = validate.integer("k", k, low=1, high=MAX_K)
        stages = _Progress(validate.callback("progress", progress, "progress(step, total, info)"))
        clip = read_audio(reference, reference_sample_rate, channels=1, min_seconds=0.1,
                          max_seconds=MAX_RAW_REFERENCE_SECONDS, argument="reference",
                          rate_argument="reference_sample_rate")

        tts: _PocketTTS | _MmsTTS | None = None
        if lang.route == POCKET_ROUTE and self.pocket_model is not None:
            stages(0.0, "loading Pocket TTS")
            tts = self._pocket_tts()
            route = POCKET_ROUTE if tts.can_clone else POCKET_CONVERSION_ROUTE
            note = "" if tts.can_clone else f"{tts.model_id} cannot clone a voice: {'; '.join(tts.withheld)}"
        else:
            code = lang.code if lang.route == MMS_ROUTE else lang.iso639_3
            route, note = MMS_ROUTE, ""
        if isinstance(tts, _PocketTTS) and route == POCKET_ROUTE:
            # the speech check every route makes (kNN-VC's VAD): noise, a tone or an offset is no voice here either
            speech_only(clip.audio[0], clip.sample_rate, REFERENCE_SECONDS)
            voice = trim_silence(clip.audio[0], clip.sample_rate)
            seconds = len(voice) / clip.sample_rate
            if not REFERENCE_SECONDS[0] <= seconds <= REFERENCE_SECONDS[1]:
                raise InputError("reference", f"a clip with {seconds:.2f} s of sound (silence trimmed)",
                                 f"between {REFERENCE_SECONDS[0]:g} and {REFERENCE_SECONDS[1]:g} seconds of speech")
            audio = tts(text, resample(voice, clip.sample_rate, tts.sample_rate), seed, stages.part(0.05, 1.0),
                        max_new_tokens)
            stages(1.0, "done")
            licence, commercial = _licence(self.task, tts.model_id, POCKET_LICENCE)
            return VoiceResult(np.ascontiguousarray(audio, dtype=np.float32), tts.sample_rate, licence=licence,
                               model=tts.model_id, language=lang.code, commercial_use=commercial, route=route,
                               tts_model=tts.model_id, seed=seed)

        # kNN-VC routes: the reference is checked (and its features made) before any speech is generated
        from pipelines import knn_vc

        stages(0.02, "loading kNN-VC")
        conversion = self._conversion_pipeline()
        stages(0.05, "reading the reference voice")
        pool = conversion.reference_features(clip.audio[0], clip.sample_rate, *CLONING_CONVERSION_SECONDS)
        if tts is None:
            stages(0.08, "loading MMS-TTS")
            tts = self._mms_tts(code)
        if isinstance(tts, _PocketTTS):
            speech = tts(text, None, seed, stages.part(0.1, 0.5), max_new_tokens)
            licence, commercial = _licence(self.task, tts.model_id, POCKET_LICENCE)
        else:
            speech = tts(text, seed, stages.part(0.1, 0.5))
            licence, commercial = _licence(self.task, tts.model_id, MMS_LICENCE, False)
        speech = resample(speech, tts.sample_rate, knn_vc.SAMPLE_RATE)
        if len(speech) < knn_vc.HOP_LENGTH:  # kNN-VC needs one 320-sample frame; pad a blip of speech with silence
            speech = np.pad(speech, (0, knn_vc.HOP_LENGTH - len(speech)))
        converted = conversion._convert(speech, pool, k, -16.0, stages.part(0.5, 1.0))
        if licence != TINY_LICENCE:
            licence = f"{licence} (TTS {tts.model_id}) + {converted.licence}"
        return VoiceResult(converted.audio, converted.sample_rate, licence=licence, model=tts.model_id,
                           language=lang.code, commercial_use=commercial and converted.commercial_use, route=route,
                           tts_model=tts.model_id, conversion_model=conversion.model_id, seed=seed, note=note)


    def speak(self, text: str, language: str = "pol", seed: int | None = None,
              progress: ProgressCallback | None = None) -> VoiceResult:
        """`text` in the voice of the language's MMS-TTS reader, without cloning: no reference, no kNN-VC.

        Each ``facebook/mms-tts-<code>`` checkpoint is a VITS trained on one language's recordings, so it speaks in
        one voice of its own; `pipelines.voice_presets` keeps such clips as preset voices that need no recording.

        Args:
            text (`str`): what to say (at most 2000 characters).
            language (`str`, defaults to ``"pol"``): any code or name `pipelines.tts_languages.resolve` takes; the
                language's MMS-TTS checkpoint speaks (English too: ``facebook/mms-tts-eng``, not Pocket TTS).
            seed (`int`, *optional*): for repeatable output; None draws one (reported).
        """
        text = validate.text("text", text, max_chars=MAX_TEXT_CHARS).strip()
        lang = tts_languages.resolve(language)
        seed = validate.seed(seed)
        stages = _Progress(validate.callback("progress", progress, "progress(step, total, info)"))
        code = lang.code if lang.route == MMS_ROUTE else lang.iso639_3
        stages(0.0, "loading MMS-TTS")
        tts = self._mms_tts(code)
        audio = tts(text, seed, stages.part(0.1, 1.0))
        licence, commercial = _licence(self.task, tts.model_id, MMS_LICENCE, False)
        return VoiceResult(np.ascontiguousarray(audio, dtype=np.float32), tts.sample_rate, licence=licence,
                           model=tts.model_id, language=lang.code, commercial_use=commercial, route="mms-tts",
                           tts_model=tts.model_id, seed=seed)


def language_choices() -> list[tuple[str, str]]:
    """(label, code) pairs of every language voice cloning speaks, for menus."""
    return [(lang.label, lang.code) for lang in tts_languages.supported()]


__all__ = ["VoiceCloningPipeline", "VoiceConversionPipeline", "VoiceResult", "cloning_withheld",
           "language_choices"]
