"""Voice cloning and conversion on tiny models; kNN matching on hand-made features; exact vocoder conversion."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pipelines import knn_vc, load
from pipelines.errors import InputError, ModelLoadError


def noise(seconds, rate, seed=0, channels=None):
    shape = (int(seconds * rate),) if channels is None else (channels, int(seconds * rate))
    return (0.1 * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


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
# WavLM features


@pytest.mark.parametrize("stable", [True, False], ids=["pre-norm (large)", "post-norm (base)"])
def test_wavlm_cut_after_layer_gives_hidden_state_6(tmp_path, stable):
    from transformers import WavLMConfig, WavLMModel

    torch.manual_seed(0)
    config = WavLMConfig(hidden_size=32, num_hidden_layers=8, num_attention_heads=2, intermediate_size=37,
                         conv_dim=(8,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                         do_stable_layer_norm=stable, feat_extract_norm="layer" if stable else "group",
                         num_buckets=32, max_bucket_distance=64)
    WavLMModel(config).save_pretrained(tmp_path)
    full = WavLMModel.from_pretrained(tmp_path).eval()
    cut = knn_vc.load_wavlm(str(tmp_path), layer=6)
    assert len(cut.encoder.layers) == 6
    wav = torch.from_numpy(noise(1.0, 16000))
    with torch.no_grad():  # 80 samples of padding give the 50th frame (frames of 400 samples, hop 320)
        expected = full(F.pad(wav, (0, 80))[None], output_hidden_states=True).hidden_states[6][0]
    features = knn_vc.wavlm_features(cut, wav)
    assert features.shape == expected.shape == (50, 32)
    torch.testing.assert_close(features, expected)
    assert knn_vc.wavlm_features(cut, wav, chunk_seconds=0.3).shape == (50, 32)


# ------------------------------------------------------------------------------------------------------------------
# voice conversion pipeline


@pytest.fixture(scope="module")
def conv():
    return load("voice-conversion", model="tiny")


def test_conversion_shapes_and_reusable_reference(conv):
    speech, reference = noise(1.3, 16000, seed=1), noise(4.0, 22050, seed=2, channels=2)
    out = conv(speech, reference=reference, sample_rate=16000, reference_sample_rate=22050)
    assert out.audio.dtype == np.float32 and out.audio.shape == speech.shape and out.sample_rate == 16000
    pool = conv.reference_features(reference, 22050)
    again = conv(speech, reference=pool, sample_rate=16000)
    np.testing.assert_array_equal(out.audio, again.audio)
    rms = lambda a: float(np.sqrt(np.mean(a ** 2)))  # noqa: E731
    assert rms(out.audio) == pytest.approx(rms(speech), rel=1e-3)


def test_conversion_bad_inputs(conv):
    speech = noise(1.0, 16000)
    with pytest.raises(InputError, match="between 3 and 600 seconds") as info:
        conv(speech, reference=noise(2.0, 16000), sample_rate=16000, reference_sample_rate=16000)
    assert info.value.argument == "reference"
    with pytest.raises(InputError) as info:
        conv(speech, sample_rate=16000)
    assert info.value.argument == "reference"
    with pytest.raises(InputError) as info:
        conv(speech, reference=noise(4.0, 16000), sample_rate=16000, reference_sample_rate=16000, k=0)
    assert info.value.argument == "k"
    with pytest.raises(InputError, match="silent") as info:
        conv(np.zeros(16000, np.float32), reference=noise(4.0, 16000), sample_rate=16000,
             reference_sample_rate=16000)
    assert info.value.argument == "speech"


# ------------------------------------------------------------------------------------------------------------------
# voice cloning pipeline


@pytest.fixture(scope="module")
def vc():
    return load("voice-cloning", model="tiny")


def test_english_pocket_tts_matches_the_raw_model(vc):
    reference = noise(4.0, 24000, seed=3)
    text = "Hello there, how are you?"
    out = vc(text, reference=reference, reference_sample_rate=24000, language="en", seed=7)
    assert out.audio.dtype == np.float32 and out.audio.ndim == 1 and out.audio.size > 0 and out.sample_rate == 24000
    assert out.language == "en" and "noise" in out.licence

    tts = vc._part("pocket")  # the same processor and model, called by hand as the transformers docs do
    content = [{"type": "audio", "audio": reference}, {"type": "text", "text": text}]
    conversation = [{"role": "user", "content": content}]
    inputs = tts.processor.apply_chat_template(conversation, tokenize=True, return_dict=True, return_tensors="pt",
                                               processor_kwargs={"sampling_rate": 24000})
    torch.manual_seed(7)
    generated = tts.model.generate(**inputs)
    expected = tts.processor.decode(generated.audio_latents, generated.audio_latents_mask)[0].numpy()
    np.testing.assert_array_equal(out.audio, expected)


def test_polish_mms_plus_knn_vc(vc):
    calls = []
    out = vc("Zażółć gęślą jaźń. Dzień dobry!", reference=noise(4.0, 44100, seed=4, channels=2),
             reference_sample_rate=44100, language="pl", seed=0,
             progress=lambda step, total, info: calls.append(step / total))
    assert out.audio.dtype == np.float32 and out.audio.ndim == 1 and out.audio.size > 0 and out.sample_rate == 16000
    assert out.language == "pl" and calls[-1] == 1.0
    again = vc("Zażółć gęślą jaźń. Dzień dobry!", reference=noise(4.0, 44100, seed=4, channels=2),
               reference_sample_rate=44100, language="pl", seed=0)
    np.testing.assert_array_equal(out.audio, again.audio)


@pytest.mark.parametrize("kwargs, argument, fragment", [
    (dict(text=""), "text", "non-empty"),
    (dict(text="a" * 2001), "text", "2000"),
    (dict(language="xx"), "language", "'pl'"),
    (dict(reference=None), "reference", "3-30 s"),
    (dict(reference=noise(2.0, 16000)), "reference", "between 3 and 30 seconds"),
    (dict(reference=noise(40.0, 16000)), "reference", "between 3 and 30 seconds"),
    (dict(reference=np.zeros(16000 * 5, np.float32)), "reference", "silent"),
    (dict(reference_sample_rate=None), "reference_sample_rate", "sample rate"),
    (dict(seed="1"), "seed", "integer"),
])
def test_cloning_bad_inputs(vc, kwargs, argument, fragment):
    call = dict(text="Hello.", reference=noise(4.0, 16000), reference_sample_rate=16000, language="en") | kwargs
    with pytest.raises(InputError) as info:
        vc(**call)
    assert info.value.argument == argument and fragment in str(info.value)


def test_cloning_loads_the_other_language_on_demand(vc):
    folder = vc.parts["mms:pl"].rsplit("/", 1)[0]
    polish = load("voice-cloning", model=f"{folder}/mms-tts-pol", conversion_model=f"{folder}/voice-conversion")
    assert "pocket" not in polish._loaded
    assert polish("Dzień dobry.", reference=noise(4.0, 16000), reference_sample_rate=16000, language="pl").audio.size
    with pytest.raises(ModelLoadError) as info:  # English needs eustlb/pocket-tts: not cached, and offline
        polish("Hello.", reference=noise(4.0, 16000), reference_sample_rate=16000, language="en")
    assert info.value.reason in ("offline", "not_found")
    with pytest.raises(ModelLoadError) as info:
        load("voice-cloning", model=f"{folder}/voice-conversion")  # a WavLM is not a TTS model
    assert info.value.reason == "wrong_task"


@pytest.mark.slow
def test_real_voice_cloning_english():
    vc = load("voice-cloning")
    t = np.arange(5 * 24000) / 24000
    reference = (0.3 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    out = vc("Hello, this is a test.", reference=reference, reference_sample_rate=24000, language="en", seed=0)
    assert out.sample_rate == 24000 and out.audio.size > 24000 // 2 and np.isfinite(out.audio).all()
