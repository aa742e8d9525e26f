"""mmhub pipelines: thin, validated wrappers over pretrained Hugging Face Hub models.

>>> from pipelines import load
>>> clf = load("sentiment")                      # cardiffnlp/twitter-xlm-roberta-base-sentiment
>>> clf(["Świetny produkt!", "Terrible."])[0].label
'positive'

The registry below is plain data: importing this package imports neither torch nor any model library,
so `python -m pipelines list` is instant. Each task's class is imported on first `load`.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any

from pipelines.errors import InputError, ModelLoadError

__all__ = ["TASKS", "TINY_NAMES", "ModelInfo", "TaskSpec", "load", "resolve_task", "InputError", "ModelLoadError"]


@dataclass(frozen=True)
class ModelInfo:
    """A Hub model the registry knows: id, pinned revision (None = the repo's main), licence, languages."""

    id: str
    licence: str
    languages: tuple[str, ...]
    revision: str | None = None
    commercial_use: bool = True
    note: str = ""


@dataclass(frozen=True)
class TaskSpec:
    """One task: where its class lives ("module:Class"), its models (the first is the default), aliases."""

    name: str
    target: str
    models: tuple[ModelInfo, ...]
    aliases: tuple[str, ...] = ()
    description: str = ""
    tiny_variants: tuple[str, ...] = field(default=("tiny",))
    #: a torch-free module with ``summary()`` and ``table()`` of the languages the task speaks, when they are too
    #: many for `ModelInfo.languages` (voice cloning: one MMS-TTS checkpoint per language)
    language_table: str = ""

    @property
    def default(self) -> ModelInfo:
        return self.models[0]

    def model_info(self, model_id: str) -> ModelInfo | None:
        return next((m for m in self.models if m.id == model_id), None)


# Pinned revisions, each confirmed from a public source (a guessed SHA would break loading for everyone):
# - stabilityai/sd-turbo b261bac6...: the Hub snapshot folder models--stabilityai--sd-turbo/snapshots/b261bac6...
#   in oylo-io/StreamDiffusion (examples/img2img/trt_only.py); the model card loads its fp16 variant.
# - openai-community/gpt2 607a30d7...: huggingface_hub's own docstring, resolve_revision("openai-community/gpt2").
# - cardiffnlp/twitter-xlm-roberta-base-sentiment f3e34b6c...: pinned by texttechnologylab/duui-uima
#   (duui-transformers-sentiment/src/main/python/models/cardiffnlp_twitter_xlm_roberta_base_sentiment.py).
_SD_TURBO = ModelInfo(
    "stabilityai/sd-turbo", "stabilityai-community (free below USD 1M revenue; read LICENSE.md)", ("en",),
    revision="b261bac6fd2cf515557d5d0707481eafa0485ec2", commercial_use=False, note="1-4 steps, guidance 0, 512 px",
)
_SD_15 = ModelInfo("stable-diffusion-v1-5/stable-diffusion-v1-5", "creativeml-openrail-m", ("en",),
                   note="20-50 steps, guidance 7.5, 512 px")

# Lecture-lab models have no published checkpoint: "local:<task>" is the folder the trainer writes (pipelines/lab.py).
_LOCAL_DIGITS = ModelInfo("local:digit-recognition", "yours: trained locally (data ylecun/mnist, mit per its card)",
                          ("any",), note="train it: python -m finetune.digits (minutes on a CPU)")
_VGG19 = ModelInfo("timm/vgg19.tv_in1k", "bsd-3-clause", ("any",), note="VGG-19 features: the style-transfer weights")
_SD_TURBO_VAE = ModelInfo(
    _SD_TURBO.id, _SD_TURBO.licence, ("any",), revision=_SD_TURBO.revision, commercial_use=False,
    note="Stable Diffusion's VAE only (vae/ subfolder, 84M): 8x smaller, 4 latent channels",
)
_LOCAL_MNIST_VAE = ModelInfo("local:mnist-vae", "yours: trained locally (data ylecun/mnist, mit per its card)",
                             ("any",), note="MNIST VAE, 2-D latent: python -m finetune.vae (minutes on a CPU)")
# The GAN's default data is Fashion-MNIST (its Hub card: licenses: mit); --dataset ylecun/mnist trains on digits.
_LOCAL_GAN = ModelInfo("local:gan", "yours: trained locally (data zalando-datasets/fashion_mnist, mit per its card)",
                       ("any",), note="DCGAN, 28x28 grey: python -m finetune.gan (minutes on a CPU)")
# The Playground's networks have no checkpoint to publish: a fresh one (the page's defaults) until one is trained here.
_LOCAL_PLAYGROUND = ModelInfo("local:playground", "yours: trained locally (data generated as TensorFlow Playground's, "
                              "Apache-2.0 code)", ("any",),
                              note="a fresh network until you train one: python -m finetune.playground (seconds)")

# The RL Zoo's agents (huggingface.co/sb3), each used by id and file name ({algo}-{env}.zip) in public code and the SB3
# docs (sb3/a2c-CartPole-v1 in its Hugging Face integration page); no revision is pinned (none could be confirmed).
# Their cards come from rl_zoo3/push_to_hub.py, whose metadata has no licence field.
_SB3_LICENCE = "not stated on the model card (the RL Zoo's card has no licence field)"
_NORMALISED = ("normalised observations (the Zoo's normalize: true, a pickled vec_normalize.pkl): "
               "trust_remote_code=True")
_LUNAR_V2 = "trained on LunarLander-v2, which Gymnasium 1.x replaced: load with env='LunarLander-v3'"
# Metric learning: one folder per loss under local:metric-learning (python -m finetune.metric --loss ...).
_LOCAL_METRIC = ModelInfo("local:metric-learning", "yours: trained locally (data ylecun/mnist, mit per its card)",
                          ("any",), note="triplet / softmax embeddings: python -m finetune.metric (minutes on a CPU)")

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "text-generation", "pipelines.text_generation:TextGenerationPipeline",
            (
                ModelInfo("openai-community/gpt2", "mit", ("en",),
                          revision="607a30d783dfa663caf39e06633721c8d4cfcd7e", note="124M, CPU-friendly"),
                ModelInfo("speakleash/Bielik-1.5B-v3.0-Instruct", "apache-2.0 (+ Bielik terms of use)", ("pl", "en"),
                          note="Polish chat model, 1.6B"),
                ModelInfo("speakleash/Bielik-4.5B-v3.0-Instruct", "apache-2.0 (+ Bielik terms of use)", ("pl", "en"),
                          note="Polish chat model, 4.6B: GPU"),
                ModelInfo("speakleash/Bielik-11B-v2.6-Instruct", "apache-2.0 (+ Bielik terms of use)", ("pl", "en"),
                          note="Polish chat model, 11B: GPU, or 4-bit"),
            ),
            aliases=("generate", "text-gen", "llm", "chat"),
            description="Text continuation and chat, streamed or batched.",
            tiny_variants=("tiny", "tiny-chat"),
        ),
        TaskSpec(
            "sentiment", "pipelines.sentiment:SentimentPipeline",
            (
                ModelInfo("cardiffnlp/twitter-xlm-roberta-base-sentiment", "not stated on the model card",
                          ("multilingual", "pl", "en"), revision="f3e34b6c30bf27b6649f72eca85d0bbe79df1e55",
                          note="XLM-R base, 3 classes"),
                ModelInfo("bardsai/twitter-sentiment-pl-base", "not stated on the model card", ("pl",),
                          note="HerBERT base, 3 classes"),
                ModelInfo("cardiffnlp/twitter-roberta-base-sentiment-latest", "not stated on the model card", ("en",),
                          note="RoBERTa base, 3 classes"),
                ModelInfo("tabularisai/multilingual-sentiment-analysis", "cc-by-nc-4.0", ("multilingual", "pl", "en"),
                          commercial_use=False, note="5 classes, folded to 3"),
            ),
            aliases=("sentiment-analysis", "text-classification", "sentyment"),
            description="Positive / neutral / negative with a score for each.",
        ),
        TaskSpec(
            "text-to-image", "pipelines.image_generation:TextToImagePipeline", (_SD_TURBO, _SD_15),
            aliases=("stable-diffusion", "txt2img", "t2i"),
            description="Stable Diffusion: an image from a prompt.",
        ),
        TaskSpec(
            "image-to-image", "pipelines.image_generation:ImageToImagePipeline", (_SD_TURBO, _SD_15),
            aliases=("img2img", "i2i"),
            description="Stable Diffusion: an image redrawn from a prompt.",
        ),
        TaskSpec(
            "style-transfer", "pipelines.style_transfer:StyleTransferPipeline",
            (ModelInfo("timm/vgg19.tv_in1k", "bsd-3-clause", ("any",), note="VGG-19 features only"),),
            aliases=("neural-style", "gatys"),
            description="Gatys et al. neural style transfer over VGG-19 features.",
        ),
        TaskSpec(
            "separation", "pipelines.separation:SeparationPipeline",
            (
                ModelInfo("htdemucs", "mit", ("music",), note="Hub adefossez/HTDemucs; 4 stems"),
                ModelInfo("htdemucs_ft", "mit", ("music",), note="Hub adefossez/HTDemucs-ft; 4x slower, best quality"),
                ModelInfo("htdemucs_6s", "mit", ("music",), note="Hub adefossez/HTDemucs-6s; + guitar, piano"),
            ),
            aliases=("source-separation", "music-separation", "demucs"),
            description="Music source separation: vocals / drums / bass / other.",
        ),
        TaskSpec(
            "voice-cloning", "pipelines.voice_cloning:VoiceCloningPipeline",
            (
                # One Pocket TTS checkpoint speaks one language (Kyutai ships weights and a tokenizer per language);
                # eustlb/pocket-tts is the English one. Every other language: MMS-TTS + kNN-VC, see
                # pipelines/tts_languages.py and `python -m pipelines list voice-cloning`.
                ModelInfo("eustlb/pocket-tts", "cc-by-4.0 (speaker consent required)", ("en",),
                          note="Pocket TTS (English), clones from the clip; other languages via MMS-TTS + kNN-VC"),
                ModelInfo("facebook/mms-tts-pol", "cc-by-nc-4.0", ("pl",), commercial_use=False,
                          note="MMS-TTS + kNN-VC; facebook/mms-tts-<code> for 1,100+ languages"),
            ),
            aliases=("tts", "text-to-speech", "voice-clone"),
            description="Speech from text in the voice of a short reference clip.",
            tiny_variants=("tiny", "tiny-no-cloning"),
            language_table="pipelines.tts_languages",
        ),
        TaskSpec(
            "voice-conversion", "pipelines.voice_cloning:VoiceConversionPipeline",
            (ModelInfo("microsoft/wavlm-large", "mit", ("any",), note="kNN-VC: WavLM-Large layer 6 + HiFi-GAN"),),
            aliases=("knn-vc", "vc"),
            description="The same speech, in the voice of a reference clip.",
        ),
        TaskSpec(  # licences: the model cards (MusicGen weights CC-BY-NC-4.0; Wan-Video/Wan2.1, Wan2.2: Apache 2.0)
            "text-to-music", "pipelines.music_generation:MusicGenerationPipeline",
            (
                ModelInfo("facebook/musicgen-small", "cc-by-nc-4.0", ("en",), commercial_use=False,
                          note="300M, 32 kHz mono, 30 s windows"),
                ModelInfo("facebook/musicgen-medium", "cc-by-nc-4.0", ("en",), commercial_use=False,
                          note="1.5B: GPU"),
                ModelInfo("facebook/musicgen-large", "cc-by-nc-4.0", ("en",), commercial_use=False,
                          note="3.3B: GPU"),
                ModelInfo("facebook/musicgen-melody", "cc-by-nc-4.0", ("en",), commercial_use=False,
                          note="1.5B, follows a melody clip: GPU"),
            ),
            aliases=("music", "musicgen", "text-to-audio", "muzyka"),
            description="MusicGen: music from a prompt (and a melody), any length by continuation.",
            tiny_variants=("tiny", "tiny-melody"),
        ),
        TaskSpec(
            "text-to-video", "pipelines.video_generation:TextToVideoPipeline",
            (
                ModelInfo("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "apache-2.0", ("en", "zh"),
                          note="1.3B, 480p, 16 fps, ~8 GB VRAM"),
                ModelInfo("Wan-AI/Wan2.2-TI2V-5B-Diffusers", "apache-2.0", ("en", "zh"),
                          note="5B, 720p, 24 fps, text or image to video: 24 GB GPU"),
            ),
            aliases=("video", "wan", "t2v", "wideo"),
            description="Wan 2.1 / 2.2: a short video from a prompt (or a first image).",
            tiny_variants=("tiny", "tiny-ti2v"),
        ),
        TaskSpec(
            "digit-recognition", "pipelines.digit_recognition:DigitRecognitionPipeline", (_LOCAL_DIGITS,),
            aliases=("digits", "mnist", "nn-vis"),
            description="A handwritten digit, and what every layer of the nn_vis CNN computed on the way.",
        ),
        TaskSpec(
            "activation-maximisation", "pipelines.activation_maximisation:ActivationMaximisationPipeline",
            (_LOCAL_DIGITS,),
            aliases=("activation-maximization", "class-visualisation", "feature-visualisation"),
            description="The picture a trained digit CNN finds most like a class (gradient ascent on the pixels).",
        ),
        TaskSpec(
            "deep-dream", "pipelines.deep_dream:DeepDreamPipeline", (_VGG19,),
            aliases=("deepdream", "dream", "inceptionism"),
            description="DeepDream: what a VGG-19 layer sees in a photo, amplified (octaves, jitter, gradient "
                        "ascent).",
        ),
        TaskSpec(
            "autoencoder", "pipelines.autoencoder:AutoencoderPipeline", (_SD_TURBO_VAE, _LOCAL_MNIST_VAE),
            aliases=("vae", "autoencoders", "latent-space"),
            description="Autoencoders: Stable Diffusion's VAE (reconstruction, latents, compression, PSNR) and an "
                        "MNIST VAE with a 2-D latent map.",
            tiny_variants=("tiny", "tiny-mnist"),
        ),
        TaskSpec(
            "gan", "pipelines.gan:GanPipeline", (_LOCAL_GAN,),
            aliases=("dcgan", "gans", "generative-adversarial-network"),
            description="A DCGAN: new 28x28 pictures (clothes or digits) from seeded noise; train it live.",
        ),
        TaskSpec(
            "reinforcement-learning", "pipelines.reinforcement_learning:ReinforcementLearningPipeline",
            (
                ModelInfo("sb3/ppo-CartPole-v1", _SB3_LICENCE, ("any",), note="PPO on CartPole-v1 (RL Zoo)"),
                ModelInfo("sb3/dqn-CartPole-v1", _SB3_LICENCE, ("any",), note="DQN on CartPole-v1 (RL Zoo)"),
                ModelInfo("sb3/a2c-CartPole-v1", _SB3_LICENCE, ("any",), note="A2C on CartPole-v1 (RL Zoo)"),
                ModelInfo("sb3/dqn-Acrobot-v1", _SB3_LICENCE, ("any",), note="DQN on Acrobot-v1 (RL Zoo)"),
                ModelInfo("sb3/ppo-Acrobot-v1", _SB3_LICENCE, ("any",), note=_NORMALISED),
                ModelInfo("sb3/dqn-MountainCar-v0", _SB3_LICENCE, ("any",), note="DQN on MountainCar-v0 (RL Zoo)"),
                ModelInfo("sb3/ppo-MountainCar-v0", _SB3_LICENCE, ("any",), note=_NORMALISED),
                ModelInfo("sb3/ppo-LunarLander-v2", _SB3_LICENCE, ("any",), note=_LUNAR_V2),
                ModelInfo("sb3/dqn-LunarLander-v2", _SB3_LICENCE, ("any",), note=_LUNAR_V2),
            ),
            aliases=("rl", "agent", "sb3", "stable-baselines3", "gymnasium", "uczenie-ze-wzmocnieniem"),
            description="A stable-baselines3 agent (PPO, A2C, DQN) plays seeded Gymnasium episodes: returns, a video, "
                        "the per-step rewards; train one with python -m finetune.rl.",
            tiny_variants=("tiny", "tiny-dqn"),
        ),
        # ACE-Step 1.5 in diffusers' layout (model_index.json naming AceStepPipeline). The turbo id is diffusers' own
        # (docs/source/en/api/pipelines/ace_step.md and AceStepPipeline's example, PR #13787); the XL base id is the
        # Hub card "ACE-Step v1.5 XL Base Diffusers" ("the official Diffusers-format version"). Licence: MIT is the
        # ACE-Step 1.5 project's (github.com/ace-step/ACE-Step-1.5 README and LICENSE); these repositories' own card
        # field could not be read here. No revision pinned: none could be confirmed.
        TaskSpec(
            "text-to-song", "pipelines.song_generation:SongGenerationPipeline",
            (
                ModelInfo("ACE-Step/acestep-v15-xl-turbo-diffusers",
                          "mit (ACE-Step 1.5 project; this card's field unconfirmed)", ("multilingual", "pl", "en"),
                          note="ACE-Step 1.5 XL turbo: 8 steps, 48 kHz stereo, 10-600 s; GPU"),
                ModelInfo("ACE-Step/acestep-v15-xl-base-diffusers",
                          "mit (ACE-Step 1.5 project; this card's field unconfirmed)", ("multilingual", "pl", "en"),
                          note="ACE-Step 1.5 XL base (5B DiT): guidance 7, 32-64 steps; GPU"),
            ),
            aliases=("song", "songs", "ace-step", "acestep", "piosenka"),
            description="ACE-Step 1.5: a song with vocals from style tags and lyrics (50 languages, Polish too).",
            tiny_variants=("tiny", "tiny-base"),
            language_table="pipelines.song_languages",
        ),
        TaskSpec(
            "playground", "pipelines.playground:PlaygroundPipeline", (_LOCAL_PLAYGROUND,),
            aliases=("classification", "regression", "tensorflow-playground", "nn-playground"),
            description="TensorFlow Playground in PyTorch: classify or regress 2-D points and watch every neuron "
                        "learn.",
        ),
        TaskSpec(
            "metric-learning", "pipelines.metric_learning:MetricLearningPipeline", (_LOCAL_METRIC,),
            aliases=("clustering", "embeddings", "triplet", "metric", "klasteryzacja"),
            description="Clustering: k-means on raw digits vs on embeddings learned with a triplet and a softmax "
                        "loss (pytorch-metric-learning): maps, ARI / NMI / silhouette / k-NN accuracy, find similar.",
        ),
    )
}

# Import name -> pip requirement, for the "missing dependency" message.
_PIP_NAMES = {"demucs": "'demucs>=4.1'", "lm_eval": "lm-eval", "soundfile": "soundfile", "soxr": "soxr",
              "diffusers": "diffusers", "peft": "peft", "sklearn": "scikit-learn", "Levenshtein": "levenshtein"}

_ALIASES: dict[str, str] = {alias: spec.name for spec in TASKS.values() for alias in spec.aliases}

#: The reserved model names (tiny random models); any other name is a Hub id or a folder, "tinyllama/..." too.
TINY_NAMES: frozenset[str] = frozenset(v for spec in TASKS.values() for v in spec.tiny_variants)


def resolve_task(task: str) -> TaskSpec:
    """The TaskSpec for a task name or alias; `InputError` with the known names and a did-you-mean otherwise."""
    known = sorted(TASKS)
    if not isinstance(task, str):
        raise InputError("task", task, f"a task name, one of {', '.join(known)}")
    key = task.strip().lower().replace("_", "-")
    name = key if key in TASKS else _ALIASES.get(key)
    if name is None:
        close = difflib.get_close_matches(key, known + sorted(_ALIASES), n=1)
        hint = f"Did you mean {close[0]!r}?" if close else "See `python -m pipelines list`."
        raise InputError("task", task, f"one of the known tasks ({', '.join(known)}) or an alias", hint)
    return TASKS[name]


def load(task: str, model: str | None = None, device: str | None = None, dtype: Any = None,
         **options: Any):
    """Load the pipeline for `task` with `model` (a Hub id, a local folder, or ``"tiny"``; default: the registry's).

    Args:
        task (`str`): a task name or alias, e.g. ``"sentiment"`` or ``"sentiment-analysis"``.
        model (`str`, *optional*): Hub id, local path, or the reserved ``"tiny"`` (a tiny random model, offline).
        device (`str`, *optional*): ``"cuda"``, ``"cpu"``, ``"cuda:1"``...; default CUDA when present, else CPU.
        dtype (`str` or `torch.dtype`, *optional*): default float16/bfloat16 on GPU, float32 on CPU.
        options: passed to the pipeline's ``from_pretrained`` (e.g. ``revision``, ``trust_remote_code``); an option
            it does not take is an `InputError`. Text generation takes ``endpoint=`` (an OpenAI-compatible server's
            URL; `model` is then the served model's name, default the server's only one) and ``api_key=``.

    >>> gen = load("text-generation", model="tiny")
    >>> remote = load("text-generation", model="speakleash/Bielik-11B-v2.6-Instruct", endpoint="http://gpu:8000/v1")
    """
    spec = resolve_task(task)
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise InputError("model", model, "a Hub model id, a local folder or 'tiny'")
    remote = options.get("endpoint") is not None  # a server: its model names are its own, no registry default/pin
    model = model.strip() if model is not None else None if remote else spec.default.id
    module_name, class_name = spec.target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and not err.name.startswith("pipelines"):
            package = _PIP_NAMES.get(err.name.split(".")[0], err.name.split(".")[0])
            raise ModelLoadError(model, "missing_dependency",
                                 f"task {spec.name!r} needs {err.name!r}: pip install {package}") from err
        raise
    pipeline_class = getattr(module, class_name)
    from pipelines.base import check_keywords

    check_keywords(pipeline_class.from_pretrained, options, f"load({spec.name!r})", skip=1)
    if model in TINY_NAMES:
        if model not in spec.tiny_variants:
            raise InputError("model", model, f"one of {list(spec.tiny_variants)} for task {spec.name!r}")
        from pipelines import tiny

        model = str(tiny.build(spec.name, model))
    elif not remote:
        info = spec.model_info(model)
        if info is not None and info.revision and "revision" not in options:
            options["revision"] = info.revision
    return pipeline_class.from_pretrained(model, device=device, dtype=dtype, **options)
