"""Autoencoders: Stable Diffusion's VAE on any photo, and a small MNIST VAE whose 2-D latent space can be drawn.

Two models, one task (the lecture's "autoencoders" and "variational autoencoder" slides):

- **Stable Diffusion's VAE** (diffusers `AutoencoderKL`, the ``vae/`` subfolder of ``stabilityai/sd-turbo``): a photo
  squeezed into 4 latent channels at 1/8 of its width and height, and back. Its ``vae/config.json`` (read from
  copies of the sd-turbo snapshot: ``block_out_channels [128, 256, 512, 512]``, ``latent_channels 4``,
  ``scaling_factor 0.18215``, ``force_upcast true``) makes the downsampling 2**3 = 8 and the compression ratio
  3 * 8 * 8 / 4 = 48 input values per latent value. Reconstruction is ``decode(encode(x).latent_dist.mode())`` (the
  mean of the diagonal Gaussian) or, with ``sample=True``, a seeded ``latent_dist.sample(generator)``.
- **The MNIST VAE** (Kingma & Welling 2014, "Auto-Encoding Variational Bayes"): the MLP of pytorch/examples
  ``vae/main.py`` (784 -> 400 -> (mu, logvar) -> 400 -> 784, ReLU, sigmoid; loss BCE + KL, both summed) with a
  2-D latent as in Keras' ``examples/variational_autoencoder.py``, so the latent space is a map: `latent_map`
  decodes a grid over the standard normal's quantiles (``norm.ppf(np.linspace(0.05, 0.95, n))``, n = 15, as in
  that example and Kingma & Welling's Fig. 4), `encode` puts a drawing on it, `decode` draws any point,
  `interpolate` walks between two drawings. Trained by ``python -m finetune.vae``.

>>> from pipelines import load
>>> ae = load("autoencoder")                                   # stabilityai/sd-turbo, vae/ only
>>> r = ae("photo.jpg")
>>> r.compression_ratio, round(r.psnr, 1), r.latent.shape     # e.g. (48.0, 29.3, (4, 64, 64)) for 512x512
>>> vae = load("autoencoder", model="local:mnist-vae")         # python -m finetune.vae first
>>> vae.latent_map().image.save("map.png"); vae.encode("my_three.png").point
(0.41, -1.27)
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from pipelines import validate
from pipelines.base import (
    Pipeline,
    Result,
    is_local_path,
    resolve_device,
    resolve_dtype,
    translating_load_errors,
)
from pipelines.errors import InputError
from pipelines.textfiles import parse_json

logger = logging.getLogger(__name__)

TASK = "autoencoder"
TRAIN_COMMAND = "python -m finetune.vae"
SD_VAE, MNIST_VAE = "sd-vae", "mnist-vae"
IMAGE_SIZE = 28
#: Decoded points are bounded: the prior is a standard normal, so |z| > 10 is 10 standard deviations out.
LATENT_LIMIT = 10.0
#: Keras' examples/variational_autoencoder.py: a 15 x 15 grid over norm.ppf(np.linspace(0.05, 0.95, 15)).
GRID, QUANTILE = 15, 0.05
MAX_GRID, MAX_INTERPOLATION_STEPS = 40, 64
MAX_SIDE = 2048
MNIST_ONLY = "the MNIST VAE with a 2-D latent space (model='local:mnist-vae', or 'tiny-mnist' offline)"


# ----------------------------------------------------------------------------------------------------------------
# the MNIST VAE


class MnistVAE(nn.Module, PyTorchModelHubMixin, library_name="mmhub", pipeline_tag="image-to-image",
               tags=["mmhub", "mnist", "vae", "variational-autoencoder"],
               repo_url="https://github.com/pytorch/examples/tree/main/vae"):
    """pytorch/examples' MNIST VAE (fc1 784->400, fc21 / fc22 400->latent, fc3 latent->400, fc4 400->784), with a
    2-D latent by default so that the latent space can be drawn. Pictures are ``(B, 1, 28, 28)`` in [0, 1], white
    on black as MNIST; the decoder's output is Bernoulli means (sigmoid)."""

    def __init__(self, image_size: int = IMAGE_SIZE, hidden_units: int = 400, latent_dim: int = 2):
        super().__init__()
        self.image_size, self.latent_dim = int(image_size), int(latent_dim)
        pixels = self.image_size**2
        self.fc1 = nn.Linear(pixels, hidden_units)
        self.fc21 = nn.Linear(hidden_units, latent_dim)  # mu
        self.fc22 = nn.Linear(hidden_units, latent_dim)  # log variance
        self.fc3 = nn.Linear(latent_dim, hidden_units)
        self.fc4 = nn.Linear(hidden_units, pixels)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` of q(z|x), each ``(B, latent_dim)``."""
        h = F.relu(self.fc1(x.reshape(x.shape[0], -1)))
        return self.fc21(h), self.fc22(h)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)`` (drawn from `generator` when given)."""
        if generator is None:
            eps = torch.randn_like(mu)
        else:  # a CPU generator: the same draws on every device
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pictures ``(B, 1, 28, 28)`` in (0, 1) for latent points ``(B, latent_dim)``."""
        out = torch.sigmoid(self.fc4(F.relu(self.fc3(z))))
        return out.reshape(z.shape[0], 1, self.image_size, self.image_size)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(reconstruction, mu, logvar)`` with z sampled by the reparameterisation trick (training)."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar, generator)), mu, logvar


def vae_loss(reconstruction: torch.Tensor, x: torch.Tensor, mu: torch.Tensor,
             logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """pytorch/examples vae/main.py ``loss_function``, as its two terms: ``(BCE, KLD)``, each summed over the batch.

    KLD is Kingma & Welling's Appendix B: ``-0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)``.
    """
    bce = F.binary_cross_entropy(reconstruction.reshape(x.shape[0], -1), x.reshape(x.shape[0], -1), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce, kld


def quantile_grid(n: int = GRID, quantile: float = QUANTILE) -> np.ndarray:
    """``norm.ppf(np.linspace(quantile, 1 - quantile, n))``: n points of the standard normal, equally likely apart."""
    q = torch.linspace(quantile, 1.0 - quantile, n, dtype=torch.float64)
    return torch.special.ndtri(q).numpy()


# ----------------------------------------------------------------------------------------------------------------
# results


@dataclasses.dataclass
class AutoencoderResult(Result):
    """One picture through the autoencoder and back.

    Attributes:
        image (`PIL.Image.Image`): the input as the encoder saw it (scaled to a multiple of 8 for the SD VAE; the
            28x28 picture as the MNIST VAE saw it, `pipelines.mnist_processor`).
        reconstruction (`PIL.Image.Image`): the decoder's output, same size.
        latent (`np.ndarray`): SD VAE: ``(4, H/8, W/8)`` float32, scaled by `scaling_factor` (what Stable
            Diffusion's UNet works on, about unit variance); MNIST VAE: ``(2,)``, the point.
        latent_images (`list[PIL.Image.Image]`): each latent channel as a grey picture (its 1st..99th percentile
            stretched to black..white); empty for the MNIST VAE (its latent is a point).
        compression_ratio (`float`): input values / latent values (3·H·W / (4·H/8·W/8) = 48 for the SD VAE, 784 / 2
            = 392 for the MNIST VAE). Counts numbers, not bytes: it assumes one dtype for both (8-bit pixels against
            float16 latents would be half as much in bytes).
        psnr (`float`): peak signal-to-noise ratio of the reconstruction against `image`, in dB, on [0, 1] values
            before 8-bit rounding (``10 log10(1 / MSE)``; capped at 100 dB for an exact copy).
        mse (`float`): the mean squared error on [0, 1] values.
        input_shape, latent_shape (`list[int]`): (C, H, W) of the input and (C, h, w) / (2,) of the latent.
        scaling_factor (`float` or `None`): the SD VAE's latent scaling factor (0.18215 for sd-turbo).
        kind (`str`): ``"sd-vae"`` or ``"mnist-vae"``.
        sampled (`bool`), seed (`int` or `None`): z was drawn from the posterior with this seed (else its mean).
        point (`tuple[float, float]` or `None`): the MNIST VAE's 2-D latent point.
    """

    image: Any
    reconstruction: Any
    latent: np.ndarray
    latent_images: list[Any]
    compression_ratio: float
    psnr: float
    mse: float
    input_shape: list[int]
    latent_shape: list[int]
    scaling_factor: float | None
    kind: str
    sampled: bool = False
    seed: int | None = None
    point: tuple[float, float] | None = None


@dataclasses.dataclass
class LatentMapResult(Result):
    """The MNIST VAE's latent space as a picture: an n x n grid of decoded points.

    Column j decodes x = `xs[j]`, row i decodes y = `ys[i]`; y grows upwards (row 0 is the largest y), as on a
    plot (Keras' example draws y growing downwards). Each tile is 28 x 28 pixels.
    """

    image: Any
    xs: list[float]
    ys: list[float]
    n: int
    quantile: float

    def pixel_of(self, point: tuple[float, float]) -> tuple[float, float]:
        """(column, row) pixel of `point` on `image` (for marking an encoded drawing); clamped to the map."""
        span = 1.0 - 2.0 * self.quantile
        cdf = [0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in point]
        tiles = [min(max((c - self.quantile) / span * (self.n - 1), -0.5), self.n - 0.5) for c in cdf]
        return (tiles[0] + 0.5) * IMAGE_SIZE, (self.n - 0.5 - tiles[1]) * IMAGE_SIZE

    def point_at(self, column: float, row: float) -> tuple[float, float]:
        """The latent point under pixel (`column`, `row`) of `image` (a click on the map), the inverse of
        `pixel_of`: between tile centres the quantile varies linearly."""
        span = 1.0 - 2.0 * self.quantile
        values = []
        for tile in (column / IMAGE_SIZE - 0.5, self.n - 0.5 - row / IMAGE_SIZE):
            q = self.quantile + tile / (self.n - 1) * span
            values.append(float(torch.special.ndtri(torch.tensor(min(max(q, 1e-6), 1 - 1e-6), dtype=torch.float64))))
        return values[0], values[1]


@dataclasses.dataclass
class LatentPoint(Result):
    """Where a drawing lands in the latent space: the encoder's mean, and its standard deviation."""

    point: tuple[float, float]
    std: tuple[float, float]
    image: Any


@dataclasses.dataclass
class DecodedPoint(Result):
    """The decoder's picture of one latent point (28 x 28, mode ``L``) and its values in [0, 1]."""

    image: Any
    pixels: np.ndarray
    point: tuple[float, float]


@dataclasses.dataclass
class Interpolation(Result):
    """Pictures decoded along the straight line between two points (the two drawings' means), ends included."""

    images: list[Any]
    points: list[tuple[float, float]]
    start: LatentPoint
    end: LatentPoint

    def strip(self, scale: int = 3) -> Any:
        """All `images` side by side, each pixel `scale` x `scale`."""
        from PIL import Image

        side = IMAGE_SIZE * scale
        canvas = Image.new("L", (side * len(self.images), side))
        for i, image in enumerate(self.images):
            canvas.paste(image.resize((side, side), Image.Resampling.NEAREST), (i * side, 0))
        return canvas


# ----------------------------------------------------------------------------------------------------------------
# the pipeline


class AutoencoderPipeline(Pipeline):
    """Encode and decode a picture; with the MNIST VAE also the latent map, points, interpolations.

    >>> from pipelines import load
    >>> ae = load("autoencoder", model="stabilityai/sd-turbo")
    >>> ae("photo.jpg", max_size=256).latent.shape
    (4, 32, 32)
    >>> vae = load("autoencoder", model="local:mnist-vae")
    >>> vae.interpolate("one.png", "seven.png", steps=8).strip().save("one_to_seven.png")
    """

    task = TASK

    def __init__(self, model: Any, kind: str, model_id: str, device: Any, dtype: Any, processor: Any = None):
        super().__init__(model_id, device, dtype)
        self.model, self.kind = model, kind
        if kind == MNIST_VAE:
            from pipelines.mnist_processor import MnistImageProcessor

            #: the MNIST VAE's picture preparation, saved with it (``preprocessor_config.json``)
            self.processor = processor if processor is not None else MnistImageProcessor()
        if kind == SD_VAE:
            from diffusers.image_processor import VaeImageProcessor

            self.scale_factor = 2 ** (len(model.config.block_out_channels) - 1)
            self.processor = VaeImageProcessor(vae_scale_factor=self.scale_factor)

    # ------------------------------------------------------------------------------------------------ loading

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None,
                        revision: str | None = None) -> AutoencoderPipeline:
        """Load Stable Diffusion's VAE (a diffusers checkpoint with ``vae/``, or an `AutoencoderKL` folder / repo)
        or an MNIST VAE (``local:mnist-vae``, or a folder / repo written by ``python -m finetune.vae``).

        Args:
            model (`str`): ``"stabilityai/sd-turbo"`` (default: only its ``vae/`` is read), another SD checkpoint,
                ``"local:mnist-vae"``, a folder or a Hub id.
            device (`str`, *optional*): default CUDA when present, else CPU.
            dtype (`str` or `torch.dtype`, *optional*): default float32 everywhere: sd-turbo's VAE says
                ``force_upcast: true`` (it overflows in float16; diffusers upcasts it to decode); the MNIST VAE is
                float32 only.
            revision (`str`, *optional*): a Hub revision (the registry pins sd-turbo's).
        """
        from pipelines import lab

        device = resolve_device(device)
        kind, subfolder = _kind(model, revision)
        if kind == MNIST_VAE:
            if dtype not in (None, "float32", torch.float32, "auto"):
                raise InputError("dtype", dtype, "float32 (or None) for the MNIST VAE")
            net = lab.load_module(MnistVAE, model, task=cls.task, train_command=TRAIN_COMMAND, device=device,
                                  revision=revision, unknown_hint="A Stable Diffusion checkpoint needs a vae/ folder "
                                                                  "or an AutoencoderKL config.")
            from pipelines.mnist_processor import MnistImageProcessor

            processor = MnistImageProcessor.from_pretrained(model, revision=revision, task=cls.task)
            return cls(net, MNIST_VAE, model, device, torch.float32, processor)
        from diffusers import AutoencoderKL

        dtype = torch.float32 if dtype is None else resolve_dtype(dtype, device)
        with translating_load_errors(model, cls.task):
            vae = AutoencoderKL.from_pretrained(model, subfolder=subfolder, revision=revision, torch_dtype=dtype,
                                                use_safetensors=True)
        if dtype != torch.float32 and vae.config.get("force_upcast", False):
            logger.warning("%s: this VAE asks for float32 (force_upcast); %s may overflow to NaN.", model, dtype)
        return cls(vae.to(device).eval(), SD_VAE, model, device, dtype)

    @property
    def latent_dim(self) -> int | None:
        return self.model.latent_dim if self.kind == MNIST_VAE else None

    # ------------------------------------------------------------------------------------------------ both models

    def __call__(self, image: Any, sample: bool = False, seed: int | None = None, max_size: int = 512,
                 invert: bool | None = None, normalise: bool | None = None) -> AutoencoderResult:
        """Encode `image` to the latent space and decode it back.

        Args:
            image: a path, `PIL.Image.Image` or array (and, for the MNIST VAE, a Gradio sketch dict: a drawing is
                laid out like the training pictures first, `pipelines.mnist_processor`).
            sample (`bool`, defaults to `False`): decode a draw from the posterior (seeded) instead of its mean.
            seed (`int`, *optional*): for `sample`; default a random one, reported.
            max_size (`int`, defaults to 512): SD VAE: the long side is scaled down to this (64 to 2048), then both
                sides to a multiple of 8.
            invert (`bool`, *optional*): MNIST VAE: True for dark strokes on light paper, False for light on dark;
                default from the picture's border.
            normalise (`bool`, *optional*): MNIST VAE: None (default) prepares a picture stored like the training
                pictures (28x28, their ink colour) exactly as in training and lays a drawing out like them first;
                True / False force the drawing / stored route (`pipelines.mnist_processor`).
        """
        sample = validate.boolean("sample", sample)
        if sample:
            seed = validate.seed(seed)
        elif seed is not None:
            validate.seed(seed)
            seed = None  # the posterior's mean: nothing random
        max_size = validate.integer("max_size", max_size, low=64, high=MAX_SIDE)
        invert, normalise = _routing(invert, normalise)
        generator = torch.Generator().manual_seed(seed) if sample else None
        if self.kind == MNIST_VAE:
            return self._mnist_call(image, generator, seed, invert, normalise)
        return self._sd_call(image, generator, seed, max_size)

    @torch.inference_mode()
    def _sd_call(self, image: Any, generator: torch.Generator | None, seed: int | None,
                 max_size: int) -> AutoencoderResult:
        from pipelines.images import fit_within, load_image

        picture = load_image(image, "image")
        validate.image_size("image", picture.size, min_side=max(8, self.scale_factor))
        width, height = fit_within(picture.size, max_size, multiple=self.scale_factor)
        x = self.processor.preprocess(picture, height=height, width=width).to(self.device, self.model.dtype)
        posterior = self.model.encode(x).latent_dist
        z = posterior.sample(generator=generator) if generator is not None else posterior.mode()
        decoded = self.model.decode(z).sample
        original = (x.float() / 2 + 0.5).clamp(0, 1)
        rebuilt = (decoded.float() / 2 + 0.5).clamp(0, 1)
        mse, psnr = _psnr(original, rebuilt)
        scaling = float(self.model.config.scaling_factor)
        latent = (z.float() * scaling)[0].cpu().numpy()
        return AutoencoderResult(
            image=self.processor.postprocess(x.float(), output_type="pil")[0],
            reconstruction=self.processor.postprocess(decoded.float(), output_type="pil")[0],
            latent=latent, latent_images=[channel_image(c) for c in latent],
            compression_ratio=x.numel() / z.numel(), psnr=psnr, mse=mse, input_shape=list(x.shape[1:]),
            latent_shape=list(latent.shape), scaling_factor=scaling, kind=SD_VAE, sampled=generator is not None,
            seed=seed)

    @torch.inference_mode()
    def _mnist_call(self, image: Any, generator: torch.Generator | None, seed: int | None,
                    invert: bool | None, normalise: bool | None) -> AutoencoderResult:
        picture = self._drawing(image, "image", invert, normalise)
        mu, logvar = self.model.encode(picture)
        z = self.model.reparameterize(mu, logvar, generator) if generator is not None else mu
        decoded = self.model.decode(z)
        mse, psnr = _psnr(picture, decoded)
        latent = z[0].float().cpu().numpy()
        point = tuple(float(v) for v in latent[:2]) if self.model.latent_dim == 2 else None
        return AutoencoderResult(
            image=_grey(picture[0, 0]), reconstruction=_grey(decoded[0, 0]), latent=latent, latent_images=[],
            compression_ratio=picture.numel() / z.numel(), psnr=psnr, mse=mse, input_shape=list(picture.shape[1:]),
            latent_shape=list(latent.shape), scaling_factor=None, kind=MNIST_VAE, sampled=generator is not None,
            seed=seed, point=point)

    # ------------------------------------------------------------------------------------------------ MNIST VAE

    @torch.inference_mode()
    def latent_map(self, n: int = GRID, quantile: float = QUANTILE) -> LatentMapResult:
        """The latent space as an n x n grid of decoded points over the standard normal's quantiles.

        Args:
            n (`int`, defaults to 15): tiles per side, 2 to 40.
            quantile (`float`, defaults to 0.05): the grid spans ``norm.ppf(quantile)`` .. ``norm.ppf(1 -
                quantile)`` (±1.645 for 0.05), in (0, 0.5).
        """
        self._require_2d()
        n = validate.integer("n", n, low=2, high=MAX_GRID)
        quantile = validate.number("quantile", quantile, low=0, high=0.5, low_open=True, high_open=True)
        grid = quantile_grid(n, quantile)
        ys, xs = np.meshgrid(grid[::-1], grid, indexing="ij")  # row 0 = the largest y
        z = torch.from_numpy(np.stack([xs.ravel(), ys.ravel()], axis=1)).float().to(self.device)
        tiles = self.model.decode(z).float().cpu().numpy().reshape(n, n, IMAGE_SIZE, IMAGE_SIZE)
        canvas = tiles.transpose(0, 2, 1, 3).reshape(n * IMAGE_SIZE, n * IMAGE_SIZE)
        return LatentMapResult(image=_grey(torch.from_numpy(canvas)), xs=[float(v) for v in grid],
                               ys=[float(v) for v in grid[::-1]], n=n, quantile=quantile)

    @torch.inference_mode()
    def encode(self, image: Any, invert: bool | None = None, normalise: bool | None = None) -> LatentPoint:
        """Where a drawing lands: the encoder's mean (and standard deviation) for `image` (a sketch, path, PIL or
        array; prepared as in `__call__`)."""
        self._require_2d()
        invert, normalise = _routing(invert, normalise)
        return self._encode(image, "image", invert, normalise)

    @torch.inference_mode()
    def decode(self, point: Any) -> DecodedPoint:
        """The picture the decoder draws for `point` = (x, y), each finite and within ±10."""
        self._require_2d()
        x, y = _point("point", point)
        pixels = self.model.decode(torch.tensor([[x, y]], dtype=torch.float32, device=self.device))[0, 0]
        return DecodedPoint(image=_grey(pixels), pixels=pixels.float().cpu().numpy(), point=(x, y))

    @torch.inference_mode()
    def interpolate(self, start: Any, end: Any, steps: int = 8, invert: bool | None = None,
                    normalise: bool | None = None) -> Interpolation:
        """Decode `steps` points on the straight line between the means of two drawings, both ends included.

        Args:
            start, end: two drawings (sketch dicts, paths, PIL images or arrays).
            steps (`int`, defaults to 8): pictures in the walk, 2 to 64.
            invert, normalise (`bool`, *optional*): as in `__call__`.
        """
        self._require_2d()
        steps = validate.integer("steps", steps, low=2, high=MAX_INTERPOLATION_STEPS)
        invert, normalise = _routing(invert, normalise)
        a, b = self._encode(start, "start", invert, normalise), self._encode(end, "end", invert, normalise)
        t = torch.linspace(0.0, 1.0, steps, dtype=torch.float32)[:, None]
        z = (1 - t) * torch.tensor([a.point]) + t * torch.tensor([b.point])
        pictures = self.model.decode(z.to(self.device)).float().cpu()
        return Interpolation(images=[_grey(p[0]) for p in pictures],
                             points=[(float(p[0]), float(p[1])) for p in z], start=a, end=b)

    def _encode(self, image: Any, argument: str, invert: bool | None, normalise: bool | None) -> LatentPoint:
        picture = self._drawing(image, argument, invert, normalise)
        mu, logvar = self.model.encode(picture)
        std = torch.exp(0.5 * logvar)
        return LatentPoint(point=(float(mu[0, 0]), float(mu[0, 1])), std=(float(std[0, 0]), float(std[0, 1])),
                           image=_grey(picture[0, 0]))

    def _drawing(self, image: Any, argument: str, invert: bool | None, normalise: bool | None) -> torch.Tensor:
        """The ``(1, 1, 28, 28)`` picture the VAE sees: the saved preparation (`pipelines.mnist_processor`)."""
        from pipelines.mnist import sketch_image

        picture = sketch_image(image, argument)
        validate.image_size(argument, picture.size, min_side=8, max_side=4096)
        digit = self.processor.prepare(picture, invert, normalise, argument, sketch=isinstance(image, dict))
        return torch.from_numpy(digit).to(self.device).view(1, 1, IMAGE_SIZE, IMAGE_SIZE)

    def _require_2d(self) -> None:
        if self.kind != MNIST_VAE or self.model.latent_dim != 2:
            what = "Stable Diffusion's VAE" if self.kind == SD_VAE else f"a {self.model.latent_dim}-D MNIST VAE"
            raise InputError("model", f"{what}: {self.model_id}", MNIST_ONLY)


# ----------------------------------------------------------------------------------------------------------------
# helpers


def _kind(model: str, revision: str | None) -> tuple[str, str | None]:
    """Which autoencoder `model` holds: ``(SD_VAE, "vae" | None)`` or ``(MNIST_VAE, None)``.

    A diffusers pipeline (``model_index.json`` / a ``vae/`` folder) -> its ``vae/``; a config naming
    ``AutoencoderKL`` -> a bare VAE; anything else (``local:`` names, mixin folders) -> the MNIST VAE.
    """
    from pipelines import lab

    if lab.is_local_id(model):
        return MNIST_VAE, None
    if is_local_path(model):
        folder = Path(model).expanduser()
        if (folder / "vae" / "config.json").is_file():
            return SD_VAE, "vae"
        config = folder / "config.json"
        if config.is_file() and _is_autoencoder_kl(config):
            return SD_VAE, None
        return MNIST_VAE, None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RemoteEntryNotFoundError

    with translating_load_errors(model, TASK):
        try:
            hf_hub_download(model, "model_index.json", revision=revision)
            return SD_VAE, "vae"
        except RemoteEntryNotFoundError:
            config = hf_hub_download(model, "config.json", revision=revision)
    return (SD_VAE, None) if _is_autoencoder_kl(Path(config)) else (MNIST_VAE, None)


def _is_autoencoder_kl(config: Path) -> bool:
    try:
        return parse_json(config.read_text()).get("_class_name") == "AutoencoderKL"
    except (OSError, ValueError, AttributeError):
        return False


def _routing(invert: Any, normalise: Any) -> tuple[bool | None, bool | None]:
    from pipelines.mnist_processor import check_argument

    return check_argument("invert", invert), check_argument("normalise", normalise)


def _point(name: str, value: Any) -> tuple[float, float]:
    allowed = f"a point (x, y) of two finite numbers within ±{LATENT_LIMIT:g}"
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__") or len(value) != 2:
        raise InputError(name, value, allowed)
    return tuple(validate.number(f"{name}[{i}]", v, low=-LATENT_LIMIT, high=LATENT_LIMIT)  # type: ignore[return-value]
                 for i, v in enumerate(value))


def _psnr(original: torch.Tensor, rebuilt: torch.Tensor) -> tuple[float, float]:
    """(MSE, PSNR in dB) of one picture ``(1, C, H, W)`` of values in [0, 1] (see `psnr_per_picture`)."""
    mse, psnr = psnr_per_picture(original, rebuilt)
    return float(mse[0]), float(psnr[0])


def psnr_per_picture(original: torch.Tensor, rebuilt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per picture of a batch ``(B, C, H, W)`` of values in [0, 1]: MSE and PSNR in dB (``10 log10(1 / MSE)``,
    capped at 100 dB, MSE 1e-10, for exact copies). One definition for the pipeline's result and the trainer's
    ``metrics.json`` (`finetune.vae`), so the two agree picture for picture."""
    mse = (rebuilt.float() - original.float()).pow(2).flatten(1).mean(1)
    return mse, 10.0 * torch.log10(1.0 / mse.clamp(min=1e-10))


def _grey(values: torch.Tensor) -> Any:
    from PIL import Image

    array = (values.detach().float().clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(array, mode="L")


def channel_image(channel: np.ndarray) -> Any:
    """One latent channel as a grey picture: its 1st..99th percentile stretched to black..white."""
    from PIL import Image

    low, high = np.percentile(channel, [1, 99]) if channel.size > 1 else (channel.min(), channel.max())
    scaled = (channel - low) / (high - low) if high > low else np.zeros_like(channel)
    return Image.fromarray((np.clip(scaled, 0, 1) * 255 + 0.5).astype(np.uint8), mode="L")
