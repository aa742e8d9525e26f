"""Neural style transfer (Gatys, Ecker & Bethge 2016) over VGG-19 features written in plain torch.

The weights are the ``features.*`` tensors of the Hub's ``timm/vgg19.tv_in1k`` safetensors (torchvision's
ImageNet VGG-19, bsd-3-clause); no torchvision or timm is needed.

>>> from pipelines import load
>>> st = load("style-transfer")                                   # timm/vgg19.tv_in1k
>>> result = st("photo.jpg", "starry_night.jpg", steps=300, max_size=512, seed=0)
>>> result.image.save("stylised.png"); result.losses[-1] < result.losses[0]
True
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pipelines import validate
from pipelines.base import (
    Pipeline,
    ProgressCallback,
    Result,
    is_local_path,
    resolve_device,
    resolve_dtype,
    translating_load_errors,
)
from pipelines.errors import InputError, ModelLoadError
from pipelines.images import fit_within, load_image

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CONTENT_LAYER = "conv4_2"
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise")
POOLINGS = ("max", "avg")
# Finite ranges of the call parameters (documented in `StyleTransferPipeline.__call__`).
MAX_STEPS = 5000
MAX_CONTENT_WEIGHT = 1e6
MAX_STYLE_WEIGHT = 1e12  # the default is 1e6; 1e300 overflows float32 into NaN
MAX_TV_WEIGHT = 1e6
MAX_LAYER_WEIGHT = 1e6
MAX_LEARNING_RATE = 100.0

# `pipelines.base.ProgressCallback` here:
# ``progress(step, total, info)``: ``step`` counts loss evaluations from 1 to ``total`` (= ``steps``); ``info`` is
# ``{"loss", "content_loss", "style_loss", "tv_loss": float, "image": PIL.Image | None}`` with the intermediate
# image every ``preview_every`` steps. Return ``False`` to stop early (the result says ``interrupted``).


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices of `features` ``(B, C, H, W)``: ``F Fᵀ / (C·H·W)`` with ``F`` the ``(C, H·W)`` reshape."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels of ``(B, C, H, W)`` (anisotropic TV, L1)."""
    return ((image[..., 1:, :] - image[..., :-1, :]).abs().mean()
            + (image[..., :, 1:] - image[..., :, :-1]).abs().mean())


class VGGFeatures(nn.Module):
    """VGG ``features`` as plain torch: 3x3 conv + ReLU stacks, a 2x2 pool after each block, ImageNet input norm.

    Built from a ``features.<idx>.weight/bias`` state dict (torchvision / timm indices: conv at ``idx``, its ReLU at
    ``idx + 1``, a pool where the next conv index jumps by 3). Layers are named ``conv<block>_<n>`` as in the paper;
    `forward` returns the post-ReLU activations of the layers asked for, and runs no further than the deepest one.
    """

    def __init__(self, state: dict[str, torch.Tensor], mean: tuple[float, ...] = IMAGENET_MEAN,
                 std: tuple[float, ...] = IMAGENET_STD):
        super().__init__()
        indices = sorted(int(k.split(".")[1]) for k in state if k.startswith("features.") and k.endswith(".weight"))
        if not indices:
            raise ValueError("no `features.<idx>.weight` tensors: not a VGG checkpoint")
        self.convs = nn.ModuleList()
        self.pool_after: list[bool] = []  # pool_after[i]: a pool follows conv i
        self.names: list[str] = []
        block, n, in_channels = 1, 0, 3
        for i, index in enumerate(indices):
            weight, bias = state[f"features.{index}.weight"], state.get(f"features.{index}.bias")
            if weight.ndim != 4 or weight.shape[1] != in_channels or weight.shape[2:] != (3, 3):
                raise ValueError(f"features.{index}.weight has shape {tuple(weight.shape)}: not a VGG 3x3 conv "
                                 f"on {in_channels} channels")
            conv = nn.Conv2d(in_channels, weight.shape[0], 3, padding=1, bias=bias is not None)
            conv.weight.data.copy_(weight)
            if bias is not None:
                conv.bias.data.copy_(bias)
            self.convs.append(conv)
            n += 1
            self.names.append(f"conv{block}_{n}")
            gap = (indices[i + 1] - index) if i + 1 < len(indices) else 3
            if gap not in (2, 3):
                raise ValueError(f"features.{index} is followed by features.{index + gap}: not the VGG layout")
            self.pool_after.append(gap == 3)
            if gap == 3:
                block, n = block + 1, 0
            in_channels = weight.shape[0]
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    def forward(self, image: torch.Tensor, layers: tuple[str, ...] | list[str],
                pooling: str = "max") -> dict[str, torch.Tensor]:
        """Activations ``{name: (B, C, H, W)}`` of `layers` for `image` ``(B, 3, H, W)`` with values in [0, 1]."""
        wanted = set(layers)
        last = max(self.names.index(name) for name in wanted)
        pool = F.max_pool2d if pooling == "max" else F.avg_pool2d
        x, out = (image - self.mean) / self.std, {}
        for i in range(last + 1):
            x = F.relu(self.convs[i](x), inplace=True)
            if self.names[i] in wanted:
                out[self.names[i]] = x
            if self.pool_after[i] and i < last:
                x = pool(x, 2, 2)
        return out


@dataclasses.dataclass
class StyleTransferResult(Result):
    """The stylised image, the loss per step (total, and each term in `history`), and what was resized."""

    image: Any
    losses: list[float]
    resized: bool
    size: tuple[int, int]
    original_size: tuple[int, int]
    steps: int
    seed: int
    history: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    interrupted: bool = False


class _Stop(Exception):
    """The progress callback asked to stop."""


class _Budget(Exception):
    """L-BFGS's line search asked for one evaluation more than `steps`."""


class StyleTransferPipeline(Pipeline):
    """Gatys et al. style transfer: optimise the pixels so VGG-19 sees the content of one image, the style of another.

    Content: conv4_2 activations (MSE). Style: Gram matrices, normalised by size, of conv1_1 ... conv5_1 (MSE,
    per-layer weights). Plus a total-variation term. L-BFGS by default (as in the PyTorch tutorial: no line search,
    the image clamped to [0, 1] before each evaluation; ``line_search=True`` adds torch's strong-Wolfe search,
    steadier on badly scaled losses at some cost per step), or Adam.

    >>> from pipelines import load
    >>> st = load("style-transfer", model="timm/vgg19.tv_in1k")
    >>> st("photo.jpg", "style.jpg", steps=100, max_size=256, preserve_colors=True).image.size
    (256, 192)
    """

    task = "style-transfer"

    def __init__(self, vgg: VGGFeatures, model_id: str, device: Any, dtype: Any):
        super().__init__(model_id, device, dtype)
        self.vgg = vgg

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None, revision: str | None = None,
                        **options: Any) -> StyleTransferPipeline:
        """Load VGG features from a Hub repo or folder holding a timm-format ``model.safetensors`` (+ ``config.json``).

        Args:
            model (`str`): ``"timm/vgg19.tv_in1k"`` (default), ``"timm/vgg16.tv_in1k"``, or a local folder.
            device (`str`, *optional*): default CUDA when present, else CPU.
            dtype (`str` or `torch.dtype`, *optional*): default float32 everywhere (L-BFGS wants full precision).
            revision (`str`, *optional*): a Hub revision.
        """
        if options:
            raise InputError("options", sorted(options), "nothing beyond device, dtype and revision for this task")
        revision = validate.optional_text("revision", revision, allow_empty=False)
        device = resolve_device(device)
        dtype = torch.float32 if dtype is None else resolve_dtype(dtype, device)
        with translating_load_errors(model, cls.task):
            weights, config = _fetch(model, revision)
            state = _read_features(weights)
        if not state:
            raise ModelLoadError(model, "wrong_task", f"{WEIGHTS_FILE} holds no `features.*` tensors: not a VGG.")
        cfg = config.get("pretrained_cfg", {})
        try:
            vgg = VGGFeatures(state, tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD)))
        except ValueError as err:
            raise ModelLoadError(model, "incompatible", str(err)) from err
        missing = [name for name in (CONTENT_LAYER, *STYLE_LAYERS) if name not in vgg.names]
        if missing:
            raise ModelLoadError(model, "incompatible", f"the network has no layer {', '.join(missing)}.")
        return cls(vgg.to(device=device, dtype=dtype), model, device, dtype)

    def __call__(self, content: Any, style: Any, steps: int = 300, seed: int | None = None,
                 content_weight: float = 1.0, style_weight: float = 1e6, tv_weight: float = 1.0,
                 style_layer_weights: dict[str, float] | None = None, content_layer: str = CONTENT_LAYER,
                 optimizer: str = "lbfgs", learning_rate: float | None = None, line_search: bool = False,
                 init: str = "content",
                 max_size: int = 512, preserve_colors: bool = False, pooling: str = "max",
                 progress: ProgressCallback | None = None, preview_every: int = 50) -> StyleTransferResult:
        """Paint `content` in the style of `style`.

        Args:
            content, style (path, `PIL.Image.Image` or array): the two images. The output has the content's size
                (after `max_size`); the style image is scaled to the same long side.
            content, style (path, `PIL.Image.Image` or array): each at least 16 px on its short side once scaled
                (VGG's deepest style layer sits after four 2x2 poolings).
            steps (`int`, *optional*, defaults to 300): loss evaluations, 1 to 5000 (L-BFGS may stop earlier once
                converged).
            seed (`int`, *optional*): 0 to 2**63 - 1, for the noise init; default a random one, reported in the
                result.
            content_weight, style_weight, tv_weight (`float`, *optional*, defaults to 1, 1e6, 1): the loss terms'
                weights: content 0 to 1e6, style 0 to 1e12, total variation 0 to 1e6.
            style_layer_weights (`dict[str, float]`, *optional*): e.g. ``{"conv1_1": 1, "conv3_1": 0.5}``, each 0 to
                1e6; default 1.0 for each of conv1_1, conv2_1, conv3_1, conv4_1, conv5_1.
            content_layer (`str`, *optional*, defaults to ``"conv4_2"``).
            optimizer (`str`, *optional*, defaults to ``"lbfgs"``): or ``"adam"``.
            learning_rate (`float`, *optional*): in (0, 100]; default 1.0 for L-BFGS, 0.02 for Adam.
            line_search (`bool`, *optional*, defaults to `False`): L-BFGS with a strong-Wolfe line search.
            init (`str`, *optional*, defaults to ``"content"``): or ``"noise"`` (seeded).
            max_size (`int`, *optional*, defaults to 512): 64..2048; a larger content image is scaled down to it.
            preserve_colors (`bool`, *optional*): keep the content's colours (luminance-only transfer: the result's
                luminance with the content's chroma).
            pooling (`str`, *optional*, defaults to ``"max"``): or ``"avg"`` (the paper's suggestion).
            progress (`ProgressCallback`, *optional*): ``progress(step, total, info)`` after each step.
            preview_every (`int`, *optional*, defaults to 50): pass the intermediate image to `progress` every N
                steps, 0 (never) to 5000.
        """
        steps = validate.integer("steps", steps, low=1, high=MAX_STEPS)
        seed = validate.seed(seed)
        content_weight = validate.number("content_weight", content_weight, low=0.0, high=MAX_CONTENT_WEIGHT)
        style_weight = validate.number("style_weight", style_weight, low=0.0, high=MAX_STYLE_WEIGHT)
        tv_weight = validate.number("tv_weight", tv_weight, low=0.0, high=MAX_TV_WEIGHT)
        layer_weights = self._layer_weights(style_layer_weights)
        content_layer = validate.choice("content_layer", content_layer, self.vgg.names)
        optimizer = validate.choice("optimizer", optimizer, OPTIMIZERS, normalise=str.lower)
        learning_rate = validate.optional_number("learning_rate", learning_rate, low=0.0, high=MAX_LEARNING_RATE,
                                                 low_open=True, hint="None: the optimiser's default.")
        line_search = validate.boolean("line_search", line_search)
        init = validate.choice("init", init, INITS, normalise=str.lower)
        max_size = validate.integer("max_size", max_size, low=64, high=2048)
        preserve_colors = validate.boolean("preserve_colors", preserve_colors)
        pooling = validate.choice("pooling", pooling, POOLINGS, normalise=str.lower)
        validate.callback("progress", progress, "progress(step, total, info)")
        preview_every = validate.integer("preview_every", preview_every, low=0, high=MAX_STEPS, hint="0: no previews.")
        content_image, style_image = load_image(content, "content"), load_image(style, "style")
        min_side = self.min_side((content_layer, *layer_weights))
        validate.image_size("content", content_image.size, min_side=min_side)
        validate.image_size("style", style_image.size, min_side=min_side)

        # preprocess: fit the content within max_size, scale the style to the same long side
        original_size = content_image.size
        size = fit_within(original_size, max_size)
        resized = size != original_size
        if resized:
            logger.info("Content image resized from %dx%d to %dx%d (max_size=%d)", *original_size, *size, max_size)
            content_image = _resize(content_image, size)
        style_size = _scale_to(style_image.size, max(size))
        for name, scaled, original in (("content", size, original_size), ("style", style_size, style_image.size)):
            if min(scaled) < min_side:  # a long, thin picture scaled down to max_size
                raise InputError(name, f"a {original[0]}x{original[1]} image",
                                 f"an image whose short side stays at least {min_side} px once scaled to a long "
                                 f"side of {max(size)}", "Crop it, or raise max_size.")
        style_image = _resize(style_image, style_size)
        content_t, style_t = self._to_tensor(content_image), self._to_tensor(style_image)

        # forward: targets once, then optimise the pixels
        style_layers = tuple(layer_weights)
        with torch.no_grad():
            content_target = self.vgg(content_t, (content_layer,), pooling)[content_layer].clone()
            grams = {k: gram_matrix(v) for k, v in self.vgg(style_t, style_layers, pooling).items()}
        if init == "content":
            x = content_t.clone().contiguous()
        else:
            noise = torch.rand(content_t.shape, generator=torch.Generator().manual_seed(seed))
            x = noise.to(device=self.device, dtype=self.dtype)
        x.requires_grad_(True)
        if optimizer == "lbfgs":
            # Cap the L-BFGS history at about 1 GiB of vector pairs (large images), 100 pairs otherwise.
            history_size = max(5, min(100, 2**30 // (2 * x.numel() * x.element_size())))
            opt = torch.optim.LBFGS([x], lr=learning_rate or 1.0, max_iter=steps, max_eval=steps,
                                    history_size=history_size,
                                    line_search_fn="strong_wolfe" if line_search else None)
        else:
            opt = torch.optim.Adam([x], lr=learning_rate or 0.02)
        layers = tuple(dict.fromkeys((content_layer, *style_layers)))
        history: dict[str, list[float]] = {"content": [], "style": [], "tv": []}
        losses: list[float] = []
        evaluated = x.detach().clone() if line_search else None  # the last image the loss was computed on
        no_tv = torch.zeros((), device=self.device, dtype=self.dtype)

        def closure() -> torch.Tensor:
            if len(losses) >= steps:
                raise _Budget
            with torch.no_grad():
                x.clamp_(0, 1)  # the loss sees the image as it will be saved
                if evaluated is not None:
                    evaluated.copy_(x)
            opt.zero_grad(set_to_none=True)
            feats = self.vgg(x, layers, pooling)
            content_loss = F.mse_loss(feats[content_layer], content_target)
            style_loss = sum(w * F.mse_loss(gram_matrix(feats[k]), grams[k]) for k, w in layer_weights.items())
            tv_loss = total_variation(x) if tv_weight else no_tv
            loss = content_weight * content_loss + style_weight * style_loss + tv_weight * tv_loss
            loss.backward()
            values = torch.stack([loss, content_loss, style_loss, tv_loss]).detach().tolist()
            losses.append(values[0])
            for key, value in zip(history, values[1:], strict=True):
                history[key].append(value)
            if progress is not None:
                step = len(losses)
                preview = _to_image(x) if preview_every and step % preview_every == 0 else None
                info = {"loss": values[0], "content_loss": values[1], "style_loss": values[2],
                        "tv_loss": values[3], "image": preview}
                if progress(step, steps, info) is False:
                    raise _Stop
            return loss

        interrupted = False
        try:
            if optimizer == "lbfgs":
                opt.step(closure)
            else:
                for _ in range(steps):
                    closure()
                    opt.step()
        except _Budget:  # only the line search overshoots: go back to the last evaluated image, not its trial point
            if evaluated is not None:
                with torch.no_grad():
                    x.copy_(evaluated)
        except _Stop:
            interrupted = True
            logger.info("Stopped by the progress callback after %d steps.", len(losses))

        # postprocess
        image = _to_image(x)
        if preserve_colors:
            image = _luminance_transfer(image, content_image)
        return StyleTransferResult(image, losses, resized, image.size, original_size, len(losses), seed,
                                   history, interrupted)

    def _to_tensor(self, image: Any) -> torch.Tensor:
        import numpy as np

        array = np.asarray(image, dtype=np.float32) / 255.0
        tensor = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()
        return tensor.to(device=self.device, dtype=self.dtype)

    def min_side(self, layers: tuple[str, ...] | list[str]) -> int:
        """The smallest image side whose activations at the deepest of `layers` are still one pixel: 2**poolings."""
        deepest = max(self.vgg.names.index(name) for name in layers)
        return 2 ** sum(self.vgg.pool_after[:deepest])

    def _layer_weights(self, style_layer_weights: Any) -> dict[str, float]:
        if style_layer_weights is None:
            return dict.fromkeys(STYLE_LAYERS, 1.0)
        if not isinstance(style_layer_weights, dict) or not style_layer_weights:
            raise InputError("style_layer_weights", style_layer_weights,
                             "a non-empty dict {layer name: weight from 0 to 1e6}, or None (conv1_1 ... conv5_1, "
                             "1.0 each)")
        weights = {}
        for name, value in style_layer_weights.items():
            name = validate.choice("style_layer_weights", name, self.vgg.names)
            weights[name] = validate.number(f"style_layer_weights[{name!r}]", value, low=0.0, high=MAX_LAYER_WEIGHT)
        return weights


# ---------------------------------------------------------------------------------------------------- helpers


def _fetch(model: str, revision: str | None) -> tuple[str, dict[str, Any]]:
    """The local path of the weights file and the parsed timm config (empty when the repo has none)."""
    if is_local_path(model):
        folder = Path(model).expanduser()
        weights, config_path = folder / WEIGHTS_FILE, folder / "config.json"
        if not weights.is_file():
            raise ModelLoadError(model, "not_found", f"no {WEIGHTS_FILE} in the folder (a timm VGG checkpoint).")
        config = json.loads(config_path.read_text()) if config_path.is_file() else {}
        return str(weights), config
    from huggingface_hub import hf_hub_download

    weights = hf_hub_download(model, WEIGHTS_FILE, revision=revision)
    try:
        config = json.loads(Path(hf_hub_download(model, "config.json", revision=revision)).read_text())
    except Exception as err:  # the config only carries the normalisation; the defaults are ImageNet's
        logger.info("No config.json for %s (%s): ImageNet normalisation assumed", model, err)
        config = {}
    return weights, config


def _read_features(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Only the ``features.*`` tensors of a safetensors file (the classifier, most of the file, is never read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys() if k.startswith("features.")}


def _resize(image: Any, size: tuple[int, int]) -> Any:
    from PIL import Image

    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


def _scale_to(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    scale = long_side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _to_image(x: torch.Tensor) -> Any:
    from PIL import Image

    array = (x.detach()[0].clamp(0, 1).permute(1, 2, 0).float().cpu().numpy() * 255.0 + 0.5).astype("uint8")
    return Image.fromarray(array)


def _luminance_transfer(stylised: Any, content: Any) -> Any:
    """The stylised image's luminance (Y) with the content image's chroma (Cb, Cr)."""
    from PIL import Image

    y, _, _ = stylised.convert("YCbCr").split()
    _, cb, cr = content.convert("YCbCr").split()
    return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")
