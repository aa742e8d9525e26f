"""Voice cloning and conversion on tiny models: routes, upstream kNN-VC framing and loudness, exact vocoder
conversion, load-time detection of a Pocket TTS without cloning, parity with the raw Pocket TTS model."""

import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pipelines import knn_vc, load
from pipelines.errors import Cancelled, InputError, ModelLoadError
from pipelines.voice_dsp import loudness


def noise(seconds, rate, seed=0, channels=None):
    shape = (int(seconds * rate),) if channels is None else (channels, int(seconds * rate))
    return (0.1 * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def voice(seconds, rate, seed=0, channels=None):
    """Speech-like test audio (a pitch-modulated buzz with syllable-rate loudness): SoX's VAD triggers on it, as on
    speech, and not on white noise."""
    t = np.arange(int(seconds * rate)) / rate
    pitch = 120 + 20 * np.sin(2 * np.pi * 0.5 * t) + 10 * seed
    buzz = np.sign(np.sin(2 * np.pi * np.cumsum(pitch) / rate))
    wav = 0.2 * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) * buzz
    wav = wav + 0.05 * np.random.default_rng(seed).standard_normal(t.size)
    return (wav if channels is None else np.stack([wav] * channels)).astype(np.float32)


# ------------------------------------------------------------------------------------------------------------------
# kNN matching


def test_knn_match_hand_made():
    pool = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.8, 0.3], [0.7, 0.7], [0.0, 1.0], [-1.0, 0.0]])
    query = torch.tensor([[2.0, 0.0], [0.0, 5.0]])
    out = knn_vc.knn_match(query, pool, k=4)
    # cosine order from (1, 0): rows 0, 1, 2, 3; from (0, 1): rows 4, 3, 2, 1
    torch.testing.assert_close(out[0], pool[[0, 1, 2, 3]].mean(0))
    torch.testing.assert_close(out[1], pool[[4, 3, 2, 1]].mean(0))
    # the magnitude of a frame does not matter (cosine), and k=1 returns the nearest frame itself
    torch.testing.assert_close(knn_vc.knn_match(query * 100, pool, k=1), pool[[0, 4]])


def test_knn_match_brute_force_and_chunking():
    gen = torch.Generator().manual_seed(0)
    query, pool = torch.randn(37, 16, generator=gen), torch.randn(50, 16, generator=gen)
    cosine = F.cosine_similarity(query[:, None], pool[None], dim=-1)
    expected = torch.stack([pool[row.argsort(descending=True)[:4]].mean(0) for row in cosine])
    torch.testing.assert_close(knn_vc.knn_match(query, pool, k=4), expected)
    torch.testing.assert_close(knn_vc.knn_match(query, pool, k=4, chunk_size=5), expected)


# ------------------------------------------------------------------------------------------------------------------
# vocoder conversion: an original-layout kNN-VC generator (weight-normed HiFi-GAN after lin_pre), random weights

H = dict(upsample_rates=[10, 8, 2, 2], upsample_kernel_sizes=[20, 16, 4, 4], upsample_initial_channel=32,
         resblock_kernel_sizes=[3, 7], resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]], hubert_dim=32, hifi_dim=16)


class OriginalResBlock1(nn.Module):
    def __init__(self, norm, channels, kernel, dilations):
        super().__init__()
        self.convs1 = nn.ModuleList(norm(nn.Conv1d(channels, channels, kernel, 1, dilation=d,
                                                   padding=(kernel * d - d) // 2)) for d in dilations)
        self.convs2 = nn.ModuleList(norm(nn.Conv1d(channels, channels, kernel, 1, padding=(kernel - 1) // 2))
                                    for _ in dilations)

    def forward(self, x):
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = c2(F.leaky_relu(c1(F.leaky_relu(x, 0.1)), 0.1)) + x
        return x


class OriginalGenerator(nn.Module):
    """The layout of bshall/knn-vc ``hifigan/models.py`` ``Generator`` (re-typed here from its description)."""

    def __init__(self, norm, h):
        super().__init__()
        ch = h["upsample_initial_channel"]
        self.lin_pre = nn.Linear(h["hubert_dim"], h["hifi_dim"])
        self.conv_pre = norm(nn.Conv1d(h["hifi_dim"], ch, 7, 1, padding=3))
        stages = enumerate(zip(h["upsample_rates"], h["upsample_kernel_sizes"], strict=True))
        self.ups = nn.ModuleList(norm(nn.ConvTranspose1d(ch // 2 ** i, ch // 2 ** (i + 1), k, u, padding=(k - u) // 2))
                                 for i, (u, k) in stages)
        self.resblocks = nn.ModuleList(OriginalResBlock1(norm, ch // 2 ** (i + 1), k, d) for i in range(len(self.ups))
                                       for k, d in zip(h["resblock_kernel_sizes"], h["resblock_dilation_sizes"],
                                                       strict=True))
        self.conv_post = norm(nn.Conv1d(ch // 2 ** len(self.ups), 1, 7, 1, padding=3))
        self.kernels = len(h["resblock_kernel_sizes"])

    def forward(self, x):
        x = self.conv_pre(self.lin_pre(x).permute(0, 2, 1))
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, 0.1))
            x = sum(self.resblocks[i * self.kernels + j](x) for j in range(self.kernels)) / self.kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


@pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated:FutureWarning")
@pytest.mark.parametrize("norm", [nn.utils.weight_norm, nn.utils.parametrizations.weight_norm],
                         ids=["weight_g_v", "parametrizations"])
def test_vocoder_conversion_is_exact(tmp_path, monkeypatch, norm):
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    original = OriginalGenerator(norm, H).eval()
    with torch.no_grad():  # make the weight-norm gains matter
        for name, p in original.named_parameters():
            if name.endswith(("weight_g", "original0")):
                p.uniform_(0.5, 1.5)
    checkpoint = tmp_path / "prematch_g_test.pt"
    torch.save({"generator": original.state_dict(), "steps": 1}, checkpoint)
    vocoder = knn_vc.load_vocoder(str(checkpoint), expected_sha256=knn_vc.sha256_of(checkpoint))
    features = torch.randn(1, 20, 32)
    with torch.no_grad():
        expected = original(features)[:, 0]
    converted = vocoder(features)
    assert converted.shape == expected.shape == (1, 20 * 320)
    assert (converted - expected).abs().max().item() <= 1e-6
    assert vocoder.sample_rate == 16000
    cached = list((tmp_path / "cache" / "knn-vc").glob("converted-*/lin_pre.safetensors"))
    assert len(cached) == 1  # converted once, as safetensors


@pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated:FutureWarning")
def test_vocoder_checksum_and_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("MMHUB_CACHE", str(tmp_path))
    checkpoint = tmp_path / "g.pt"
    torch.save({"generator": OriginalGenerator(nn.utils.weight_norm, H).state_dict()}, checkpoint)
    with pytest.raises(ModelLoadError, match="SHA-256") as info:
        knn_vc.convert_checkpoint(checkpoint, tmp_path / "out", expected_sha256="0" * 64)
    assert info.value.reason == "incompatible"
    torch.save({"generator": {"conv_pre.weight": torch.zeros(1)}}, tmp_path / "other.pt")
    with pytest.raises(ModelLoadError, match="lin_pre"):
        knn_vc.convert_checkpoint(tmp_path / "other.pt", tmp_path / "out2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as info:  # nothing cached, offline: no download is attempted
        knn_vc.load_vocoder(None)
    assert info.value.reason == "offline" and knn_vc.VOCODER_URL in str(info.value)


# ------------------------------------------------------------------------------------------------------------------
# WavLM features: framed as kNN-VC's training features (bshall/knn-vc prematch_dataset.py), chunked with context


def _tiny_wavlm(tmp_path, layers=8, stable=True):
    from transformers import WavLMConfig, WavLMModel

    torch.manual_seed(0)
    config = WavLMConfig(hidden_size=32, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=37,
                         conv_dim=(8,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                         do_stable_layer_norm=stable, feat_extract_norm="layer" if stable else "group",
                         num_buckets=32, max_bucket_distance=64)
    WavLMModel(config).save_pretrained(tmp_path)
    return WavLMModel.from_pretrained(tmp_path).eval()


@pytest.mark.parametrize("stable", [True, False], ids=["pre-norm (large)", "post-norm (base)"])
def test_wavlm_features_are_upstream_hidden_state_6_of_the_padded_clip(tmp_path, stable):
    full = _tiny_wavlm(tmp_path, stable=stable)
    cut = knn_vc.load_wavlm(str(tmp_path), layer=6)
    assert len(cut.encoder.layers) == 6
    for length in (16000, 16100, 16399):  # len % 320 = 0, 100, 79
        wav = torch.from_numpy(voice(length / 16000, 16000))
        # prematch_dataset.py get_full_features: n_pad = 320 - len % 320; F.pad(x, (0, n_pad)); all WavLM layers
        padded = F.pad(wav, (0, 320 - length % 320))
        with torch.no_grad():
            expected = full(padded[None], output_hidden_states=True).hidden_states[6][0]
        features = knn_vc.wavlm_features(cut, wav)
        assert features.shape == expected.shape == (length // 320, 32) == (knn_vc.frame_count(length), 32)
        torch.testing.assert_close(features, expected)


def test_frame_count_is_one_per_320_samples_as_upstream():
    # bshall/knn-vc: one WavLM frame (and 320 vocoded samples) per 320 samples of the padded clip
    assert [knn_vc.frame_count(n) for n in (319, 320, 639, 640, 16000, 16079, 16080)] == [0, 1, 1, 2, 50, 50, 50]


def test_chunked_features_match_a_single_pass_near_chunk_boundaries(tmp_path):
    _tiny_wavlm(tmp_path)
    wavlm = knn_vc.load_wavlm(str(tmp_path), layer=6)
    wav = torch.from_numpy(voice(8.0, 16000))
    single = knn_vc.wavlm_features(wavlm, wav, chunk_seconds=60)
    chunked = knn_vc.wavlm_features(wavlm, wav, chunk_seconds=2.0, context_seconds=1.0)
    blind = knn_vc.wavlm_features(wavlm, wav, chunk_seconds=2.0, context_seconds=0.0)
    assert single.shape == chunked.shape == blind.shape == (400, 32)
    scale = single.abs().mean().item()
    assert (chunked - single).abs().max().item() < 0.03 * scale  # measured: ~0.009 of the mean magnitude
    assert (blind - single).abs().max().item() > 10 * (chunked - single).abs().max().item()  # the context matters
    torch.testing.assert_close(knn_vc.wavlm_features(wavlm, wav[:8000], chunk_seconds=60),
                               knn_vc.wavlm_features(wavlm, wav[:8000]))  # short audio: one pass, exactly


# ------------------------------------------------------------------------------------------------------------------
# voice conversion pipeline


@pytest.fixture(scope="module")
def conv():
    return load("voice-conversion", model="tiny")


def test_conversion_frames_loudness_and_reusable_reference(conv):
    speech, reference = voice(1.31, 16000, seed=1), voice(4.0, 22050, seed=2, channels=2)
    out = conv(speech, reference=reference, sample_rate=16000, reference_sample_rate=22050)
    assert out.audio.dtype == np.float32 and out.sample_rate == 16000
    assert out.audio.shape == (len(speech) // 320 * 320,)  # one 320-sample hop per WavLM frame, as upstream
    assert loudness(out.audio, 16000) == pytest.approx(-16.0, abs=0.1)  # matcher.py: tgt_loudness_db=-16
    assert out.route == "knn-vc" and out.conversion_model == conv.model_id
    pool = conv.reference_features(reference, 22050)
    again = conv(speech, reference=pool, sample_rate=16000)
    np.testing.assert_array_equal(out.audio, again.audio)
    quiet = conv(speech, reference=pool, sample_rate=16000, target_loudness=-30.0)
    assert loudness(quiet.audio, 16000) == pytest.approx(-30.0, abs=0.1)
    raw = conv(speech, reference=pool, sample_rate=16000, target_loudness=None)
    assert loudness(raw.audio, 16000) < -40  # the tiny vocoder's own level


def test_conversion_reference_is_trimmed_by_the_vad(conv):
    rate = 16000
    padded = np.concatenate([np.zeros(2 * rate, np.float32), voice(4.0, rate), np.zeros(2 * rate, np.float32)])
    frames = conv.reference_features(padded, rate).shape[0]
    assert 3.0 * 50 <= frames <= 4.2 * 50  # about the 4 s of "speech", not the 8 s clip
    with pytest.raises(InputError, match="no speech was detected") as info:
        conv.reference_features(noise(5.0, rate), rate)  # SoX's VAD does not trigger on white noise
    assert info.value.argument == "reference"


def test_conversion_progress_and_cancel(conv):
    calls = []
    conv(voice(1.0, 16000), reference=voice(4.0, 16000, 1), sample_rate=16000, reference_sample_rate=16000,
         progress=lambda step, total, info: calls.append((step, total, info["stage"])))
    assert calls[-1] == (100, 100, "done") and all(1 <= s <= t == 100 for s, t, _ in calls)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    with pytest.raises(Cancelled):
        conv(voice(1.0, 16000), reference=voice(4.0, 16000, 1), sample_rate=16000, reference_sample_rate=16000,
             progress=lambda step, total, info: False)


# ------------------------------------------------------------------------------------------------------------------
# voice cloning pipeline


@pytest.fixture(scope="module")
def vc():
    return load("voice-cloning", model="tiny")


def test_english_pocket_tts_matches_the_raw_model(vc):
    reference = voice(4.0, 24000, seed=3)
    text = "Hello there, how are you?"
    out = vc(text, reference=reference, reference_sample_rate=24000, language="en", seed=7)
    assert out.audio.dtype == np.float32 and out.audio.ndim == 1 and out.audio.size > 0 and out.sample_rate == 24000
    assert out.language == "en" and "noise" in out.licence
    assert out.route == "pocket-tts" and out.tts_model.endswith("pocket") and out.conversion_model is None

    tts = vc._pocket_tts()  # the same processor and model, called by hand as the transformers docs do
    content = [{"type": "audio", "audio": reference}, {"type": "text", "text": text}]
    conversation = [{"role": "user", "content": content}]
    inputs = tts.processor.apply_chat_template(conversation, tokenize=True, return_dict=True, return_tensors="pt",
                                               processor_kwargs={"sampling_rate": 24000})
    torch.manual_seed(7)
    generated = tts.model.generate(**inputs)
    expected = tts.processor.decode(generated.audio_latents, generated.audio_latents_mask)[0].numpy()
    np.testing.assert_array_equal(out.audio, expected)


@pytest.mark.parametrize("language, code", [("pl", "pol"), ("pol", "pol"), ("Polish", "pol"), ("de", "deu"),
                                            ("azj-script_latin", "azj-script_latin"), ("swh", "swh")])
def test_any_mms_language_goes_through_mms_tts_and_knn_vc(vc, language, code):
    out = vc("Zażółć gęślą jaźń. Dzień dobry!", reference=voice(4.0, 44100, seed=4, channels=2),
             reference_sample_rate=44100, language=language, seed=0)
    assert out.route == "mms-tts+knn-vc" and out.language == code and out.sample_rate == 16000
    assert out.audio.dtype == np.float32 and out.audio.ndim == 1 and out.audio.size > 0
    assert out.tts_model.endswith("mms-tts")  # the tiny bundle's one VITS stands in for every language's checkpoint
    assert vc.mms_model_id(code) == out.tts_model and out.conversion_model.endswith("voice-conversion")
    assert out.audio.size % 320 == 0 and loudness(out.audio, 16000) == pytest.approx(-16.0, abs=0.1) \
        or out.audio.size < 6400  # under one 400 ms block loudness is not measured (left as vocoded)


def test_mms_route_is_repeatable_and_reports_its_seed(vc):
    calls = []
    kwargs = dict(reference=voice(4.0, 16000, seed=5), reference_sample_rate=16000, language="pl")
    out = vc("Zażółć gęślą jaźń. Dzień dobry!", seed=3, progress=lambda s, t, i: calls.append(s / t), **kwargs)
    again = vc("Zażółć gęślą jaźń. Dzień dobry!", seed=3, **kwargs)
    np.testing.assert_array_equal(out.audio, again.audio)
    assert out.seed == 3 and calls[-1] == 1.0
    drawn = vc("Dzień dobry!", **kwargs)
    assert isinstance(drawn.seed, int) and 0 <= drawn.seed < 2**31
    payload = json.loads(out.to_json())
    assert payload["route"] == "mms-tts+knn-vc" and payload["audio"] == {"array": {"shape": [out.audio.size],
                                                                                  "dtype": "float32"}}


def test_real_ids_of_the_mms_route():
    from pipelines.voice_cloning import VoiceCloningPipeline

    pipe = VoiceCloningPipeline("eustlb/pocket-tts", "cpu", torch.float32, "eustlb/pocket-tts",
                                "facebook/mms-tts-{code}", "microsoft/wavlm-large", {})
    assert pipe.mms_model_id("pol") == "facebook/mms-tts-pol"
    assert pipe.mms_model_id("azj-script_latin") == "facebook/mms-tts-azj-script_latin"


def test_pocket_tts_without_cloning_is_detected_at_load_and_routed_through_knn_vc(caplog):
    import logging

    from pipelines import tiny

    folder = tiny.build("voice-cloning", "tiny-no-cloning")
    # shipped the way Kyutai withholds cloning: the codec config says it has no encoder, the projection is zero
    assert json.loads((folder / "pocket" / "audio_tokenizer" / "config.json").read_text())["encoder_config"] is None
    with caplog.at_level(logging.WARNING, logger="pipelines.voice_cloning"):
        pipe = load("voice-cloning", model="tiny-no-cloning")
    assert "cannot clone a voice" in caplog.text  # said at load time, not at call time
    assert pipe._conversion is not None  # and kNN-VC is loaded with it
    tts = pipe._pocket_tts()
    assert not tts.can_clone and len(tts.withheld) == 2
    out = pipe("Hello there.", reference=voice(4.0, 16000), reference_sample_rate=16000, language="en", seed=0)
    assert out.route == "pocket-tts+knn-vc" and out.tts_model == tts.model_id and out.sample_rate == 16000
    assert "encoder_config: null" in out.note and "audio_prompt_proj" in out.note
    assert out.audio.size > 0 and out.audio.size % 320 == 0
    cloning = load("voice-cloning", model="tiny")._pocket_tts()
    assert cloning.can_clone and cloning.withheld == ()


def test_cloning_loads_the_other_routes_on_demand(vc):
    folder = vc.mms_model.rsplit("/", 1)[0]
    polish = load("voice-cloning", model=f"{folder}/mms-tts", conversion_model=f"{folder}/voice-conversion")
    assert polish._pocket is None and polish.own_vits == (f"{folder}/mms-tts", None)
    out = polish("Dzień dobry.", reference=voice(4.0, 16000), reference_sample_rate=16000, language="pl")
    assert out.route == "mms-tts+knn-vc" and out.tts_model == f"{folder}/mms-tts"
    with pytest.raises(ModelLoadError) as info:  # English needs eustlb/pocket-tts: not cached, and offline
        polish("Hello.", reference=voice(4.0, 16000), reference_sample_rate=16000, language="en")
    assert info.value.reason in ("offline", "not_found")
    with pytest.raises(ModelLoadError) as info:
        load("voice-cloning", model=f"{folder}/voice-conversion")  # a WavLM is not a TTS model
    assert info.value.reason == "wrong_task"


def test_uroman_checkpoints_romanise_non_latin_text(tmp_path):
    from transformers import VitsTokenizer

    from pipelines.tiny import VITS_CHARS

    vocab = {"<pad>": 0, **{c: i + 1 for i, c in enumerate(VITS_CHARS)}}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    latin_only = VitsTokenizer(vocab_file=str(tmp_path / "vocab.json"), phonemize=False, is_uroman=False)
    romanising = VitsTokenizer(vocab_file=str(tmp_path / "vocab.json"), phonemize=False, is_uroman=True)
    assert len(latin_only("Привет мир")["input_ids"]) <= 3  # Cyrillic: nothing in a Latin vocabulary
    assert len(romanising("Привет мир")["input_ids"]) > 10  # uroman (pinned in requirements): "privet mir"


# ------------------------------------------------------------------------------------------------------------------
# hostile input: every parameter through pipelines.validate; each bad call -> InputError naming the argument, and
# the pipeline still answers a good call afterwards


def _files(tmp_path):
    import soundfile as sf

    (tmp_path / "notes.wav").write_text("this is not audio")
    (tmp_path / "empty.wav").write_bytes(b"")
    sf.write(tmp_path / "one.wav", np.array([0.5], np.float32), 16000)
    return tmp_path


RSR = "reference_sample_rate"
CLONE_BAD = [
    (dict(text=""), "text"), (dict(text="   "), "text"), (dict(text="a" * 2001), "text"),
    (dict(text="caf\udce9"), "text"), (dict(text=None), "text"), (dict(text=42), "text"),
    (dict(language="xx"), "language"), (dict(language="polsh"), "language"), (dict(language="it"), "language"),
    (dict(language=""), "language"), (dict(language=None), "language"), (dict(language="\ud800"), "language"),
    (dict(language="azj"), "language"), (dict(language=["pl"]), "language"),
    (dict(reference=None), "reference"), (dict(reference=voice(2.0, 16000)), "reference"),
    (dict(reference=voice(130.0, 16000)), "reference"), (dict(reference=np.zeros(16000 * 5, np.float32)), "reference"),
    (dict(reference=np.array([0.5], np.float32)), "reference"), (dict(reference="notes.wav"), "reference"),
    (dict(reference="empty.wav"), "reference"), (dict(reference="one.wav", reference_sample_rate=None), "reference"),
    (dict(reference="missing.wav", reference_sample_rate=None), "reference"), (dict(reference=12), "reference"),
    (dict(reference_sample_rate=None), RSR),
    (dict(reference_sample_rate=float("nan")), RSR),
    (dict(reference_sample_rate=float("inf")), RSR),
    (dict(reference_sample_rate=-16000), RSR), (dict(reference_sample_rate=True), RSR),
    (dict(reference_sample_rate="16000"), RSR), (dict(reference_sample_rate=2**70), RSR),
    (dict(seed="1"), "seed"), (dict(seed=-1), "seed"), (dict(seed=1.5), "seed"), (dict(seed=float("nan")), "seed"),
    (dict(seed=True), "seed"), (dict(seed=2**70), "seed"),
    (dict(max_new_tokens=0), "max_new_tokens"), (dict(max_new_tokens=10**9), "max_new_tokens"),
    (dict(max_new_tokens=float("nan")), "max_new_tokens"), (dict(max_new_tokens=False), "max_new_tokens"),
    (dict(k=0), "k"), (dict(k=1e300), "k"), (dict(k="4"), "k"),
    (dict(progress="yes"), "progress"), (dict(nonsense=1), "nonsense"),
]


@pytest.mark.parametrize("kwargs, argument", CLONE_BAD, ids=[f"{a}-{i}" for i, (_, a) in enumerate(CLONE_BAD)])
def test_cloning_bad_input_table(vc, tmp_path, kwargs, argument):
    folder = _files(tmp_path)
    if isinstance(kwargs.get("reference"), str):
        kwargs = kwargs | {"reference": str(folder / kwargs["reference"]), "reference_sample_rate": None}
    call = dict(text="Hello.", reference=voice(4.0, 16000), reference_sample_rate=16000, language="pl") | kwargs
    with pytest.raises(InputError) as info:
        vc(**call)
    assert info.value.argument == argument and f"`{argument}`" in str(info.value)
    good = vc("Dzień dobry.", reference=voice(4.0, 16000), reference_sample_rate=16000, language="pl", seed=0)
    assert good.audio.size > 0


CONVERT_BAD = [
    (dict(speech=None), "speech"), (dict(speech=np.zeros(16000, np.float32)), "speech"),
    (dict(speech=np.array([0.1], np.float32)), "speech"), (dict(speech=np.full(16000, np.nan, np.float32)), "speech"),
    (dict(speech="notes.wav", sample_rate=None), "speech"), (dict(speech="empty.wav", sample_rate=None), "speech"),
    (dict(speech="one.wav", sample_rate=None), "speech"), (dict(speech="hello", sample_rate=None), "speech"),
    (dict(reference=None), "reference"), (dict(reference=voice(2.0, 16000)), "reference"),
    (dict(reference=noise(5.0, 16000)), "reference"),
    (dict(reference="notes.wav", reference_sample_rate=None), "reference"),
    (dict(reference=torch.zeros(3, 7)), "reference"), (dict(reference=torch.full((4, 32), float("nan"))), "reference"),
    (dict(sample_rate=float("nan")), "sample_rate"), (dict(sample_rate=0), "sample_rate"),
    (dict(sample_rate=None), "sample_rate"), (dict(reference_sample_rate=1e300), RSR),
    (dict(k=0), "k"), (dict(k=65), "k"), (dict(k=4.0), "k"), (dict(k=None), "k"),
    (dict(target_loudness=float("nan")), "target_loudness"), (dict(target_loudness=float("-inf")), "target_loudness"),
    (dict(target_loudness=5.0), "target_loudness"), (dict(target_loudness="-16"), "target_loudness"),
    (dict(target_loudness=True), "target_loudness"), (dict(progress=3), "progress"),
]


@pytest.mark.parametrize("kwargs, argument", CONVERT_BAD, ids=[f"{a}-{i}" for i, (_, a) in enumerate(CONVERT_BAD)])
def test_conversion_bad_input_table(conv, tmp_path, kwargs, argument):
    folder = _files(tmp_path)
    kwargs = {k: str(folder / v) if isinstance(v, str) and v.endswith(".wav") else v for k, v in kwargs.items()}
    call = dict(speech=voice(1.0, 16000), reference=voice(4.0, 16000, 1), sample_rate=16000,
                reference_sample_rate=16000) | kwargs
    with pytest.raises(InputError) as info:
        conv(**call)
    assert info.value.argument == argument and f"`{argument}`" in str(info.value)
    good = conv(voice(1.0, 16000), reference=voice(4.0, 16000, 1), sample_rate=16000, reference_sample_rate=16000)
    assert good.audio.size == 16000 // 320 * 320


@pytest.mark.slow
def test_real_voice_cloning_english():
    vc = load("voice-cloning")
    reference = voice(5.0, 24000)
    out = vc("Hello, this is a test.", reference=reference, reference_sample_rate=24000, language="en", seed=0)
    assert out.sample_rate == 24000 and out.audio.size > 24000 // 2 and np.isfinite(out.audio).all()
    assert out.route in ("pocket-tts", "pocket-tts+knn-vc") and out.tts_model == "eustlb/pocket-tts"


@pytest.mark.slow
def test_real_voice_cloning_polish():
    out = load("voice-cloning")("Dzień dobry.", reference=voice(5.0, 16000), reference_sample_rate=16000,
                                language="pl", seed=0)
    assert out.route == "mms-tts+knn-vc" and out.tts_model == "facebook/mms-tts-pol" and "cc-by-nc-4.0" in out.licence
    assert not out.commercial_use and loudness(out.audio, 16000) == pytest.approx(-16.0, abs=0.5)


def not_a_voice(kind: str, seconds: float = 5.0, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return {"noise": noise(seconds, rate), "tone": 0.3 * np.sin(2 * np.pi * 220 * t),
            "dc": np.full(t.size, 0.3)}[kind].astype(np.float32)


@pytest.mark.parametrize("language", ["en", "pl"])
def test_every_route_refuses_noise_a_tone_or_an_offset_as_the_voice(vc, tmp_path, language):
    """One speech check (`voice_dsp.speech_only`, kNN-VC's VAD) on the Pocket TTS route and the kNN-VC routes alike,
    and in the voice library; the pipeline then still clones a real voice."""
    from pipelines.voices import VoiceLibrary

    for kind in ("noise", "tone", "dc"):
        with pytest.raises(InputError, match="no speech was detected") as info:
            vc("Hello.", reference=not_a_voice(kind), reference_sample_rate=16000, language=language, seed=0)
        assert info.value.argument == "reference", kind
        with pytest.raises(InputError, match="no speech was detected") as info:
            VoiceLibrary(tmp_path).save("not a voice", not_a_voice(kind), 16000)
        assert info.value.argument == "audio" and not list(tmp_path.glob("voice_*")), kind
    good = vc("Hello.", reference=voice(4.0, 16000), reference_sample_rate=16000, language=language, seed=0)
    assert good.audio.size > 0
