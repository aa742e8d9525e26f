"""DeepDream (Mordvintsev, Olah & Tyka 2015, "Inceptionism") over the VGG-19 features of style transfer.

Gradient *ascent* on the pixels of a photo so that one layer of an ImageNet network responds ever more strongly to
what it already half-sees: the lecture's "inverted training" applied to a whole photo. The algorithm mirrors Google's
own notebook (github.com/google/deepdream, ``dream.ipynb``, functions ``make_step`` and ``deepdream``):

- objective: the L2 norm of the layer's activations (``objective_L2``: the gradient at the layer is the activation);
- ``make_step``: shift the image by a random jitter (``np.random.randint(-jitter, jitter+1, 2)``, ``np.roll`` on the
  width then the height axis), forward to the layer, backward, then
  ``x += step_size / mean(|g|) * g`` (the gradient normalised by its mean absolute value), unshift, and clip to the
  pixel range (``[-mean, 255-mean]`` in the notebook's mean-subtracted 0..255 pixels);
- ``deepdream``: ``octave_n`` scaled copies of the photo (each ``1/octave_scale`` of the previous, bilinear:
  ``scipy.ndimage.zoom(order=1)``), dreamed smallest first for ``iter_n`` steps each; the *detail* the network
  added (dreamed image minus that octave's photo) is upscaled and added to the next, larger octave.
- defaults: ``iter_n=10``, ``octave_n=4``, ``octave_scale=1.4``, ``step_size=1.5``, ``jitter=32``.

The notebook dreams with GoogLeNet (``inception_4c/output``); here the network is VGG-19 read from the Hub's
``timm/vgg19.tv_in1k`` safetensors by `pipelines.style_transfer` (the same weights, no torchvision or timm).

>>> from pipelines import load
>>> dd = load("deep-dream")                                       # timm/vgg19.tv_in1k
>>> result = dd("sky.jpg", layer="conv4_3", seed=0)              # 4 octaves x 10 steps
>>> result.image.save("dream.png"); result.save_gif("dream.gif")
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from pipelines import validate
from pipelines.base import (
    Pipeline,
    ProgressCallback,
    Result,
    report_progress,
    resolve_device,
    resolve_dtype,
    translating_load_errors,
)
from pipelines.errors import InputError, ModelLoadError
from pipelines.images import fit_within, load_image
from pipelines.style_transfer import WEIGHTS_FILE, VGGFeatures, _fetch, _read_features

logger = logging.getLogger(__name__)

TASK = "deep-dream"
DEFAULT_LAYER = "conv4_3"
# google/deepdream dream.ipynb: make_step(step_size=1.5, jitter=32), deepdream(iter_n=10, octave_n=4,
# octave_scale=1.4).
STEP_SIZE, JITTER, STEPS, OCTAVES, OCTAVE_SCALE = 1.5, 32, 10, 4, 1.4
MAX_STEPS, MAX_OCTAVES, MAX_JITTER = 200, 12, 256
MIN_SIDE, MAX_SIDE = 16, 2048

# `pipelines.base.ProgressCallback` here:
# ``progress(step, total, info)`` after each gradient step, ``total = octaves * steps``; ``info``:
# ``{"octave": int (1 = the smallest), "objective": float, "image": PIL.Image | None}`` with the image at the end of
# each octave (and every ``preview_every`` steps), at that octave's size. Return ``False`` to stop early: the detail
# dreamed so far is carried up to full size (as if the remaining steps were 0) and the result says ``interrupted``.


@dataclasses.dataclass
class DeepDreamResult(Result):
    """The dreamed photo, and how it got there.

    Attributes:
        image (`PIL.Image.Image`): the dream, at `size`.
        frames (`list[PIL.Image.Image]`): the photo, then the dream after each octave, all at `size` (an animation:
            `save_gif`).
        objective (`list[float]`): the layer's mean squared activation before each step (it climbs).
        octave_sizes (`list[tuple[int, int]]`): (width, height) of each octave, smallest first.
        layer (`str`): the layer dreamed at.
        steps (`int`): gradient steps done in all (``octaves * steps`` unless interrupted).
        size, original_size (`tuple[int, int]`): the dream's size, and the photo's before `max_size`.
        resized (`bool`): the photo was scaled down to `max_size`.
        seed (`int`): the jitter's seed (the same seed, photo and settings give the same dream on CPU).
        interrupted (`bool`): the progress callback stopped the run early.
    """

    image: Any
    frames: list[Any]
    objective: list[float]
    octave_sizes: list[tuple[int, int]]
    layer: str
    steps: int
    size: tuple[int, int]
    original_size: tuple[int, int]
    resized: bool
    seed: int
    interrupted: bool = False

    def save_gif(self, path: str | Path, duration_ms: int = 700) -> Path:
        """Write `frames` as an animated GIF (the photo, then each octave's dream), looping."""
        path = Path(path)
        self.frames[0].save(path, save_all=True, append_images=self.frames[1:], duration=duration_ms, loop=0)
        return path


def layer_table(vgg: VGGFeatures) -> dict[str, tuple[int, bool]]:
    """Every layer a dream can target: name -> (conv index, after the block's pool).

    ``conv<b>_<n>`` is the rectified output of that convolution, as Caffe's (in-place ReLU) blobs and
    `pipelines.style_transfer` name it; ``relu<b>_<n>`` is the same tensor under its other common name;
    ``pool<b>`` is the max-pool that ends block b.
    """
    table: dict[str, tuple[int, bool]] = {}
    for index, name in enumerate(vgg.names):
        table[name] = (index, False)
        table["relu" + name.removeprefix("conv")] = (index, False)
        if vgg.pool_after[index]:
            table[f"pool{name.removeprefix('conv').split('_')[0]}"] = (index, True)
    return table


def activations(vgg: VGGFeatures, image: torch.Tensor, index: int, pooled: bool) -> torch.Tensor:
    """The activations of conv `index` (rectified; after its block's pool when `pooled`) for `image` in [0, 1]."""
    x = (image - vgg.mean) / vgg.std
    for i in range(index + 1):
        x = F.relu(vgg.convs[i](x), inplace=True)  # safe: a convolution's backward does not need its output
        if vgg.pool_after[i] and (i < index or pooled):
            x = F.max_pool2d(x, 2, 2)
    return x


def zoom(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``scipy.ndimage.zoom(x, ..., order=1)`` to `size` (height, width): bilinear with the corner pixels aligned
    (scipy's default ``grid_mode=False`` maps output pixel i to input ``i * (in - 1) / (out - 1)``)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def octave_shapes(height: int, width: int, octaves: int, scale: float) -> list[tuple[int, int]]:
    """(height, width) of each octave, the photo first: ``scipy.ndimage.zoom``'s output shape rule,
    ``int(round(side * (1.0 / scale)))`` (Python's round), applied to the previous octave."""
    shapes = [(height, width)]
    for _ in range(octaves - 1):
        h, w = shapes[-1]
        shapes.append((int(round(h * (1.0 / scale))), int(round(w * (1.0 / scale)))))
    return shapes


class DeepDreamPipeline(Pipeline):
    """DeepDream a photo at one VGG layer: octaves, random jitter, normalised gradient ascent (google/deepdream).

    >>> from pipelines import load
    >>> dd = load("deep-dream", model="timm/vgg19.tv_in1k")
    >>> dd("photo.jpg", layer="conv3_1", octaves=3, step_size=2.0, seed=1).image.size
    (512, 384)
    """

    task = TASK

    def __init__(self, vgg: VGGFeatures, model_id: str, device: Any, dtype: Any):
        super().__init__(model_id, device, dtype)
        self.vgg = vgg
        self.layers = layer_table(vgg)

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None,
                        revision: str | None = None) -> DeepDreamPipeline:
        """Load VGG features from a Hub repo or folder holding a timm-format ``model.safetensors`` (+ ``config.json``).

        Args:
            model (`str`): ``"timm/vgg19.tv_in1k"`` (default, the style-transfer weights), ``"timm/vgg16.tv_in1k"``,
                or a local folder.
            device (`str`, *optional*): default CUDA when present, else CPU.
            dtype (`str` or `torch.dtype`, *optional*): default float32 everywhere.
            revision (`str`, *optional*): a Hub revision.
        """
        device = resolve_device(device)
        dtype = torch.float32 if dtype is None else resolve_dtype(dtype, device)
        with translating_load_errors(model, cls.task):
            weights, config = _fetch(model, revision)
            state = _read_features(weights)
        if not state:
            raise ModelLoadError(model, "wrong_task", f"{WEIGHTS_FILE} holds no `features.*` tensors: not a VGG.")
        cfg = config.get("pretrained_cfg", {})
        try:
            vgg = VGGFeatures(state, tuple(cfg["mean"]), tuple(cfg["std"])) if "mean" in cfg and "std" in cfg \
                else VGGFeatures(state)
        except ValueError as err:
            raise ModelLoadError(model, "incompatible", str(err)) from err
        return cls(vgg.to(device=device, dtype=dtype), model, device, dtype)

    def pools_before(self, layer: str) -> int:
        """How many 2x2 poolings the picture goes through before reaching `layer` (it must be at least 2**that)."""
        index, pooled = self.layers[layer]
        return sum(self.vgg.pool_after[:index]) + int(pooled)

    def __call__(self, image: Any, layer: str = DEFAULT_LAYER, steps: int = STEPS, octaves: int = OCTAVES,
                 octave_scale: float = OCTAVE_SCALE, step_size: float = STEP_SIZE, jitter: int = JITTER,
                 seed: int | None = None, max_size: int = 512, progress: ProgressCallback | None = None,
                 preview_every: int = 0) -> DeepDreamResult:
        """Dream `image` at `layer`.

        Args:
            image (path, `PIL.Image.Image` or array): the photo, at least 16 px on a side.
            layer (`str`, defaults to ``"conv4_3"``): ``conv<b>_<n>`` / ``relu<b>_<n>`` (the same rectified output)
                or ``pool<b>``; low layers amplify strokes and textures, high ones object parts (eyes, fur, faces).
            steps (`int`, defaults to 10): gradient steps per octave (the notebook's ``iter_n``), 1 to 200.
            octaves (`int`, defaults to 4): scales dreamed, smallest first (``octave_n``), 1 to 12; the smallest must
                keep the layer at least one pixel wide.
            octave_scale (`float`, defaults to 1.4): each octave is the previous one divided by this, in (1, 4].
            step_size (`float`, defaults to 1.5): the strength: how far each step moves the pixels, on average, in
                0..255 pixel units (the normalised gradient's mean size), in (0, 20].
            jitter (`int`, defaults to 32): the random shift before each step, 0 to 256 pixels.
            seed (`int`, *optional*): the jitter's random shifts; default a random one, reported.
            max_size (`int`, defaults to 512): 64 to 2048; a larger photo is scaled down to this long side.
            progress (`ProgressCallback`, *optional*): ``progress(step, total, info)`` after each step.
            preview_every (`int`, defaults to 0): also pass the image to `progress` every N steps (0: only at the
                end of each octave).
        """
        layer = validate.choice("layer", layer, self.layers, normalise=lambda s: s.strip().lower())
        steps = validate.integer("steps", steps, low=1, high=MAX_STEPS)
        octaves = validate.integer("octaves", octaves, low=1, high=MAX_OCTAVES)
        octave_scale = validate.number("octave_scale", octave_scale, low=1, high=4, low_open=True)
        step_size = validate.number("step_size", step_size, low=0, high=20, low_open=True)
        jitter = validate.integer("jitter", jitter, low=0, high=MAX_JITTER)
        seed = validate.seed(seed)
        max_size = validate.integer("max_size", max_size, low=64, high=MAX_SIDE)
        progress = validate.callback("progress", progress, "progress(step, total, info)")
        preview_every = validate.integer("preview_every", preview_every, low=0, high=10_000)
        photo = load_image(image, "image")
        validate.image_size("image", photo.size, min_side=MIN_SIDE)

        # preprocess: fit within max_size, build the octaves (the photo at each scale, 0..255 pixel values)
        original_size = photo.size
        size = fit_within(original_size, max_size)
        if size != original_size:
            logger.info("Photo resized from %dx%d to %dx%d (max_size=%d)", *original_size, *size, max_size)
            from PIL import Image

            photo = photo.resize(size, Image.Resampling.LANCZOS)
        shapes = octave_shapes(size[1], size[0], octaves, octave_scale)
        self._check_octaves(layer, shapes, octaves, octave_scale, size)
        base = torch.from_numpy(np.asarray(photo, dtype=np.float32)).permute(2, 0, 1)[None]
        base = base.to(device=self.device, dtype=self.dtype)
        # The notebook works on mean-subtracted 0..255 pixels and clips to [-mean, 255-mean]. Bilinear zooms keep a
        # constant offset, and the detail is a difference, so plain 0..255 pixels clipped to [0, 255] are the same.
        bases = [base]
        for h, w in shapes[1:]:
            bases.append(zoom(bases[-1], (h, w)))

        # forward: dream each octave, smallest first, carrying the detail up
        index, pooled = self.layers[layer]
        generator = torch.Generator().manual_seed(seed)
        total = octaves * steps
        objective: list[torch.Tensor] = []  # read back once at the end: no device sync per step
        frames = [photo]
        detail = torch.zeros_like(bases[-1])
        done, interrupted = 0, False
        x = bases[-1]
        for octave, octave_base in enumerate(reversed(bases), start=1):
            detail = zoom(detail, tuple(octave_base.shape[-2:]))
            x = octave_base + detail
            dreamed = False
            for _ in range(0 if interrupted else steps):
                dreamed = True
                x, value = self._step(x, index, pooled, step_size, jitter, generator)
                objective.append(value)
                done += 1
                if progress is None:
                    continue
                end_of_octave = done % steps == 0
                preview = _to_image(x) if end_of_octave or (preview_every and done % preview_every == 0) else None
                if not report_progress(progress, done, total, octave=octave, objective=float(value), image=preview):
                    interrupted = done < total
                    logger.info("Stopped by the progress callback after %d of %d steps.", done, total)
                    break
            detail = x - octave_base
            if dreamed and octave < octaves:
                frames.append(_to_image(zoom(x, (size[1], size[0]))))

        # postprocess: the last octave is the photo's size (an interrupted run carried its detail up to it)
        dream = _to_image(x)
        frames.append(dream)
        values = torch.stack(objective).tolist() if objective else []
        return DeepDreamResult(image=dream, frames=frames, objective=values,
                               octave_sizes=[(w, h) for h, w in reversed(shapes)], layer=layer, steps=done,
                               size=size, original_size=original_size, resized=size != original_size, seed=seed,
                               interrupted=interrupted)

    def _step(self, x: torch.Tensor, index: int, pooled: bool, step_size: float, jitter: int,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The notebook's ``make_step`` with ``objective_L2``: the new image, and the mean squared activation."""
        ox, oy = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
        shifted = torch.roll(x, shifts=(oy, ox), dims=(2, 3)).detach().requires_grad_(True)  # jitter
        features = activations(self.vgg, shifted / 255.0, index, pooled)
        # objective_L2 sets the layer's gradient to its activation: the gradient of 0.5 * sum(a^2).
        (gradient,) = torch.autograd.grad(0.5 * features.pow(2).sum(), shifted)
        with torch.no_grad():
            # Normalised ascent. The notebook divides by mean|g| even when it is 0 (a dead layer): here the step is
            # then 0 instead of NaN.
            moved = shifted + step_size / gradient.abs().mean().clamp_min(1e-12) * gradient
            x = torch.roll(moved, shifts=(-oy, -ox), dims=(2, 3)).clamp_(0.0, 255.0)  # unshift, clip
        return x, features.detach().pow(2).mean()

    def _check_octaves(self, layer: str, shapes: list[tuple[int, int]], octaves: int, scale: float,
                       size: tuple[int, int]) -> None:
        """The smallest octave must keep `layer` at least one pixel wide."""
        need = 2 ** self.pools_before(layer)
        fitting = sum(min(shape) >= need for shape in shapes)
        if fitting < octaves:
            raise InputError("octaves", octaves, f"at most {fitting} for a {size[0]}x{size[1]} photo at layer "
                             f"{layer!r} with octave_scale {scale:g}",
                             f"The smallest octave would be {shapes[-1][1]}x{shapes[-1][0]} pixels, but {layer} "
                             f"needs {need}x{need}: use fewer octaves, a lower layer or a larger photo."
                             if fitting else f"{layer} needs a photo at least {need}x{need} pixels.")


def _to_image(x: torch.Tensor) -> Any:
    from PIL import Image

    array = (x.detach()[0].clamp(0, 255).permute(1, 2, 0).float().cpu().numpy() + 0.5).astype(np.uint8)
    return Image.fromarray(array)
