"""The reserved model name ``tiny``: tiny randomly initialised models of each task's architecture family.

`build(task)` writes one into a cache folder (once; later calls reuse it) and returns the folder, which the
pipeline then loads through the very same ``from_pretrained`` path as a Hub model. Tests, CI, benchmarks and
``make run MODELS=tiny`` use them; their output is noise. Precedents: diffusers' ``get_dummy_components`` and
demucs' ``demucs_unittest``. Tokenizers are built in memory (transformers 5 silently builds an empty tokenizer
from ``vocab_file=``), so nothing here touches the network.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

Builder = Callable[[Path], None]
_BUILDERS: dict[tuple[str, str], tuple[Builder, int]] = {}

# A few sentences in both languages the project speaks, to train the tiny tokenizers on.
CORPUS = [
    "Ala ma kota, a kot ma Alę. Świetny produkt, polecam! Okropna jakość, nie polecam.",
    "Zażółć gęślą jaźń. Bardzo dobra książka, ale dostawa była wolna. Nic specjalnego.",
    "The quick brown fox jumps over the lazy dog. Great product, works perfectly! Terrible, it broke.",
    "This is an average film. I love it. I hate it. Not bad at all. What a waste of money.",
]


def cache_dir() -> Path:
    """Where tiny models live: ``$MMHUB_CACHE/tiny`` (default ``~/.cache/mmhub/tiny``)."""
    return Path(os.environ.get("MMHUB_CACHE", "~/.cache/mmhub")).expanduser() / "tiny"


def builder(task: str, variant: str = "tiny", version: int = 1) -> Callable[[Builder], Builder]:
    """Register `fn(folder)` as the builder of `variant` for `task`; bump `version` when its output changes."""

    def register(fn: Builder) -> Builder:
        _BUILDERS[(task, variant)] = (fn, version)
        return fn

    return register


def build(task: str, variant: str = "tiny") -> Path:
    """The folder of the tiny model `variant` for `task`, built on first use (atomically: safe across processes)."""
    try:
        fn, version = _BUILDERS[(task, variant)]
    except KeyError:
        known = sorted(f"{t}:{v}" for t, v in _BUILDERS)
        raise KeyError(f"No tiny model {variant!r} for task {task!r}; known: {', '.join(known)}") from None
    target = cache_dir() / f"{task}--{variant}--v{version}"
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    import torch

    try:
        with torch.random.fork_rng(devices=[]):  # builders seed torch: leave the caller's random state as it was
            fn(staging)
        (staging / ".complete").write_text("built by pipelines.tiny\n")
        try:
            os.rename(staging, target)
        except OSError:  # another process won the race, or a stale incomplete folder is in the way
            if not (target / ".complete").exists():
                shutil.rmtree(target, ignore_errors=True)
                os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def is_tiny_path(model: str | os.PathLike) -> bool:
    try:
        return Path(model).expanduser().resolve().is_relative_to(cache_dir().resolve())
    except (OSError, ValueError):
        return False


# ----------------------------------------------------------------------------------------------------------------
# shared pieces


def byte_level_tokenizer(vocab_size: int = 400, special_tokens: tuple[str, ...] = (), roberta_style: bool = False,
                         **named_tokens: str):
    """A byte-level BPE `PreTrainedTokenizerFast` trained in memory on `CORPUS` (Polish diacritics included).

    ``named_tokens`` (e.g. ``eos_token="</s>"``) become the tokenizer's named special tokens; with
    ``roberta_style`` every sequence is wrapped as ``<s> ... </s>``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = list(dict.fromkeys([*special_tokens, *named_tokens.values()]))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer=trainer)
    if roberta_style:
        tok.post_processor = processors.RobertaProcessing(
            ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")), add_prefix_space=False)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **named_tokens)


def _seed() -> None:
    import torch

    torch.manual_seed(0)


# ----------------------------------------------------------------------------------------------------------------
# text-generation (issue 2)

CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@builder("text-generation", "tiny", version=2)
def _tiny_gpt2(folder: Path) -> None:
    """GPT-2 family, byte-level BPE, 2 layers of width 32 (the transformers model testers' sizes), 512 positions."""
    from transformers import GPT2Config, GPT2LMHeadModel

    _seed()
    tok = byte_level_tokenizer(eos_token="<|endoftext|>", bos_token="<|endoftext|>", unk_token="<|endoftext|>")
    tok.model_max_length = 512
    eos = tok.convert_tokens_to_ids("<|endoftext|>")
    config = GPT2Config(vocab_size=len(tok), n_positions=512, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=eos, eos_token_id=eos)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)


@builder("text-generation", "tiny-chat")
def _tiny_chat(folder: Path) -> None:
    """A Bielik stand-in: Mistral family with a ChatML template whose end-of-turn token differs from the EOS."""
    from transformers import GenerationConfig, MistralConfig, MistralForCausalLM

    _seed()
    tok = byte_level_tokenizer(special_tokens=("<|im_start|>", "<|im_end|>"), bos_token="<s>", eos_token="</s>",
                               unk_token="<unk>", pad_token="<pad>")
    tok.chat_template = CHATML_TEMPLATE
    tok.model_max_length = 256
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<s>", "</s>", "<pad>")}
    config = MistralConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                           bos_token_id=ids["<s>"], eos_token_id=ids["</s>"], pad_token_id=ids["<pad>"])
    model = MistralForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=ids["<s>"], eos_token_id=ids["</s>"],
                                               pad_token_id=ids["<pad>"])
    model.save_pretrained(folder)
    tok.save_pretrained(folder)


# ----------------------------------------------------------------------------------------------------------------
# sentiment (issue 2)


@builder("sentiment", "tiny")
def _tiny_xlm_roberta(folder: Path) -> None:
    """XLM-RoBERTa family classifier with the default model's labels (negative / neutral / positive)."""
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    _seed()
    tok = byte_level_tokenizer(roberta_style=True, bos_token="<s>", pad_token="<pad>", eos_token="</s>",
                               unk_token="<unk>", cls_token="<s>", sep_token="</s>", mask_token="<mask>")
    tok.model_max_length = 128
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    config = XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=37, max_position_embeddings=130,
                              pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                              eos_token_id=tok.eos_token_id, id2label=labels,
                              label2id={v: k for k, v in labels.items()})
    XLMRobertaForSequenceClassification(config).save_pretrained(folder)
    tok.save_pretrained(folder)


# ----------------------------------------------------------------------------------------------------------------
# text-to-image / image-to-image (issue 3)


def clip_byte_tokenizer(model_max_length: int = 77):
    """A `CLIPTokenizer` built in memory: the 256 byte-level symbols, each also with ``</w>``, plus BOS/EOS."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    alphabet = sorted(ByteLevel.alphabet())
    symbols = [*alphabet, *(s + "</w>" for s in alphabet), "<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={s: i for i, s in enumerate(symbols)}, merges=[], model_max_length=model_max_length)


def _tiny_stable_diffusion(folder: Path) -> None:
    """Stable Diffusion family, diffusers' ``get_dummy_components`` sizes: 64 px native, no safety checker."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    _seed()
    unet = UNet2DConditionModel(block_out_channels=(4, 8), layers_per_block=1, sample_size=32, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=8,
                                norm_num_groups=2)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    _seed()
    vae = AutoencoderKL(block_out_channels=[4, 8], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4, norm_num_groups=2)
    _seed()
    tokenizer = clip_byte_tokenizer()
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        hidden_size=8, intermediate_size=16, layer_norm_eps=1e-05, num_attention_heads=2, num_hidden_layers=2,
        vocab_size=len(tokenizer), max_position_embeddings=77))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   image_encoder=None, requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)


builder("text-to-image", "tiny")(_tiny_stable_diffusion)
builder("image-to-image", "tiny")(_tiny_stable_diffusion)



# ----------------------------------------------------------------------------------------------------------------
# style-transfer (issue 3)

# VGG-19 "features" layout: conv widths per block; a max-pool ends each block (torchvision / timm indices).
VGG19_BLOCKS = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512))
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def vgg_features_state_dict(blocks=VGG19_BLOCKS, seed: int = 0) -> dict:
    """Random ``features.<idx>.weight/bias`` tensors in the layout of ``timm/vgg19.tv_in1k`` (Kaiming init)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    state, index, in_channels = {}, 0, 3
    for block in blocks:
        for out_channels in block:
            weight = torch.randn(out_channels, in_channels, 3, 3, generator=generator)
            state[f"features.{index}.weight"] = weight * (2.0 / (in_channels * 9)) ** 0.5
            state[f"features.{index}.bias"] = torch.zeros(out_channels)
            index, in_channels = index + 2, out_channels  # conv, relu
        index += 1  # max-pool
    return state


@builder("style-transfer", "tiny")
def _tiny_vgg(folder: Path) -> None:
    """VGG-19 with the same layer indices and a handful of channels, saved like the Hub's timm checkpoint."""
    import json

    import torch
    from safetensors.torch import save_file

    blocks = tuple(tuple(min(c // 16, 8) for c in block) for block in VGG19_BLOCKS)
    state = vgg_features_state_dict(blocks)
    state["head.fc.weight"] = torch.zeros(10, 8)  # the real file also holds the classifier; the loader skips it
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    config = {"architecture": "vgg19", "num_classes": 10,
              "pretrained_cfg": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "input_size": [3, 224, 224]}}
    (folder / "config.json").write_text(json.dumps(config, indent=2))



# ----------------------------------------------------------------------------------------------------------------
# separation (issue 4)


@builder("separation", "tiny", version=2)
def _tiny_htdemucs(folder: Path) -> None:
    """HTDemucs family (4 stems, 44.1 kHz stereo, 1 s segments), ~95k parameters, in demucs' local repo format.

    ``<sig>.th`` holds ``{"klass", "args", "kwargs", "state"}`` as demucs' ``LocalRepo`` reads it and
    ``tiny_htdemucs.yaml`` is the bag naming it; ``Separator(model="tiny_htdemucs", repo=folder)`` loads it.
    """
    import torch
    from demucs.htdemucs import HTDemucs

    _seed()
    model = HTDemucs(sources=["drums", "bass", "other", "vocals"], channels=8, dconv_comp=4, depth=3, nfft=512,
                     t_layers=1, t_heads=2, segment=1)
    args, kwargs = model._init_args_kwargs
    torch.save({"klass": HTDemucs, "args": args, "kwargs": kwargs, "state": model.state_dict()},
               folder / "0tiny000.th")
    (folder / "tiny_htdemucs.yaml").write_text("models: ['0tiny000']\n")


# ----------------------------------------------------------------------------------------------------------------
# voice-cloning / voice-conversion (issue 4)

# Pocket TTS' named special tokens (the processor finds them as `tokenizer.<name>`).
POCKET_TOKENS = {"audio_prompt_bos_token": "<|voice_bos|>", "audio_prompt_token": "<|voice|>",
                 "audio_latent_token": "<|latent|>", "audio_bos_token": "<|audio_bos|>"}
POCKET_CHAT_TEMPLATE = (
    "{%- for message in messages -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'audio' -%}{{ '<|voice_bos|><|voice|>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endfor -%}{{ '<|audio_bos|>' }}"
)
# Latin letters with the diacritics of the European languages MMS-TTS covers, so that one tiny VITS can stand in for
# every language's checkpoint (a real MMS checkpoint has its own language's characters, see the facebook/mms-tts
# vocab.txt files).
VITS_CHARS = " abcdefghijklmnopqrstuvwxyząćęłńóśźżäöüßéèêëàâçîïôûùœñíúãõ.,!?'-"


def _tiny_pocket_tts(folder: Path, cloning: bool = True) -> None:
    """Pocket TTS LM (1 layer of width 32) + its audio tokenizer (Mimi-style codec, 1920-sample frames at 24 kHz).

    The codec goes to ``audio_tokenizer/``: the processor config would only record its absolute path.
    ``cloning=False`` ships it the way Kyutai withholds cloning (``kyutai/pocket-tts-without-voice-cloning``; see
    `pipelines.voice_cloning.cloning_withheld`): the speaker projection ``audio_prompt_proj`` zeroed and the codec
    saved without its encoder (``encoder_config: null``), so the processor can decode but not encode a voice.
    """
    import torch
    from transformers import (
        PocketTTSAudioTokenizerConfig,
        PocketTTSAudioTokenizerModel,
        PocketTTSConfig,
        PocketTTSFeatureExtractor,
        PocketTTSForConditionalGeneration,
        PocketTTSProcessor,
    )

    _seed()
    tok = byte_level_tokenizer(pad_token="<pad>", unk_token="<unk>", **POCKET_TOKENS)
    codec = PocketTTSAudioTokenizerConfig(hidden_size=32, num_filters=4, upsampling_ratios=[6, 5, 4], latent_stride=16,
                                          latent_dim=8, upsample_groups=32, num_hidden_layers=1, intermediate_size=32,
                                          num_attention_heads=2, num_key_value_heads=2, sliding_window=32)
    codec_model = PocketTTSAudioTokenizerModel(codec)
    if not cloning:
        decoder_only = PocketTTSAudioTokenizerConfig(**{**codec.to_dict(), "encoder_config": None})
        state = codec_model.state_dict()
        codec_model = PocketTTSAudioTokenizerModel(decoder_only)
        codec_model.load_state_dict({k: v for k, v in state.items() if k in codec_model.state_dict()})
    codec_model.save_pretrained(folder / "audio_tokenizer")
    ids = {name: tok.convert_tokens_to_ids(token) for name, token in POCKET_TOKENS.items()}
    config = PocketTTSConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=64, latent_dim=8, pad_token_id=tok.pad_token_id,
                             **{name + "_id": value for name, value in ids.items()},
                             flow_head_config=dict(hidden_size=32, num_hidden_layers=1, latent_dim=8, condition_dim=32,
                                                   frequency_embedding_size=16))
    model = PocketTTSForConditionalGeneration(config)
    if not cloning:
        torch.nn.init.zeros_(model.model.audio_prompt_proj.weight)
    model.generation_config.return_dict_in_generate = True
    model.save_pretrained(folder)
    extractor = PocketTTSFeatureExtractor(frame_size=codec.frame_size, pad_to_multiple_of=codec.frame_size)
    PocketTTSProcessor(extractor, tok, chat_template=POCKET_CHAT_TEMPLATE).save_pretrained(folder)


def _tiny_vits(folder: Path) -> None:
    """VITS / MMS-TTS family at the transformers model tester's sizes, 16 kHz, with a character vocabulary of Latin
    letters and European diacritics. Its tokenizer names no language: the tiny bundles use it for every language
    code (an MMS checkpoint per language on the Hub)."""
    import json

    from transformers import VitsConfig, VitsModel, VitsTokenizer

    _seed()
    vocab = {"<pad>": 0, **{c: i + 1 for i, c in enumerate(VITS_CHARS)}, "<unk>": len(VITS_CHARS) + 1}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    VitsTokenizer(vocab_file=str(folder / "vocab.json"), phonemize=False).save_pretrained(folder)
    config = VitsConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, ffn_dim=32, flow_size=16, spectrogram_bins=8,
                        duration_predictor_num_flows=2, duration_predictor_filter_channels=16,
                        prior_encoder_num_flows=2, upsample_initial_channel=16, upsample_rates=[8, 2],
                        upsample_kernel_sizes=[16, 4], resblock_kernel_sizes=[3, 7],
                        resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]], sampling_rate=16000)
    VitsModel(config).save_pretrained(folder)


@builder("voice-conversion", "tiny", version=3)
def _tiny_knn_vc(folder: Path) -> None:
    """kNN-VC: a 6-layer WavLM of width 32 (pre-norm like WavLM-Large, 320-sample hop) + ``vocoder/``, a tiny
    kNN-VC HiFi-GAN (``lin_pre`` 32 -> 16, upsampling 10 x 8 x 2 x 2 = 320) in mmhub's converted format."""
    import torch
    from transformers import SpeechT5HifiGan, WavLMConfig, WavLMModel

    from pipelines.knn_vc import KnnVcVocoder, hifigan_config

    _seed()
    config = WavLMConfig(hidden_size=32, num_hidden_layers=6, num_attention_heads=2, intermediate_size=37,
                         conv_dim=(8,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                         feat_extract_norm="layer", do_stable_layer_norm=True, num_buckets=32, max_bucket_distance=64)
    WavLMModel(config).save_pretrained(folder)
    hifigan = SpeechT5HifiGan(hifigan_config({"hifi_dim": 16, "hubert_dim": 32, "upsample_initial_channel": 16,
                                              "upsample_kernel_sizes": [20, 16, 4, 4], "resblock_kernel_sizes": [3],
                                              "resblock_dilation_sizes": [[1, 3, 5]]}))
    for module in hifigan.modules():  # PyTorch's default init: transformers' std 0.02 makes the output ~1e-10
        if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            module.reset_parameters()
            torch.nn.init.zeros_(module.bias)  # random biases add up to a DC offset far above the "speech"
    KnnVcVocoder(torch.nn.Linear(32, 16), hifigan).save_pretrained(folder / "vocoder")


def _voice_cloning_bundle(folder: Path, cloning: bool) -> None:
    parts = (("pocket", lambda f: _tiny_pocket_tts(f, cloning=cloning)), ("mms-tts", _tiny_vits),
             ("voice-conversion", _tiny_knn_vc))
    for name, fn in parts:
        (folder / name).mkdir()
        fn(folder / name)


@builder("voice-cloning", "tiny", version=4)
def _tiny_voice_cloning(folder: Path) -> None:
    """The bundle the cloning pipeline loads: ``pocket/`` (English, clones from the clip), ``mms-tts/`` (one tiny
    VITS for every other language code) and ``voice-conversion/`` (kNN-VC)."""
    _voice_cloning_bundle(folder, cloning=True)


@builder("voice-cloning", "tiny-no-cloning", version=1)
def _tiny_voice_cloning_withheld(folder: Path) -> None:
    """The same bundle with a Pocket TTS whose cloning is withheld as Kyutai ships it (zeroed speaker projection,
    codec without encoder): English then goes through Pocket TTS without a voice, then kNN-VC."""
    _voice_cloning_bundle(folder, cloning=False)


# ----------------------------------------------------------------------------------------------------------------
# text-to-music / text-to-video (issue 12)


def t5_tokenizer():
    """A T5 (SentencePiece-style Unigram) tokenizer built in memory: ``<pad>``=0, ``</s>``=1, ``<unk>``=2 as in
    T5, then every character of `CORPUS` (and the digits) alone and with the ``▁`` word prefix. MusicGen's T5 and
    Wan's UMT5 use it.
    """
    from transformers import T5Tokenizer

    chars = sorted(set("".join(CORPUS).lower() + "0123456789-'") - {" "})
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(c, -3.0) for c in chars] + [("▁" + c, -3.5) for c in chars]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def _tiny_musicgen_parts():
    """Shrunk `facebook/musicgen-small`: T5 text encoder (here width 32, the real one T5-base 768) projected into a
    decoder of width 16 (real 1024) over the real codec geometry: 32 kHz EnCodec, hop 640 (50 Hz), 4 codebooks of 2048
    (target bandwidth 2.2 kbps), so the special token 2048 (BOS = pad) is the real one."""
    from transformers import EncodecConfig, T5Config

    tok = t5_tokenizer()
    text = T5Config(vocab_size=len(tok), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                    relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    codec = EncodecConfig(sampling_rate=32000, audio_channels=1, upsampling_ratios=[8, 5, 4, 4],
                          target_bandwidths=[2.2], codebook_size=2048, codebook_dim=16, hidden_size=16, num_filters=4,
                          num_lstm_layers=1, normalize=False, use_causal_conv=False, chunk_length_s=None, overlap=None)
    decoder = dict(vocab_size=2048, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, ffn_dim=32,
                   max_position_embeddings=256, num_codebooks=4, audio_channels=1, pad_token_id=2048,
                   bos_token_id=2048, decoder_start_token_id=2048)
    return tok, text, codec, decoder


def _musicgen_generation_config(window_frames: int):
    """The real checkpoints' generation_config.json (do_sample, guidance 3.0, BOS = pad = 2048), with `max_length`
    shrunk from 1500 (30 s at 50 Hz) to `window_frames` + 4 (BOS + 3 codebook delays): a tiny window, so tests
    exercise the continuation of long pieces in seconds. Source: huggingface.co/facebook/musicgen-large/discussions/5.
    """
    from transformers import GenerationConfig

    return GenerationConfig(do_sample=True, guidance_scale=3.0, max_length=window_frames + 4, bos_token_id=2048,
                            decoder_start_token_id=2048, pad_token_id=2048)


def _randomise_codebooks(codec) -> None:
    """EnCodec's codebooks start as zeros (k-means fills them during training): every code would decode to the
    same audio. Random unit-variance centroids make the output depend on the generated tokens, as in a real model."""
    import torch

    generator = torch.Generator().manual_seed(0)
    for layer in codec.quantizer.layers:
        book = layer.codebook
        book.embed.copy_(torch.randn(book.embed.shape, generator=generator))
        book.embed_avg.copy_(book.embed)
        book.cluster_size.fill_(1.0)


@builder("text-to-music", "tiny", version=2)
def _tiny_musicgen(folder: Path) -> None:
    """MusicGen family: ``MusicgenForConditionalGeneration`` + ``MusicgenProcessor`` (EnCodec feature extractor + T5
    tokenizer), a 1-second generation window (50 frames)."""
    from transformers import (
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenProcessor,
    )

    _seed()
    tok, text, codec, decoder = _tiny_musicgen_parts()
    config = MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=codec.to_dict(),
                            decoder=MusicgenDecoderConfig(**decoder).to_dict())
    model = MusicgenForConditionalGeneration(config)
    _randomise_codebooks(model.audio_encoder)
    model.generation_config = _musicgen_generation_config(window_frames=50)
    model.save_pretrained(folder)
    extractor = EncodecFeatureExtractor(feature_size=1, sampling_rate=32000, padding_value=0.0)
    MusicgenProcessor(extractor, tok).save_pretrained(folder)


@builder("text-to-music", "tiny-melody", version=2)
def _tiny_musicgen_melody(folder: Path) -> None:
    """MusicGen-Melody family: ``MusicgenMelodyForConditionalGeneration`` (chroma prepended to the text states), a
    1-second window and a chroma window of 8 frames (real: 235 = 30 s at 32 kHz / hop 4096). The feature extractor
    config is written as JSON: transformers' ``MusicgenMelodyFeatureExtractor`` needs torchaudio to be instantiated."""
    import json

    from transformers import MusicgenMelodyConfig, MusicgenMelodyDecoderConfig, MusicgenMelodyForConditionalGeneration

    _seed()
    tok, text, codec, decoder = _tiny_musicgen_parts()
    config = MusicgenMelodyConfig(text_encoder=text.to_dict(), audio_encoder=codec.to_dict(),
                                  decoder=MusicgenMelodyDecoderConfig(**decoder).to_dict(), num_chroma=12,
                                  chroma_length=8)
    model = MusicgenMelodyForConditionalGeneration(config)
    _randomise_codebooks(model.audio_encoder)
    model.generation_config = _musicgen_generation_config(window_frames=50)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    # MusicgenMelodyFeatureExtractor's defaults (transformers 5, feature_extraction_musicgen_melody.py)
    extractor = {"feature_extractor_type": "MusicgenMelodyFeatureExtractor",
                 "processor_class": "MusicgenMelodyProcessor",
                 "feature_size": 12, "sampling_rate": 32000, "hop_length": 4096, "chunk_length": 30, "n_fft": 16384,
                 "num_chroma": 12, "padding_value": 0.0, "padding_side": "right", "return_attention_mask": False,
                 "stem_indices": [3, 2]}
    (folder / "preprocessor_config.json").write_text(json.dumps(extractor, indent=2))


def _tiny_wan(folder: Path, ti2v: bool) -> None:
    """Wan family at diffusers' ``get_dummy_components`` sizes (tests/pipelines/wan/test_wan.py, test_wan_22_*.py),
    with a UMT5 text encoder (as the real ``google/umt5-xxl``, here width 32 = the transformer's ``text_dim``) and the
    in-memory T5 tokenizer instead of ``hf-internal-testing/tiny-random-t5``; the scheduler is the converted
    checkpoints': UniPC with flow sigmas. TI2V: ``WanPipeline(expand_timesteps=True)``, as diffusers converts it."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    _seed()
    if ti2v:  # the Wan2.2 VAE: 48 latent channels, patchified input, 16x spatial compression
        vae = AutoencoderKLWan(base_dim=3, z_dim=48, in_channels=12, out_channels=12, is_residual=True, patch_size=2,
                               latents_mean=[0.0] * 48, latents_std=[1.0] * 48, dim_mult=[1, 1, 1, 1],
                               num_res_blocks=1, scale_factor_spatial=16, scale_factor_temporal=4,
                               temperal_downsample=[False, True, True])
    else:
        vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                               temperal_downsample=[False, True, True])
    # diffusers' scripts/convert_wan_to_diffusers.py: flow_shift 3.0 for Wan 2.1 T2V, 5.0 for Wan 2.2 TI2V
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        num_train_timesteps=1000, flow_shift=5.0 if ti2v else 3.0)
    tok = t5_tokenizer()
    _seed()
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tok), d_model=32, d_kv=8, d_ff=37, num_layers=2,
                                               num_heads=4, relative_attention_num_buckets=8)).eval()
    _seed()
    channels = 48 if ti2v else 16
    transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                        in_channels=channels, out_channels=channels, text_dim=32, freq_dim=256,
                                        ffn_dim=32, num_layers=2, cross_attn_norm=True,
                                        qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
    extra = {"expand_timesteps": True} if ti2v else {}
    pipe = WanPipeline(tokenizer=tok, text_encoder=text_encoder, vae=vae, transformer=transformer,
                       scheduler=scheduler, **extra)
    with torch.no_grad():
        pipe.save_pretrained(folder, safe_serialization=True)


builder("text-to-video", "tiny")(lambda folder: _tiny_wan(folder, ti2v=False))
builder("text-to-video", "tiny-ti2v", version=2)(lambda folder: _tiny_wan(folder, ti2v=True))


# ----------------------------------------------------------------------------------------------------------------
# digit-recognition / activation-maximisation (issue 11)


@builder("digit-recognition", "tiny")
def _tiny_digit_cnn(folder: Path) -> None:
    """The nn_vis LeNet at its real size (61k weights: already tiny), trained for 4 seeded epochs on scikit-learn's
    bundled 8x8 digits made MNIST-like (a second or two), so that the offline app recognises clear digits."""
    import torch
    import torch.nn.functional as F

    from pipelines.digit_recognition import DigitCNN
    from pipelines.mnist import sklearn_digits

    _seed()
    images, labels = sklearn_digits()
    x, y = torch.from_numpy(images).float().div(255).unsqueeze(1), torch.from_numpy(labels)
    model = DigitCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(4):
        for index in torch.randperm(len(y), generator=generator).split(64):
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval().save_pretrained(folder)


builder("activation-maximisation", "tiny")(_tiny_digit_cnn)


# ----------------------------------------------------------------------------------------------------------------
# deep-dream / autoencoder (issue 11)

builder("deep-dream", "tiny")(_tiny_vgg)  # the style-transfer twin: VGG-19's layer indices, a handful of channels
builder("autoencoder", "tiny")(_tiny_stable_diffusion)  # the tiny SD: its vae/ subfolder, as in stabilityai/sd-turbo


@builder("autoencoder", "tiny-mnist")
def _tiny_mnist_vae(folder: Path) -> None:
    """The MNIST VAE at its real size (784-400-2, 0.6M weights: already small), trained for 12 seeded epochs on
    scikit-learn's bundled digits made MNIST-like (seconds), so that the offline latent map shows digits."""
    import torch

    from pipelines.autoencoder import MnistVAE, vae_loss
    from pipelines.mnist import sklearn_digits

    _seed()
    images, _ = sklearn_digits()
    x = torch.from_numpy(images).float().div(255).unsqueeze(1)
    model = MnistVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(12):
        for index in torch.randperm(len(x), generator=generator).split(64):
            recon, mu, logvar = model(x[index], generator=generator)
            bce, kld = vae_loss(recon, x[index], mu, logvar)
            optimizer.zero_grad()
            ((bce + kld) / len(index)).backward()
            optimizer.step()
    model.eval().save_pretrained(folder)


# ----------------------------------------------------------------------------------------------------------------
# gan (issue 11)


@builder("gan", "tiny")
def _tiny_gan(folder: Path) -> None:
    """The DCGAN of `pipelines.gan` with 8 feature maps instead of the trainer's 32 (the same layers, 1/5 of the
    weights), trained for 3 seeded epochs on scikit-learn's bundled digits made MNIST-like, at 10x the DCGAN learning
    rate so that seconds suffice: blurry digit-like blobs offline. The folder has the trained layout: the generator,
    and the discriminator in ``discriminator/``."""
    import torch

    from pipelines.gan import DCGANDiscriminator, DCGANGenerator, adversarial_step, weights_init
    from pipelines.mnist import sklearn_digits

    _seed()
    images, _ = sklearn_digits()
    x = torch.from_numpy(images).float().div(127.5).sub(1.0).unsqueeze(1)  # [-1, 1], as the trainer feeds it
    generator, discriminator = DCGANGenerator(features=8), DCGANDiscriminator(features=8)
    generator.apply(weights_init)
    discriminator.apply(weights_init)
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=2e-3, betas=(0.5, 0.999))
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=2e-3, betas=(0.5, 0.999))
    noise = torch.Generator().manual_seed(0)
    for _ in range(3):
        for index in torch.randperm(len(x), generator=noise).split(64):
            z = torch.randn(len(index), generator.latent_dim, generator=noise)
            adversarial_step(generator, discriminator, optimizer_g, optimizer_d, x[index], z)
    generator.eval().save_pretrained(folder)
    discriminator.eval().save_pretrained(folder / "discriminator")


# ----------------------------------------------------------------------------------------------------------------
# reinforcement-learning (issue 21)


def _tiny_agent(folder: Path, algo: str) -> None:
    """An untrained stable-baselines3 agent on CartPole-v1 (the registry's sb3/ppo-CartPole-v1 and sb3/dqn-CartPole-v1
    environment), SB3's MlpPolicy shrunk from two hidden layers of 64 (PPO) / 256 (the Zoo's DQN) to one of 16,
    seeded, saved by ``model.save`` in the Hub layout of huggingface_sb3 (`pipelines.sb3_hub.package`: the zip,
    config.json, results.json over 10 evaluation episodes, a 60-frame replay.mp4, the card)."""
    from stable_baselines3 import DQN, PPO

    from pipelines import sb3_hub

    _seed()
    if algo == "ppo":
        agent = PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu", policy_kwargs={"net_arch": [16]})
    else:  # a small replay buffer: the twin is saved, never trained
        agent = DQN("MlpPolicy", "CartPole-v1", seed=0, device="cpu", buffer_size=1000,
                    policy_kwargs={"net_arch": [16]})
    body = ("\nAn **untrained** stand-in (mmhub's tiny twin, `pipelines/tiny.py`): random weights, so it plays "
            "about as badly as random actions.\n")
    sb3_hub.package(agent, type(agent).__name__, "CartPole-v1", folder, seed=0, video_length=60, body=body)


builder("reinforcement-learning", "tiny")(lambda folder: _tiny_agent(folder, "ppo"))
builder("reinforcement-learning", "tiny-dqn")(lambda folder: _tiny_agent(folder, "dqn"))


# ----------------------------------------------------------------------------------------------------------------
# text-to-song (issue 21)


def qwen_tokenizer():
    """A Qwen2/Qwen3 tokenizer (``Qwen2Tokenizer``: NFC, Qwen's split regex, byte-level BPE, ``<|endoftext|>`` as EOS,
    pad and unknown token, as ``Qwen/Qwen3-Embedding-0.6B`` declares them) built in memory with ``vocab=`` /
    ``merges=`` from a BPE trained on `CORPUS` plus ACE-Step's prompt headers. ACE-Step writes ``<|endoftext|>`` into
    its prompt text: as in the real tokenizer, that string is one special token."""
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    headers = ["# Instruction\nFill the audio semantic mask based on the given conditions:\n\n# Caption\n",
               "# Metas\n- bpm: N/A\n- timesignature: N/A\n- keyscale: N/A\n- duration: 30 seconds\n",
               "# Languages\npl\n\n# Lyric\n[verse]\n[chorus]\n[bridge]\n[Instrumental]"]
    bpe.train_from_iterator(CORPUS + headers, trainer=trainer)
    model = json.loads(bpe.to_str())["model"]
    return Qwen2Tokenizer(vocab=model["vocab"], merges=[tuple(m) for m in model["merges"]], model_max_length=4096)


def _tiny_ace_step(folder: Path, turbo: bool) -> None:
    """ACE-Step 1.5 in diffusers' layout, as ``scripts/convert_ace_step_to_diffusers.py`` writes it, shrunk:
    the same component classes (``AceStepTransformer1DModel``, ``AceStepConditionEncoder``, ``AutoencoderOobleck``,
    a ``Qwen3Model`` text encoder and a Qwen tokenizer, ``AceStepAudioTokenizer`` / ``...Detokenizer``) and the
    converter's scheduler (``FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=1.0)``).

    Kept from the real configs: the VAE's geometry (48 kHz stereo, downsampling 2*4*4*6*10 = hop 1920, i.e. 25
    latent frames per second, channel multiples 1-2-4-8-16), ``in_channels`` = 3 x the acoustic width (noise,
    source latents, chunk mask), the XL DiT's wider transformer over a narrower condition encoder
    (``encoder_hidden_size``), alternating sliding / full attention, rope theta 1e6, the FSQ levels 8-8-8-5-5-5 and
    pooling window 5, ``is_turbo`` / ``model_version``. Shrunk: widths (DiT 40, encoder 32, acoustic 8 instead of
    2560 / 2048 / 64), 2 layers each, sliding window 16 (real 128), the VAE's channels (2 / 16 instead of 128).
    Not reproduced: the learned ``silence_latent`` (the converter bakes in VAE-encoded silence; here the class's zero
    placeholder) and the real tokenizer's 151k vocabulary.
    Sources: diffusers 0.42.1 (the converter, ``tests/pipelines/ace_step/test_ace_step.py``'s dummy components),
    ACE-Step/Ace-Step1.5 ``acestep-v15-turbo/config.json`` = the classes' defaults (vllm-omni's test
    ``test_transformer_default_matches_official_turbo_config`` pins them), its ``vae/config.json``.
    """
    import torch
    from diffusers import (
        AceStepPipeline,
        AceStepTransformer1DModel,
        AutoencoderOobleck,
        FlowMatchEulerDiscreteScheduler,
    )
    from diffusers.pipelines.ace_step import (
        AceStepAudioTokenDetokenizer,
        AceStepAudioTokenizer,
        AceStepConditionEncoder,
    )
    from transformers import Qwen3Config, Qwen3Model

    acoustic, encoder_width, text_width = 8, 32, 32
    shared = dict(num_key_value_heads=2, head_dim=8, rope_theta=1000000.0, rms_norm_eps=1e-6, sliding_window=16)
    _seed()
    transformer = AceStepTransformer1DModel(
        hidden_size=40, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, in_channels=3 * acoustic,
        audio_acoustic_hidden_dim=acoustic, patch_size=2, encoder_hidden_size=encoder_width, is_turbo=turbo,
        model_version="turbo" if turbo else "base", **shared)
    _seed()
    condition_encoder = AceStepConditionEncoder(
        hidden_size=encoder_width, intermediate_size=64, text_hidden_dim=text_width, timbre_hidden_dim=acoustic,
        num_lyric_encoder_hidden_layers=2, num_timbre_encoder_hidden_layers=2, num_attention_heads=4, **shared)
    audio_codec = dict(hidden_size=encoder_width, intermediate_size=64, audio_acoustic_hidden_dim=acoustic,
                       pool_window_size=5, num_attention_pooler_hidden_layers=2, num_attention_heads=4, **shared)
    _seed()
    audio_tokenizer = AceStepAudioTokenizer(fsq_dim=encoder_width, fsq_input_levels=[8, 8, 8, 5, 5, 5],
                                            fsq_input_num_quantizers=1, **audio_codec)
    _seed()
    audio_token_detokenizer = AceStepAudioTokenDetokenizer(**audio_codec)
    _seed()
    vae = AutoencoderOobleck(encoder_hidden_size=2 * acoustic, downsampling_ratios=[2, 4, 4, 6, 10],
                             channel_multiples=[1, 2, 4, 8, 16], decoder_channels=2, decoder_input_channels=acoustic,
                             audio_channels=2, sampling_rate=48000)
    tokenizer = qwen_tokenizer()
    _seed()
    text_encoder = Qwen3Model(Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=text_width, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, rope_theta=1000000.0, max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)).eval()
    pipe = AceStepPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer,
                           condition_encoder=condition_encoder,
                           scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=1.0),
                           audio_tokenizer=audio_tokenizer, audio_token_detokenizer=audio_token_detokenizer)
    with torch.no_grad():
        pipe.save_pretrained(folder, safe_serialization=True)


builder("text-to-song", "tiny")(lambda folder: _tiny_ace_step(folder, turbo=True))
builder("text-to-song", "tiny-base")(lambda folder: _tiny_ace_step(folder, turbo=False))


# ----------------------------------------------------------------------------------------------------------------
# playground (issue 21)


@builder("playground", "tiny")
def _tiny_playground(folder: Path) -> None:
    """A Playground network at a real size (x₁, x₂ -> 4 tanh -> tanh), trained for 60 seeded epochs on the
    Playground's XOR (learning rate 0.3, batches of 25: under a second), exported as `Playground.export` writes it:
    it separates the quadrants (about 97 % of the test points)."""
    from pipelines.playground import Playground

    trainer = Playground(dataset="xor", hidden=(4,), learning_rate=0.3, batch_size=25, seed=0)
    trainer.train(60)
    trainer.export(folder)


# ----------------------------------------------------------------------------------------------------------------
# metric-learning (issue 21)


@builder("metric-learning", "tiny")
def _tiny_metric_learning(folder: Path) -> None:
    """Two `EmbeddingNet`s at half the trainer's width (8 and 16 channels, 64 hidden units, 32-d embeddings), one
    trained with the triplet loss and one with the normalized softmax loss (`make_criterion`: the trainer's losses and
    settings) for 2 seeded epochs on the training split of scikit-learn's digits made MNIST-like (seconds), in the
    layout of ``local:metric-learning``: ``triplet/`` and ``normalized-softmax/``. The test split stays unseen, so
    the offline scores on it are honest (the embeddings already beat the pixels)."""
    import torch

    from pipelines.metric_learning import EmbeddingNet, make_criterion, sklearn_digit_splits

    images, labels = sklearn_digit_splits()["train"]
    x, y = torch.from_numpy(images).float().div(255).unsqueeze(1), torch.from_numpy(labels)
    for loss in ("normalized-softmax", "triplet"):
        _seed()
        model = EmbeddingNet(embedding_dim=32, conv1_channels=8, conv2_channels=16, hidden_units=64, loss=loss)
        criterion = make_criterion(loss, 10, model.embedding_dim)
        optimizers = [torch.optim.Adam(model.parameters(), lr=1e-3)]
        if criterion.parameters():
            optimizers.append(torch.optim.Adam(criterion.parameters(), lr=1e-2))
        generator = torch.Generator().manual_seed(0)
        for _ in range(2):
            for index in torch.randperm(len(y), generator=generator).split(64):
                batch_loss = criterion(model(x[index]), y[index])
                for optimizer in optimizers:
                    optimizer.zero_grad()
                batch_loss.backward()
                for optimizer in optimizers:
                    optimizer.step()
        model.eval().save_pretrained(folder / loss)
