"""kNN-VC pieces (Baas, van Niekerk & Kamper 2023, https://github.com/bshall/knn-vc, MIT), built from transformers.

- **features**: WavLM (`transformers.WavLMModel`, ``microsoft/wavlm-large``) layer 6 of the raw 16 kHz waveform, one
  1024-d frame per 320 samples, ``len // 320`` frames as in kNN-VC's training features (`frame_count`); the model is
  cut after that layer (see `load_wavlm`); long audio goes through in overlapping chunks (`wavlm_features`);
- **reference trimming**: SoX's voice activity detector at trigger level 7 at both ends of each reference clip, as
  ``matcher.py`` ``get_matching_set`` does (`pipelines.voice_dsp.vad_trim`);
- **matching**: each source frame is replaced by the mean of its k=4 nearest reference frames by cosine distance
  (`knn_match`; ``matcher.py`` ``match(topk=4)``);
- **loudness**: the vocoded output is scaled to -16 LUFS (ITU-R BS.1770-4), ``match(tgt_loudness_db=-16)``
  (`pipelines.voice_dsp.normalize_loudness`);
- **vocoder**: kNN-VC's "prematched" HiFi-GAN, a ``Linear(1024 -> 512)`` followed by a standard HiFi-GAN that
  upsamples by 320 (10 x 8 x 2 x 2) to 16 kHz. It is published only as a PyTorch checkpoint in a GitHub release
  (`VOCODER_URL`), not on the Hub. `load_vocoder` fetches it once, converts it (weight norm folded, ``ups.`` renamed
  ``upsampler.``) into a `transformers.SpeechT5HifiGan` plus the ``lin_pre`` projection, and caches that as
  safetensors under ``$MMHUB_CACHE/knn-vc/``. The conversion is exact (`convert_generator_state_dict`).

No SHA-256 of the release asset was published with it and none was known when this was written, so none is
hard-coded: the first download records the digest it got in ``<cache>/prematch_g_02500000.pt.sha256`` and logs it;
later conversions of a ``.pt`` file are checked against that record, and ``MMHUB_KNNVC_SHA256`` (or the
``vocoder_sha256=`` option) pins an expected value.

>>> from pipelines.knn_vc import load_vocoder, load_wavlm
>>> wavlm = load_wavlm("microsoft/wavlm-large")
>>> vocoder = load_vocoder()            # fetched from GitHub once, then read from the cache
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from pipelines.errors import ModelLoadError

logger = logging.getLogger(__name__)

VOCODER_URL = "https://github.com/bshall/knn-vc/releases/download/v0.1/prematch_g_02500000.pt"
VOCODER_NAME = "prematch_g_02500000"
SAMPLE_RATE = 16_000
HOP_LENGTH = 320  # WavLM frames are 20 ms; the vocoder upsamples each frame to 320 samples
RECEPTIVE_FIELD = 400  # WavLM's convolutional front end sees 400 samples per frame
FEATURE_LAYER = 6

# hifigan/config_v1_wavlm.json of bshall/knn-vc: the generator's hyper-parameters.
KNNVC_HIFIGAN = {
    "resblock": "1",
    "upsample_rates": [10, 8, 2, 2],
    "upsample_kernel_sizes": [20, 16, 4, 4],
    "upsample_initial_channel": 512,
    "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "hubert_dim": 1024,
    "hifi_dim": 512,
    "sampling_rate": 16000,
}


# ------------------------------------------------------------------------------------------------------------------
# matching


def knn_match(query, pool, k: int = 4, chunk_size: int = 4096):
    """Replace each row of `query` ``(N, D)`` by the mean of its `k` nearest rows of `pool` ``(M, D)`` (cosine).

    Rows are processed `chunk_size` at a time so memory stays ``chunk_size x M`` whatever the length of `query`.
    """
    import torch

    k = min(k, pool.shape[0])
    pool_unit = torch.nn.functional.normalize(pool.float(), dim=-1)
    out = torch.empty(query.shape[0], pool.shape[1], dtype=pool.dtype, device=pool.device)
    for start in range(0, query.shape[0], chunk_size):
        rows = torch.nn.functional.normalize(query[start:start + chunk_size].float(), dim=-1)
        similarity = rows @ pool_unit.T  # cosine similarity: the k largest are the k nearest
        nearest = similarity.topk(k, dim=-1).indices
        out[start:start + chunk_size] = pool[nearest].mean(dim=1)
    return out


# ------------------------------------------------------------------------------------------------------------------
# features


def load_wavlm(model: str, layer: int = FEATURE_LAYER, device: Any = None, dtype: Any = None, **options: Any):
    """`WavLMModel` cut after `layer` transformer layers, whose ``last_hidden_state`` is ``hidden_states[layer]``.

    Only the first `layer` layers are loaded (the rest would be computed and thrown away). For the pre-norm WavLM
    (``do_stable_layer_norm``, WavLM-Large) the encoder's closing layer norm is dropped, since kNN-VC reads the
    un-normalised output of layer 6.
    """
    import torch
    from transformers import WavLMConfig, WavLMModel

    config = WavLMConfig.from_pretrained(model, **options)
    if config.num_hidden_layers < layer:
        raise ModelLoadError(model, "incompatible", f"it has {config.num_hidden_layers} layers; kNN-VC reads "
                                                    f"layer {layer}.")
    config.num_hidden_layers = layer
    wavlm = WavLMModel.from_pretrained(model, config=config, dtype=dtype, **options)
    if config.do_stable_layer_norm:
        wavlm.encoder.layer_norm = torch.nn.Identity()
    return wavlm.to(device).eval()


def frame_count(num_samples: int) -> int:
    """WavLM frames (and vocoded 320-sample hops) kNN-VC makes of `num_samples` 16 kHz samples: ``num_samples // 320``.

    bshall/knn-vc ``prematch_dataset.py`` ``get_full_features`` (the features its vocoder was trained on) pads
    ``320 - len % 320`` zeros before WavLM ("This does [work i.t.o. the hifigan training]"), so WavLM's convolutions
    (400-sample receptive field, 320-sample hop) give exactly ``len // 320`` frames. (``matcher.py``'s inference path
    feeds the clip unpadded, which gives ``(len - 400) // 320 + 1``: one frame fewer whenever ``len % 320 < 80``.)
    """
    return num_samples // HOP_LENGTH


def wavlm_features(wavlm, audio, chunk_seconds: float = 30.0, context_seconds: float = 5.0):
    """WavLM features ``(len(audio) // 320, D)`` of mono 16 kHz `audio` (1-D tensor), framed as kNN-VC's training
    features are (`frame_count`).

    Audio longer than `chunk_seconds` goes through WavLM in chunks (attention cost grows with the square of the
    length); each chunk is computed with `context_seconds` of the neighbouring audio on both sides and only its own
    frames are kept, so that frames near a chunk boundary see context on both sides as in a single pass. Convolutions
    are local and match a single pass exactly; attention to frames beyond the context is what differs (WavLM's
    relative position bias reaches 800 frames = 16 s).
    """
    import torch

    total = frame_count(audio.shape[-1])
    param = next(wavlm.parameters())
    if total == 0:
        return torch.zeros(0, wavlm.config.hidden_size)
    padded = torch.nn.functional.pad(audio, (0, HOP_LENGTH - audio.shape[-1] % HOP_LENGTH))  # prematch_dataset.py
    chunk = max(1, int(chunk_seconds * SAMPLE_RATE) // HOP_LENGTH)
    context = max(0, int(context_seconds * SAMPLE_RATE) // HOP_LENGTH)
    out = []
    for first in range(0, total, chunk):
        last = min(total, first + chunk)
        start, end = max(0, first - context), min(total, last + context)
        # frames start..end-1 need samples [320 * start, 320 * (end - 1) + 400); a single pass takes the whole padded
        # clip as upstream does (a group-normed front end, WavLM-Base's, normalises over all the samples it sees)
        whole = start == 0 and end == total
        window = padded if whole else padded[start * HOP_LENGTH: end * HOP_LENGTH + RECEPTIVE_FIELD - HOP_LENGTH]
        with torch.inference_mode():
            hidden = wavlm(window[None].to(param.device, param.dtype)).last_hidden_state[0]
        out.append(hidden[first - start: last - start].float())
    return torch.cat(out)


# ------------------------------------------------------------------------------------------------------------------
# vocoder


class KnnVcVocoder:
    """kNN-VC's HiFi-GAN: ``lin_pre`` (WavLM dim -> HiFi-GAN input dim) then a `SpeechT5HifiGan` (16 kHz)."""

    def __init__(self, lin_pre, hifigan):
        self.lin_pre, self.hifigan = lin_pre, hifigan

    @property
    def sample_rate(self) -> int:
        return int(self.hifigan.config.sampling_rate)

    def to(self, device: Any = None, dtype: Any = None) -> KnnVcVocoder:
        self.lin_pre.to(device=device, dtype=dtype)
        self.hifigan.to(device=device, dtype=dtype)
        return self

    def __call__(self, features):
        """Waveform ``(samples,)`` of features ``(frames, D)`` (or a batch ``(B, frames, D)`` -> ``(B, samples)``)."""
        import torch

        param = self.lin_pre.weight
        with torch.inference_mode():
            return self.hifigan(self.lin_pre(features.to(param.device, param.dtype)))

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        self.hifigan.save_pretrained(folder)
        state = {k: v.contiguous() for k, v in self.lin_pre.state_dict().items()}
        save_file(state, str(folder / "lin_pre.safetensors"))

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> KnnVcVocoder:
        import torch
        from safetensors.torch import load_file
        from transformers import SpeechT5HifiGan

        folder = Path(folder)
        hifigan = SpeechT5HifiGan.from_pretrained(folder).eval()
        state = load_file(str(folder / "lin_pre.safetensors"))
        out_dim, in_dim = state["weight"].shape
        lin_pre = torch.nn.Linear(in_dim, out_dim)
        lin_pre.load_state_dict(state)
        return cls(lin_pre.eval(), hifigan)


def hifigan_config(hparams: dict | None = None):
    """The `SpeechT5HifiGanConfig` of a kNN-VC generator with these hyper-parameters (default: the published ones)."""
    from transformers import SpeechT5HifiGanConfig

    h = {**KNNVC_HIFIGAN, **(hparams or {})}
    if str(h["resblock"]) != "1":
        raise ModelLoadError("knn-vc vocoder", "incompatible", "only HiFi-GAN ResBlock1 generators convert to "
                                                               "SpeechT5HifiGan")
    return SpeechT5HifiGanConfig(model_in_dim=h["hifi_dim"], sampling_rate=h["sampling_rate"],
                                 upsample_initial_channel=h["upsample_initial_channel"],
                                 upsample_rates=list(h["upsample_rates"]),
                                 upsample_kernel_sizes=list(h["upsample_kernel_sizes"]),
                                 resblock_kernel_sizes=list(h["resblock_kernel_sizes"]),
                                 resblock_dilation_sizes=[list(d) for d in h["resblock_dilation_sizes"]],
                                 leaky_relu_slope=0.1, normalize_before=False)


def convert_generator_state_dict(state: dict, hparams: dict | None = None) -> KnnVcVocoder:
    """A `KnnVcVocoder` from the state dict of kNN-VC's original ``hifigan.models.Generator``.

    Widths and kernel sizes are read from the weights; strides and dilations are the published ones unless
    `hparams` (keys of `KNNVC_HIFIGAN`) says otherwise.

    Weight-normed layers (``weight_g`` / ``weight_v``, or ``parametrizations.weight.original0/1``) are folded into
    plain weights exactly as `torch.nn.utils.weight_norm` computes them; ``ups.*`` becomes ``upsampler.*``;
    ``lin_pre`` is kept as its own `torch.nn.Linear`.
    """
    import torch
    from transformers import SpeechT5HifiGan

    folded: dict[str, Any] = {}
    for key, value in state.items():
        if key.endswith((".weight_v", ".parametrizations.weight.original1")):
            continue
        if key.endswith(".weight_g"):
            base = key[: -len(".weight_g")]
            folded[base + ".weight"] = torch._weight_norm(state[base + ".weight_v"], value, 0)
        elif key.endswith(".parametrizations.weight.original0"):
            base = key[: -len(".parametrizations.weight.original0")]
            folded[base + ".weight"] = torch._weight_norm(state[base + ".parametrizations.weight.original1"],
                                                          value, 0)
        else:
            folded[key] = value
    lin_keys = {k: v for k, v in folded.items() if k.startswith("lin_pre.")}
    if set(lin_keys) != {"lin_pre.weight", "lin_pre.bias"}:
        raise ModelLoadError("knn-vc vocoder", "incompatible", "the checkpoint has no `lin_pre` projection: it is not "
                                                               "a kNN-VC generator.")
    config = hifigan_config({**_geometry(folded), **(hparams or {})})
    hifi_dim, hubert_dim = lin_keys["lin_pre.weight"].shape
    renamed = {("upsampler." + k[len("ups."):] if k.startswith("ups.") else k): v
               for k, v in folded.items() if not k.startswith("lin_pre.")}
    hifigan = SpeechT5HifiGan(config)
    renamed["mean"], renamed["scale"] = hifigan.mean, hifigan.scale  # unused: normalize_before=False
    try:
        hifigan.load_state_dict(renamed, strict=True)
    except RuntimeError as err:
        raise ModelLoadError("knn-vc vocoder", "incompatible", f"the weights do not fit ({err})") from err
    lin_pre = torch.nn.Linear(hubert_dim, hifi_dim)
    lin_pre.load_state_dict({"weight": lin_keys["lin_pre.weight"], "bias": lin_keys["lin_pre.bias"]})
    return KnnVcVocoder(lin_pre.eval(), hifigan.eval())


def _geometry(state: dict) -> dict:
    """The hyper-parameters the weights' shapes tell (widths, kernel sizes, block counts); strides and dilations
    cannot be read from shapes and stay the published ones."""
    ups = sorted({int(k.split(".")[1]) for k in state if k.startswith("ups.")})
    blocks = sorted({int(k.split(".")[1]) for k in state if k.startswith("resblocks.")})
    if not ups or not blocks or len(blocks) % len(ups):
        raise ModelLoadError("knn-vc vocoder", "incompatible", "the checkpoint is not a HiFi-GAN generator")
    per_stage = len(blocks) // len(ups)
    dilations = len({k.split(".")[3] for k in state if k.startswith("resblocks.0.convs1.")})
    published = KNNVC_HIFIGAN
    if len(ups) != len(published["upsample_rates"]) or dilations != len(published["resblock_dilation_sizes"][0]):
        logger.warning("the generator's upsampling stages or dilations differ from kNN-VC's published ones: pass "
                       "`hparams` with its upsample_rates and resblock_dilation_sizes")
    return {
        "hifi_dim": state["lin_pre.weight"].shape[0], "hubert_dim": state["lin_pre.weight"].shape[1],
        "upsample_initial_channel": state["conv_pre.weight"].shape[0],
        "upsample_kernel_sizes": [state[f"ups.{i}.weight"].shape[-1] for i in ups],
        "resblock_kernel_sizes": [state[f"resblocks.{j}.convs1.0.weight"].shape[-1] for j in range(per_stage)],
        "resblock_dilation_sizes": published["resblock_dilation_sizes"][:1] * per_stage,
    }


def cache_dir() -> Path:
    """``$MMHUB_CACHE/knn-vc`` (default ``~/.cache/mmhub/knn-vc``)."""
    return Path(os.environ.get("MMHUB_CACHE", "~/.cache/mmhub")).expanduser() / "knn-vc"


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert_checkpoint(checkpoint: str | os.PathLike, folder: str | os.PathLike,
                       expected_sha256: str | None = None) -> Path:
    """Convert kNN-VC's ``prematch_g_02500000.pt`` (``{"generator": state_dict, ...}``) into `folder` (safetensors).

    The file is read with ``torch.load(weights_only=True)``: tensors and plain containers only, no code.
    """
    import torch

    checkpoint = Path(checkpoint).expanduser()
    digest = sha256_of(checkpoint)
    if expected_sha256 and digest != expected_sha256.lower():
        raise ModelLoadError(str(checkpoint), "incompatible", f"SHA-256 {digest} differs from the expected "
                                                              f"{expected_sha256}: a corrupt or different file.")
    try:
        package = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        raise ModelLoadError(str(checkpoint), "incompatible", f"not a readable PyTorch checkpoint ({err})") from err
    state = package.get("generator", package) if isinstance(package, dict) else None
    if not isinstance(state, dict):
        raise ModelLoadError(str(checkpoint), "incompatible", "expected a dict with a 'generator' state dict")
    vocoder = convert_generator_state_dict(state)
    folder = Path(folder)
    vocoder.save_pretrained(folder)
    (folder / "source.json").write_text(json.dumps({"url": VOCODER_URL, "file": checkpoint.name, "sha256": digest},
                                                   indent=1))
    return folder


def fetch_checkpoint(url: str = VOCODER_URL, expected_sha256: str | None = None) -> Path:
    """Download kNN-VC's vocoder checkpoint into the cache once (atomically) and return its path.

    With no expected digest the first download's SHA-256 is recorded next to it (``<file>.sha256``) and logged;
    a later fetch or conversion is compared against that record.
    """
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("MMHUB_OFFLINE") == "1":
        raise ModelLoadError(url, "offline", "offline mode is on (HF_HUB_OFFLINE=1) and the kNN-VC vocoder is not "
                                             f"in {cache_dir()}. Download {url} on a machine with network access "
                                             "and pass its path as `vocoder=`.")
    target = cache_dir() / Path(url).name
    record = target.with_name(target.name + ".sha256")
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        logger.info("downloading the kNN-VC vocoder from %s", url)
        fd, tmp = tempfile.mkstemp(prefix=".download-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310
                shutil.copyfileobj(response, out)
            os.replace(tmp, target)
        except OSError as err:
            raise ModelLoadError(url, "offline", f"could not download the kNN-VC vocoder ({err}). Download it by "
                                                 "hand and pass its path as `vocoder=`.") from err
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    digest = sha256_of(target)
    expected = expected_sha256 or (record.read_text().strip() if record.exists() else None)
    if expected and digest != expected.lower():
        raise ModelLoadError(url, "incompatible", f"{target} has SHA-256 {digest}, expected {expected}. Delete it "
                                                  "to download it again.")
    if not record.exists():
        record.write_text(digest + "\n")
        logger.warning("kNN-VC vocoder downloaded; its SHA-256 is %s (recorded in %s)", digest, record)
    return target


def load_vocoder(vocoder: str | os.PathLike | None = None, device: Any = None, dtype: Any = None,
                 expected_sha256: str | None = None) -> KnnVcVocoder:
    """The kNN-VC vocoder from a converted folder, an original ``.pt`` checkpoint, or (None) the cache / GitHub."""
    expected_sha256 = expected_sha256 or os.environ.get("MMHUB_KNNVC_SHA256") or None
    if vocoder is not None:
        path = Path(vocoder).expanduser()
        if path.is_dir():
            return KnnVcVocoder.from_pretrained(path).to(device, dtype)
        if not path.is_file():
            raise ModelLoadError(str(vocoder), "not_found", "no such vocoder folder or .pt checkpoint.")
        folder = cache_dir() / f"converted-{sha256_of(path)[:16]}"
    else:
        folder = cache_dir() / VOCODER_NAME
    if not (folder / "lin_pre.safetensors").exists():
        source = path if vocoder is not None else fetch_checkpoint(expected_sha256=expected_sha256)
        staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=_mkdir(cache_dir())))
        try:
            convert_checkpoint(source, staging, expected_sha256)
            try:
                os.rename(staging, folder)
            except OSError:  # another process converted it first
                if not (folder / "lin_pre.safetensors").exists():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return KnnVcVocoder.from_pretrained(folder).to(device, dtype)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
