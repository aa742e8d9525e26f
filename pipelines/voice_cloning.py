"""Voice cloning (text -> speech in the voice of a short clip) and voice conversion (speech -> the clip's voice).

- English, French, German, Italian, Spanish, Portuguese: **Pocket TTS** (`PocketTTSForConditionalGeneration` and its
  processor, called directly: transformers 5.24's text-to-speech pipeline fails for it). It reads the voice from the
  clip itself; no transcript is needed. Weights CC-BY-4.0 with a consent clause.
- Polish: no cloning model in transformers speaks Polish, so the text is spoken by **MMS-TTS**
  (``facebook/mms-tts-pol``, VITS, CC-BY-NC-4.0: non-commercial) and then **converted** to the reference voice with
  kNN-VC (WavLM-Large layer 6 features, k=4 nearest reference frames, kNN-VC's HiFi-GAN; see `pipelines.knn_vc`).
- Voice conversion (task ``voice-conversion``) is that last step alone; it works for any language, and improves with
  more reference audio (minutes rather than seconds).

Cloning a voice needs the consent of the person it belongs to. Quality is modest: Pocket TTS is a 100M model, and
kNN-VC with a 3-30 s reference is at the weak end of what it was designed for (its WavLM and vocoder saw English only).

>>> from pipelines import load
>>> vc = load("voice-cloning")                                        # eustlb/pocket-tts (+ Polish parts on demand)
>>> out = vc("Hello, this is my voice.", reference="me.wav", language="en")
>>> out = vc("Dzień dobry, to jest mój głos.", reference="me.wav", language="pl")
>>> out.save("hello.wav"); out.sample_rate, out.licence
>>> conv = load("voice-conversion")                                   # microsoft/wavlm-large + kNN-VC vocoder
>>> conv("speech.wav", reference="me.wav").save("converted.wav")
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.audio import AudioResult, Progress, percent_progress, read_audio, trim_silence
from pipelines.base import (
    Pipeline,
    ProgressCallback,
    is_local_path,
    resolve_device,
    resolve_dtype,
    translating_load_errors,
)
from pipelines.errors import InputError, ModelLoadError

logger = logging.getLogger(__name__)

POCKET_MODEL = "eustlb/pocket-tts"
POCKET_LANGUAGES = ("en", "fr", "de", "it", "es", "pt")
MMS_MODELS = {"pl": "facebook/mms-tts-pol"}  # language -> MMS-TTS (VITS) checkpoint
CONVERSION_MODEL = "microsoft/wavlm-large"

REFERENCE_SECONDS = (3.0, 30.0)  # speech in the cloning reference, after leading/trailing silence is trimmed
CONVERSION_REFERENCE_SECONDS = (3.0, 600.0)  # conversion improves with more reference audio
SOURCE_SECONDS = (0.3, 300.0)
MAX_RAW_REFERENCE_SECONDS = 120.0
MAX_TEXT_CHARS = 2000
VITS_CHUNK_CHARS = 400

TINY_LICENCE = "none: tiny random weights, the output is noise"


def _registry_info(task: str, model_id: str):
    from pipelines import TASKS

    return TASKS[task].model_info(model_id)


def _licence(task: str, model_id: str, fallback: str) -> tuple[str, bool]:
    from pipelines.tiny import is_tiny_path

    if is_tiny_path(model_id):
        return TINY_LICENCE, True
    info = _registry_info(task, model_id)
    return (info.licence, info.commercial_use) if info else (fallback, True)


def _check_progress(progress: Any) -> None:
    if progress is not None and not callable(progress):
        raise InputError("progress", progress, "a callable progress(step, total, info) or None")


def _stage(progress: Progress | None, start: float, end: float) -> Progress | None:
    """A progress callback mapping [0, 1] onto [start, end] of the caller's."""
    if progress is None:
        return None
    return lambda fraction, info: progress(start + (end - start) * fraction, info)


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
        """The matching set: WavLM features ``(frames, D)`` of the reference clip, silence trimmed at both ends."""
        from pipelines import knn_vc

        clip = read_audio(reference, reference_sample_rate, target_rate=knn_vc.SAMPLE_RATE, channels=1,
                          min_seconds=min(min_seconds, 0.1), max_seconds=max(max_seconds, MAX_RAW_REFERENCE_SECONDS),
                          argument="reference", rate_argument="reference_sample_rate")
        trimmed = trim_silence(clip.audio[0], clip.sample_rate)
        seconds = len(trimmed) / clip.sample_rate
        if not min_seconds <= seconds <= max_seconds:
            raise InputError("reference", f"a clip with {seconds:.2f} s of sound (silence trimmed)",
                             f"between {min_seconds:g} and {max_seconds:g} seconds of speech")
        import torch

        return knn_vc.wavlm_features(self.wavlm, torch.from_numpy(np.ascontiguousarray(trimmed)))

    def __call__(self, speech: Any, reference: Any = None, sample_rate: int | None = None,
                 reference_sample_rate: int | None = None, k: int = 4, match_loudness: bool = True,
                 progress: ProgressCallback | None = None) -> AudioResult:
        """Convert `speech` to the voice of `reference`.

        Args:
            speech: the speech to convert: a path, an array ``(channels, samples)`` / ``(samples,)`` or a Gradio
                ``(sample_rate, array)`` tuple; 0.3 s to 5 min.
            reference: the target voice, same forms; 3 s to 10 min of speech after trimming silence (more is better).
                A features tensor from `reference_features` is accepted too (reuse it across calls).
            sample_rate, reference_sample_rate (`int`, *optional*): the rates of array inputs.
            k (`int`, defaults to 4): neighbours averaged per frame.
            match_loudness (`bool`, defaults to True): scale the output to the RMS level of `speech`.
            progress (*optional*): ``progress(step, total, info)``, in percent (``total`` = 100).

        Returns:
            `AudioResult`: float32 mono audio at 16 kHz, as long as `speech`.
        """
        import torch

        from pipelines import knn_vc

        if reference is None:
            raise InputError("reference", reference, "the target voice: a path, an array or a (sample_rate, array) "
                                                     "tuple")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 64:
            raise InputError("k", k, "an integer between 1 and 64")
        _check_progress(progress)
        progress = percent_progress(progress)
        source = read_audio(speech, sample_rate, target_rate=knn_vc.SAMPLE_RATE, channels=1,
                            min_seconds=SOURCE_SECONDS[0], max_seconds=SOURCE_SECONDS[1], argument="speech")
        if isinstance(reference, torch.Tensor) and reference.ndim == 2 \
                and reference.shape[1] == self.wavlm.config.hidden_size:
            pool = reference
        else:
            if progress:
                progress(0.0, "reading the reference voice")
            pool = self.reference_features(reference, reference_sample_rate)
        return self._convert(source.audio[0], pool, k, match_loudness, progress)

    def _convert(self, speech, pool, k: int = 4, match_loudness: bool = True,
                 progress: Progress | None = None) -> AudioResult:
        """Convert validated mono 16 kHz `speech` (1-D float32 array) with the matching set `pool`."""
        import torch

        from pipelines import knn_vc

        if progress:
            progress(0.3, "reading the speech")
        wav = torch.from_numpy(np.ascontiguousarray(speech, dtype=np.float32))
        query = knn_vc.wavlm_features(self.wavlm, wav)
        if progress:
            progress(0.6, "matching frames")
        matched = knn_vc.knn_match(query, pool.to(query.device), k=k)
        if progress:
            progress(0.7, "vocoding")
        out = self.vocoder(matched).float().cpu().numpy()[: wav.shape[0]]
        if match_loudness:
            out = _match_rms(out, speech)
        if progress:
            progress(1.0, "done")
        licence, commercial = _licence(self.task, self.model_id, "see the WavLM model card; kNN-VC vocoder: mit")
        return AudioResult(np.ascontiguousarray(out, dtype=np.float32), self.sample_rate, licence=licence,
                           model=self.model_id, commercial_use=commercial)


def _match_rms(audio: np.ndarray, like: np.ndarray) -> np.ndarray:
    rms, target = float(np.sqrt(np.mean(audio ** 2))), float(np.sqrt(np.mean(like ** 2)))
    if rms < 1e-8:
        return audio
    return np.clip(audio * (target / rms), -1.0, 1.0)


# ------------------------------------------------------------------------------------------------------------------
# voice cloning


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
                # the codec may live in its own repo, or in an ``audio_tokenizer/`` subfolder (mmhub's tiny bundle)
                source, sub = (audio_tokenizer, "") if audio_tokenizer else (model_id, "audio_tokenizer")
                self.processor.audio_tokenizer = PocketTTSAudioTokenizerModel.from_pretrained(
                    source, subfolder=sub, dtype=dtype, **options)
            self.processor.audio_tokenizer.to(device).eval()
        self.model.to(device).eval()
        self.model.generation_config.return_dict_in_generate = True
        self.sample_rate = int(self.processor.feature_extractor.sampling_rate)

    def _prompt(self, text: str) -> str:
        """The prompt: the checkpoint's chat template, else the layout `PocketTTSProcessor` documents
        (voice BOS, voice placeholder, text, first audio position)."""
        if self.processor.chat_template:
            conversation = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": text}]}]
            return self.processor.apply_chat_template(conversation, tokenize=False)
        tok = self.processor.tokenizer
        voice_bos = getattr(tok, "audio_prompt_bos_token", None) or ""
        return f"{voice_bos}{tok.audio_prompt_token}{text}{tok.audio_bos_token}"

    def __call__(self, text: str, reference: np.ndarray, seed: int | None, progress: Progress | None,
                 max_new_tokens: int | None = None) -> np.ndarray:
        import torch

        chunks = self.processor.split_text(text) or [text]
        voice, pieces = None, []
        for i, chunk in enumerate(chunks):
            prompt = self._prompt(chunk)
            if voice is None:
                inputs = self.processor(text=[prompt], audio=[reference], return_tensors="pt",
                                        audio_kwargs={"sampling_rate": self.sample_rate})
                voice = inputs["audio_prompt_latents"][0][inputs["audio_prompt_latents_mask"][0].bool()]
            else:
                inputs = self.processor(text=[prompt], audio_prompt_latents=[voice], return_tensors="pt")
            inputs = inputs.to(self.model.device)
            if seed is not None:
                torch.manual_seed(seed + i)
            with torch.inference_mode():
                out = self.model.generate(**inputs, max_new_tokens=max_new_tokens)
            pieces.append(self.processor.decode(out.audio_latents, out.audio_latents_mask)[0].numpy())
            if progress:
                progress((i + 1) / len(chunks), f"speaking: {i + 1}/{len(chunks)}")
        return np.concatenate(pieces)


class _MmsTTS:
    """MMS-TTS (VITS) through `VitsModel` and its tokenizer; long texts are spoken sentence group by group."""

    def __init__(self, model_id: str, device: Any, dtype: Any, **options: Any):
        from transformers import AutoTokenizer, VitsModel

        self.model_id = model_id
        with translating_load_errors(model_id, "voice-cloning"):
            self.model = VitsModel.from_pretrained(model_id, dtype=dtype, **options)
            self.tokenizer = AutoTokenizer.from_pretrained(model_id, **options)
        self.model.to(device).eval()
        self.sample_rate = int(self.model.config.sampling_rate)

    def __call__(self, text: str, seed: int | None, progress: Progress | None) -> np.ndarray:
        import torch

        chunks = _sentence_groups(text, VITS_CHUNK_CHARS)
        pieces = []
        for i, chunk in enumerate(chunks):
            inputs = self.tokenizer(chunk, return_tensors="pt")
            if inputs["input_ids"].shape[-1] <= 1:
                continue
            if seed is not None:
                torch.manual_seed(seed + i)
            with torch.inference_mode():
                waveform = self.model(**inputs.to(self.model.device)).waveform[0]
            pieces.append(waveform.float().cpu().numpy())
            if progress:
                progress((i + 1) / len(chunks), f"speaking: {i + 1}/{len(chunks)}")
        if not pieces:
            raise InputError("text", text, f"text with letters {self.model_id} can speak")
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


class VoiceCloningPipeline(Pipeline):
    """Speech from text, in the voice of a 3-30 s reference clip: Pocket TTS (en/fr/de/it/es/pt) or MMS-TTS + kNN-VC
    (pl).

    The model given to `from_pretrained` is loaded at once; the other language family is loaded on its first use.

    Example:

    >>> vc = VoiceCloningPipeline.from_pretrained("eustlb/pocket-tts")
    >>> out = vc("Good morning!", reference="voice.wav", language="en")    # 24 kHz
    >>> out = vc("Dzień dobry!", reference="voice.wav", language="pl")     # 16 kHz; loads MMS-TTS + kNN-VC first
    """

    task = "voice-cloning"

    def __init__(self, model_id: str, device: Any, dtype: Any, parts: dict[str, str], options: dict[str, Any]):
        super().__init__(model_id, device, dtype)
        self.parts = parts  # role -> model id or folder: "pocket", "mms:<lang>", "conversion"
        self.options = options
        self._loaded: dict[str, Any] = {}

    @classmethod
    def from_pretrained(cls, model: str = POCKET_MODEL, *, device: Any = None, dtype: Any = None,
                        polish_model: str | None = None, conversion_model: str | None = None,
                        vocoder: str | None = None, audio_tokenizer: str | None = None,
                        **options: Any) -> VoiceCloningPipeline:
        """Load a cloning model.

        Args:
            model (`str`): a Pocket TTS checkpoint (default ``eustlb/pocket-tts``), an MMS-TTS (VITS) checkpoint such
                as ``facebook/mms-tts-pol``, or a folder holding ``pocket/``, ``mms-tts-pol/`` and
                ``voice-conversion/`` (the ``tiny`` bundle).
            polish_model (`str`, *optional*): the Polish TTS, default ``facebook/mms-tts-pol``.
            conversion_model (`str`, *optional*): the WavLM of the conversion step, default ``microsoft/wavlm-large``.
            vocoder (`str`, *optional*): the kNN-VC vocoder (see `VoiceConversionPipeline.from_pretrained`).
            audio_tokenizer (`str`, *optional*): Pocket TTS's codec, when it is not in the processor's config.
            options: passed to each ``from_pretrained`` (e.g. ``revision``).
        """
        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
        parts = {"pocket": POCKET_MODEL, "mms:pl": MMS_MODELS["pl"], "conversion": CONVERSION_MODEL}
        folder = Path(model).expanduser()
        primary = None
        if is_local_path(model) and (folder / "pocket").is_dir():
            parts = {"pocket": str(folder / "pocket"), "mms:pl": str(folder / "mms-tts-pol"),
                     "conversion": str(folder / "voice-conversion")}
            primary = "pocket"
        else:
            from transformers import AutoConfig

            with translating_load_errors(model, cls.task):
                model_type = AutoConfig.from_pretrained(model, **options).model_type
            if model_type == "pocket_tts":
                parts["pocket"], primary = model, "pocket"
            elif model_type == "vits":
                parts["mms:pl"], primary = model, "mms:pl"
            else:
                raise ModelLoadError(model, "wrong_task", f"it is a {model_type!r} model; voice cloning takes a "
                                                          "Pocket TTS or an MMS-TTS (VITS) checkpoint.")
        if polish_model:
            parts["mms:pl"] = polish_model
        if conversion_model:
            parts["conversion"] = conversion_model
        pipe = cls(model, device, dtype, parts, {"vocoder": vocoder, "audio_tokenizer": audio_tokenizer, **options})
        pipe._part(primary)
        if primary != "pocket":
            pipe._part("conversion")
        return pipe

    @property
    def languages(self) -> tuple[str, ...]:
        return POCKET_LANGUAGES + tuple(MMS_MODELS)

    def _part(self, role: str) -> Any:
        if role not in self._loaded:
            options = {k: v for k, v in self.options.items() if k not in ("vocoder", "audio_tokenizer")}
            model_id = self.parts[role]
            logger.info("loading %s for voice cloning (%s)", model_id, role)
            if role == "pocket":
                self._loaded[role] = _PocketTTS(model_id, self.device, self.dtype,
                                                audio_tokenizer=self.options.get("audio_tokenizer"), **options)
            elif role.startswith("mms:"):
                self._loaded[role] = _MmsTTS(model_id, self.device, self.dtype, **options)
            else:
                self._loaded[role] = VoiceConversionPipeline.from_pretrained(
                    model_id, device=self.device, dtype=self.dtype, vocoder=self.options.get("vocoder"), **options)
        return self._loaded[role]

    def __call__(self, text: str, reference: Any = None, reference_sample_rate: int | None = None,
                 language: str = "en", seed: int | None = None, max_new_tokens: int | None = None,
                 progress: ProgressCallback | None = None) -> AudioResult:
        """Speak `text` in the voice of `reference`.

        Args:
            text (`str`): what to say (at most 2000 characters; long texts are spoken in sentence-sized chunks).
            reference: the voice, 3-30 s of speech (silence at both ends is trimmed first): a path, an array
                ``(channels, samples)`` / ``(samples,)`` or a Gradio ``(sample_rate, array)`` tuple. Any rate; mono
                or stereo (mixed down).
            reference_sample_rate (`int`, *optional*): the rate of an array `reference`.
            language (`str`, defaults to ``"en"``): ``en``, ``fr``, ``de``, ``it``, ``es``, ``pt`` (Pocket TTS) or
                ``pl`` (MMS-TTS + kNN-VC).
            seed (`int`, *optional*): for repeatable output.
            max_new_tokens (`int`, *optional*): Pocket TTS only: at most this many audio frames per text chunk
                (12.5 frames = 1 s); default the model's own budget, ``(text tokens / 3 + 2) * 12.5``.
            progress (*optional*): ``progress(step, total, info)``, in percent (``total`` = 100).

        Returns:
            `AudioResult`: float32 mono audio (24 kHz from Pocket TTS, 16 kHz for Polish) and the licence of the
            weights that made it.
        """
        if not isinstance(text, str) or not text.strip():
            raise InputError("text", text, "a non-empty string")
        if len(text) > MAX_TEXT_CHARS:
            raise InputError("text", f"a text of {len(text)} characters", f"at most {MAX_TEXT_CHARS} characters",
                             "Split it and call once per part.")
        lang = language.strip().lower() if isinstance(language, str) else language
        if lang not in self.languages:
            raise InputError("language", language, f"one of {list(self.languages)}")
        if reference is None:
            raise InputError("reference", reference, "a 3-30 s clip of the voice to clone")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise InputError("seed", seed, "an integer or None")
        if max_new_tokens is not None and (isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int)
                                           or max_new_tokens < 1):
            raise InputError("max_new_tokens", max_new_tokens, "an integer >= 1 (audio frames, 12.5 per second)")
        _check_progress(progress)
        progress = percent_progress(progress)
        clip = read_audio(reference, reference_sample_rate, channels=1, min_seconds=0.1,
                          max_seconds=MAX_RAW_REFERENCE_SECONDS, argument="reference",
                          rate_argument="reference_sample_rate")
        voice = trim_silence(clip.audio[0], clip.sample_rate)
        seconds = len(voice) / clip.sample_rate
        low, high = REFERENCE_SECONDS
        if not low <= seconds <= high:
            raise InputError("reference", f"a clip with {seconds:.2f} s of sound (silence trimmed)",
                             f"between {low:g} and {high:g} seconds of speech")

        if lang in POCKET_LANGUAGES:
            if progress:
                progress(0.0, "loading Pocket TTS")
            tts = self._part("pocket")
            from pipelines.audio import resample

            audio = tts(text.strip(), resample(voice, clip.sample_rate, tts.sample_rate), seed,
                        _stage(progress, 0.05, 1.0), max_new_tokens)
            rate, model_id = tts.sample_rate, tts.model_id
            licence, commercial = _licence(self.task, model_id, "see the model card (Pocket TTS weights: cc-by-4.0)")
        else:
            if progress:
                progress(0.0, "loading MMS-TTS and kNN-VC")
            tts, conversion = self._part(f"mms:{lang}"), self._part("conversion")
            from pipelines import knn_vc
            from pipelines.audio import resample

            speech = resample(tts(text.strip(), seed, _stage(progress, 0.05, 0.4)), tts.sample_rate,
                              knn_vc.SAMPLE_RATE)
            pool = conversion.reference_features(voice, clip.sample_rate, min_seconds=low, max_seconds=high)
            converted = conversion._convert(speech, pool, progress=_stage(progress, 0.45, 1.0))
            audio, rate, model_id = converted.audio, converted.sample_rate, tts.model_id
            tts_licence, commercial = _licence(self.task, model_id, "see the model card (MMS-TTS: cc-by-nc-4.0)")
            licence = tts_licence if tts_licence == TINY_LICENCE else \
                f"{tts_licence} (TTS) + {converted.licence} (WavLM, kNN-VC vocoder)"
        if progress:
            progress(1.0, "done")
        return AudioResult(np.ascontiguousarray(audio, dtype=np.float32), rate, licence=licence, model=model_id,
                           language=lang, commercial_use=commercial)
