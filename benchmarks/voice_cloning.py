"""Voice cloning and conversion at full-size geometry (random weights) on this CPU: real-time factors and overhead.

    python -m benchmarks.voice_cloning [--quick]

Real geometries, random weights (the same compute as the released models, no download):
- English: Pocket TTS at its released geometry (``PocketTTSConfig()`` defaults, ~90M LM + ~20M codec). mmhub's
  ``vc(text, reference=..., language="en")`` against the raw processor + ``generate`` + ``decode`` on the same
  inputs (target <= 1.05x). A random model seldom emits its end-of-speech frame, so generation is fixed to a number
  of frames (12.5 frames per second of audio).
- Polish (any MMS-TTS language): MMS-TTS (``VitsConfig()`` defaults, ~36M), then kNN-VC: WavLM-Large geometry cut
  after layer 6 and the kNN-VC vocoder (``Linear(1024, 512)`` + HiFi-GAN 10x8x2x2); each stage timed (including the
  upstream pre/post-processing: SoX VAD on the reference, BS.1770 loudness to -16 LUFS), and the voice-conversion
  task alone; WavLM on 60 s of speech in one pass vs in 30 s chunks with 5 s of context.
Real-time factor = compute seconds per second of audio produced (< 1 is faster than real time).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import compare, parser, print_table

TEXT_EN = "The quick brown fox jumps over the lazy dog, and then it runs far away into the forest."
TEXT_PL = "Zażółć gęślą jaźń. Ala ma kota, a kot ma Alę. Świetny produkt, polecam wszystkim."


def voice(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """A speech-like test clip: a pitch-modulated buzz with syllable-rate loudness changes."""
    t = np.arange(int(seconds * rate)) / rate
    pitch = 120 + 20 * np.sin(2 * np.pi * 0.5 * t)
    buzz = np.sign(np.sin(2 * np.pi * np.cumsum(pitch) / rate))
    noise = 0.05 * np.random.default_rng(seed).standard_normal(t.size)
    return (0.2 * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) * buzz + noise).astype(np.float32)


def build_full_geometry(folder: Path) -> None:
    """The voice-cloning bundle layout (pocket/, mms-tts/, voice-conversion/) at released sizes."""
    import torch
    from transformers import (
        PocketTTSAudioTokenizerConfig,
        PocketTTSAudioTokenizerModel,
        PocketTTSConfig,
        PocketTTSFeatureExtractor,
        PocketTTSForConditionalGeneration,
        PocketTTSProcessor,
        SpeechT5HifiGan,
        VitsConfig,
        VitsModel,
        WavLMConfig,
        WavLMModel,
    )

    from pipelines import tiny
    from pipelines.knn_vc import KnnVcVocoder, hifigan_config

    torch.manual_seed(0)
    pocket = folder / "pocket"
    tok = tiny.byte_level_tokenizer(pad_token="<pad>", unk_token="<unk>", **tiny.POCKET_TOKENS)
    codec = PocketTTSAudioTokenizerConfig()
    PocketTTSAudioTokenizerModel(codec).save_pretrained(pocket / "audio_tokenizer")
    ids = {name + "_id": tok.convert_tokens_to_ids(token) for name, token in tiny.POCKET_TOKENS.items()}
    model = PocketTTSForConditionalGeneration(PocketTTSConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id,
                                                              **ids))
    model.generation_config.return_dict_in_generate = True
    model.save_pretrained(pocket)
    extractor = PocketTTSFeatureExtractor(frame_size=codec.frame_size, pad_to_multiple_of=codec.frame_size)
    PocketTTSProcessor(extractor, tok, chat_template=tiny.POCKET_CHAT_TEMPLATE).save_pretrained(pocket)

    mms = folder / "mms-tts"
    mms.mkdir()
    tiny._tiny_vits(mms)  # tokenizer + tiny model, then the model replaced by the default (MMS) geometry
    VitsModel(VitsConfig(vocab_size=len(tiny.VITS_CHARS) + 2, sampling_rate=16000)).save_pretrained(mms)

    conv = folder / "voice-conversion"
    large = WavLMConfig(hidden_size=1024, num_hidden_layers=6, num_attention_heads=16, intermediate_size=4096,
                        conv_bias=False, feat_extract_norm="layer", do_stable_layer_norm=True)
    WavLMModel(large).save_pretrained(conv)  # WavLM-Large's first 6 layers: all kNN-VC computes
    hifigan = SpeechT5HifiGan(hifigan_config())
    for module in hifigan.modules():
        if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            module.reset_parameters()
    KnnVcVocoder(torch.nn.Linear(1024, 512), hifigan).save_pretrained(conv / "vocoder")


def english(folder: Path, reference: np.ndarray, frames: int, repeat: int, device: str = "cpu") -> None:
    import torch

    from pipelines import load

    vc = load("voice-cloning", model=str(folder), device=device)
    tts = vc._pocket_tts()
    tts.model.generation_config.eos_threshold = 1e9  # never stop early: a fixed amount of audio to time
    conversation = [{"role": "user", "content": [{"type": "audio", "audio": reference},
                                                 {"type": "text", "text": TEXT_EN}]}]

    def raw():
        inputs = tts.processor.apply_chat_template(conversation, tokenize=True, return_dict=True,
                                                   return_tensors="pt", processor_kwargs={"sampling_rate": 24000})
        inputs = inputs.to(tts.model.device)
        torch.manual_seed(0)
        with torch.inference_mode():
            out = tts.model.generate(**inputs, max_new_tokens=frames)
        return tts.processor.decode(out.audio_latents, out.audio_latents_mask)

    assert len(tts.processor.split_text(TEXT_EN)) == 1  # one generate call on both sides

    def ours():
        return vc(TEXT_EN, reference=reference, reference_sample_rate=24000, language="en", seed=0,
                  max_new_tokens=frames)

    seconds = ours().seconds
    rows = compare({"raw processor + generate + decode": raw, "mmhub vc(text, reference, language='en')": ours},
                   repeat=repeat)
    n = sum(p.numel() for p in tts.model.parameters())
    n += sum(p.numel() for p in tts.processor.audio_tokenizer.parameters())
    print_table(f"English: Pocket TTS geometry ({n / 1e6:.0f}M params), {seconds:.1f} s of speech, "
                f"{len(reference) / 24000:.0f} s reference", rows, baseline="raw processor + generate + decode")
    (_, raw_s), (_, ours_s) = rows
    print(f"  overhead: {ours_s / raw_s:.3f}x (target <= 1.05x); real-time factor {ours_s / seconds:.2f}")


def polish(folder: Path, reference: np.ndarray, repeat: int, device: str = "cpu") -> None:
    import torch

    from pipelines import knn_vc, load
    from pipelines.audio import resample
    from pipelines.voice_cloning import _Progress
    from pipelines.voice_dsp import normalize_loudness, vad_trim

    vc = load("voice-cloning", model=str(folder), device=device)
    tts, conv = vc._mms_tts("pol"), vc._conversion_pipeline()
    speech = resample(tts(TEXT_PL, 0, _Progress(None)), tts.sample_rate, knn_vc.SAMPLE_RATE)
    seconds = len(speech) / knn_vc.SAMPLE_RATE
    pool = conv.reference_features(reference, 16000)
    vocoded = conv._convert(speech, pool, target_loudness=None).audio
    rows = compare({
        "MMS-TTS (VITS) text -> speech": lambda: tts(TEXT_PL, 0, _Progress(None)),
        "SoX VAD at both ends of the reference": lambda: vad_trim(reference, 16000),
        "WavLM layer-6 features of the reference": lambda: conv.reference_features(reference, 16000),
        "kNN-VC conversion (features+match+vocoder)": lambda: conv._convert(speech, pool, target_loudness=None),
        "BS.1770 loudness + gain to -16 LUFS": lambda: normalize_loudness(vocoded, 16000),
        "mmhub vc(text, reference, language='pl')":
            lambda: vc(TEXT_PL, reference=reference, reference_sample_rate=16000, language="pl", seed=0),
    }, repeat=repeat)
    print_table(f"Polish: MMS-TTS + kNN-VC geometry, {seconds:.1f} s of speech, {len(reference) / 16000:.0f} s "
                "reference", rows)
    total = dict(rows)["mmhub vc(text, reference, language='pl')"]
    print(f"  real-time factor {total / seconds:.2f} (whole Polish path); conversion alone "
          f"{dict(rows)['kNN-VC conversion (features+match+vocoder)'] / seconds:.2f}")
    source = voice(10.0, 16000, seed=5)
    start = time.perf_counter()
    conv(source, reference=reference, sample_rate=16000, reference_sample_rate=16000)
    took = time.perf_counter() - start
    print(f"  voice-conversion task alone, 10 s of speech: {took:.2f} s -> {took / 10:.2f}x real time")
    long = torch.from_numpy(voice(60.0, 16000, seed=6))
    rows = compare({
        "one pass": lambda: knn_vc.wavlm_features(conv.wavlm, long, chunk_seconds=120),
        "30 s chunks + 5 s context": lambda: knn_vc.wavlm_features(conv.wavlm, long),
        "30 s chunks, no context": lambda: knn_vc.wavlm_features(conv.wavlm, long, context_seconds=0),
    }, repeat=1)
    print_table("WavLM-Large (6 layers) on 60 s of speech", rows, baseline="one pass")


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    repeat = 1 if args.quick else 3
    print("(timings on a shared CPU are provisional)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        build_full_geometry(folder)
        english(folder, voice(6.0 if args.quick else 10.0, 24000), 25 if args.quick else 63, repeat)  # 2 s / 5 s
        polish(folder, voice(6.0 if args.quick else 10.0, 16000), repeat)


if __name__ == "__main__":
    main()
