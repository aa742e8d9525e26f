"""GAN: a DCGAN generator draws new 28x28 pictures (digits or clothes) from random noise, seeded and reproducible.

The lecture's "competition" (Goodfellow et al. 2014): a **generator** turns noise into pictures, a **discriminator**
learns to tell them from real ones, and each improves against the other. The networks follow the DCGAN guidelines
(Radford, Metz & Chintala 2016) as pytorch/examples ``dcgan/main.py`` (commit 77f55b9) writes them, adapted from
64x64 RGB to 28x28 grey:

- generator: transposed convolutions only (no pooling, no hidden fully-connected layer), batch norm and ReLU after
  each but the last, ``tanh`` out; discriminator: strided convolutions, LeakyReLU(0.2), batch norm after each but
  the first, a sigmoid out (upstream's ``Generator`` / ``Discriminator``);
- weights drawn from N(0, 0.02), batch-norm scales from N(1, 0.02) and their biases 0 (upstream's
  ``weights_init``); pictures scaled to [-1, 1] (upstream's ``Normalize((0.5,), (0.5,))`` for MNIST);
- 28x28 instead of 64x64: the first transposed convolution maps the 1x1 noise to 7x7 (28 / 4) instead of 4x4, then
  two stride-2 layers (kernel 4, padding 1, as upstream's) make 14x14 and 28x28: two doublings instead of four, as
  the TensorFlow DCGAN tutorial on MNIST also does (noise -> 7x7x256 -> 14x14 -> 28x28). The discriminator
  mirrors it: 28 -> 14 -> 7, then a 7x7 convolution to one number.

The training (BCE, labels real = 1 / fake = 0, the generator's non-saturating loss, Adam at 2e-4 with beta1 0.5) is
`adversarial_step`, used by ``python -m finetune.gan``.

Sampling is reproducible on any device: the noise is drawn on the CPU from a `torch.Generator` seeded with `seed`
(the first `n` of `MAX_IMAGES` draws, so ``gan(4, seed=0)`` are the first four of ``gan(16, seed=0)``), and the
generator runs in inference mode (batch norm with its running statistics, as the TensorFlow tutorial draws its
progress pictures), so each picture depends on its own noise only.

>>> from pipelines import load
>>> gan = load("gan")                                   # local:gan: train it first (python -m finetune.gan)
>>> result = gan(16, seed=0)
>>> len(result.images), result.images[0].size
(16, (28, 28))
>>> result.grid().save("samples.png"); gan.interpolate(0, 1, steps=8).strip().save("walk.png")
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from pipelines import validate
from pipelines.base import Pipeline, Result
from pipelines.errors import InputError

logger = logging.getLogger(__name__)

TASK = "gan"
TRAIN_COMMAND = "python -m finetune.gan"
IMAGE_SIZE = 28
#: At most this many pictures per call; the noise is always drawn for all of them, so a smaller `n` is a prefix.
MAX_IMAGES = 256
#: Truncation bounds |z| (a truncated normal); beyond 4 standard deviations it changes almost nothing.
MAX_TRUNCATION = 4.0
MAX_WALK_STEPS = 64
#: pytorch/examples dcgan/main.py: ``real_label = 1``, ``fake_label = 0``.
REAL_LABEL, FAKE_LABEL = 1.0, 0.0


# ----------------------------------------------------------------------------------------------------------------
# the networks


def weights_init(module: nn.Module) -> None:
    """pytorch/examples dcgan/main.py ``weights_init``: convolutions N(0, 0.02); batch norm N(1, 0.02), bias 0."""
    name = type(module).__name__
    if "Conv" in name:
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module, PyTorchModelHubMixin, library_name="mmhub",
                     pipeline_tag="unconditional-image-generation", tags=["mmhub", "gan", "dcgan"],
                     repo_url="https://github.com/pytorch/examples/tree/main/dcgan"):
    """Noise ``(B, latent_dim)`` -> pictures ``(B, channels, 28, 28)`` in [-1, 1] (white on black, as MNIST).

    ``ConvTranspose(latent_dim -> 4f, 7x7)`` 1 -> 7, ``ConvTranspose(4f -> 2f, 4, stride 2, pad 1)`` 7 -> 14,
    ``ConvTranspose(2f -> channels, 4, 2, 1)`` 14 -> 28, batch norm + ReLU between, ``tanh`` out (f = `features`;
    upstream's ``ngf``).
    """

    def __init__(self, latent_dim: int = 100, features: int = 64, channels: int = 1, image_size: int = IMAGE_SIZE):
        super().__init__()
        if image_size != IMAGE_SIZE:
            raise TypeError(f"image_size must be {IMAGE_SIZE} (the network's geometry); got {image_size}")
        self.latent_dim, self.features, self.channels, self.image_size = latent_dim, features, channels, image_size
        f = features
        self.main = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, f * 4, 7, 1, 0, bias=False),  # 1x1 -> 7x7
            nn.BatchNorm2d(f * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(f * 4, f * 2, 4, 2, 1, bias=False),  # -> 14x14
            nn.BatchNorm2d(f * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(f * 2, channels, 4, 2, 1, bias=False),  # -> 28x28
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.reshape(z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module, PyTorchModelHubMixin, library_name="mmhub", tags=["mmhub", "gan", "dcgan"],
                         repo_url="https://github.com/pytorch/examples/tree/main/dcgan"):
    """Pictures ``(B, channels, 28, 28)`` in [-1, 1] -> the probability that each is real, ``(B,)``.

    ``Conv(channels -> f, 4, 2, 1)`` 28 -> 14 + LeakyReLU(0.2), ``Conv(f -> 2f, 4, 2, 1)`` 14 -> 7 + batch norm +
    LeakyReLU(0.2), ``Conv(2f -> 1, 7x7)`` 7 -> 1, sigmoid (f = `features`; upstream's ``ndf``).
    """

    def __init__(self, features: int = 64, channels: int = 1, image_size: int = IMAGE_SIZE):
        super().__init__()
        if image_size != IMAGE_SIZE:
            raise TypeError(f"image_size must be {IMAGE_SIZE} (the network's geometry); got {image_size}")
        self.features, self.channels, self.image_size = features, channels, image_size
        f = features
        self.main = nn.Sequential(
            nn.Conv2d(channels, f, 4, 2, 1, bias=False),  # 28 -> 14
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(f, f * 2, 4, 2, 1, bias=False),  # -> 7
            nn.BatchNorm2d(f * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(f * 2, 1, 7, 1, 0, bias=False),  # -> 1
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)


def adversarial_step(generator: nn.Module, discriminator: nn.Module, optimizer_g: torch.optim.Optimizer,
                     optimizer_d: torch.optim.Optimizer, real: torch.Tensor,
                     noise: torch.Tensor) -> dict[str, torch.Tensor]:
    """One DCGAN update, as pytorch/examples dcgan/main.py's loop body: the discriminator on a real batch (label 1)
    and a fake batch (label 0), each with its own backward pass; then the generator, its fakes labelled real (the
    non-saturating loss: maximise log D(G(z))). Returns detached tensors (no device sync): ``loss_d`` (real + fake),
    ``loss_g``, ``d_real`` = mean D(x), ``d_fake`` = mean D(G(z)) before and ``d_fake_after`` after D's update."""
    # (1) the discriminator: maximise log D(x) + log(1 - D(G(z)))
    optimizer_d.zero_grad(set_to_none=True)
    output = discriminator(real)
    labels = torch.full_like(output, REAL_LABEL)
    error_real = F.binary_cross_entropy(output, labels)
    error_real.backward()
    d_real = output.detach().mean()
    fake = generator(noise)
    output = discriminator(fake.detach())
    labels.fill_(FAKE_LABEL)
    error_fake = F.binary_cross_entropy(output, labels)
    error_fake.backward()
    d_fake = output.detach().mean()
    optimizer_d.step()
    # (2) the generator: maximise log D(G(z)), i.e. its fakes labelled real
    optimizer_g.zero_grad(set_to_none=True)
    output = discriminator(fake)
    labels.fill_(REAL_LABEL)
    error_g = F.binary_cross_entropy(output, labels)
    error_g.backward()
    optimizer_g.step()
    return {"loss_d": (error_real + error_fake).detach(), "loss_g": error_g.detach(), "d_real": d_real,
            "d_fake": d_fake, "d_fake_after": output.detach().mean()}


# ----------------------------------------------------------------------------------------------------------------
# noise and pictures


def latents(n: int, seed: int, latent_dim: int, truncation: float | None = None) -> torch.Tensor:
    """``(n, latent_dim)`` float32 standard-normal noise on the CPU, from a generator seeded with `seed`.

    The first `n` rows of `MAX_IMAGES` (or of `n`, when larger) draws, so smaller `n` gives a prefix. With
    `truncation` t the draws come from the normal truncated to [-t, t] (the "truncation trick" of Brock et al. 2019,
    BigGAN): exactly, by the inverse CDF of uniform draws between Phi(-t) and Phi(t) (as scipy's ``truncnorm``).
    """
    generator = torch.Generator().manual_seed(seed)
    rows = max(n, MAX_IMAGES)
    if truncation is None:
        return torch.randn(rows, latent_dim, generator=generator)[:n]
    u = torch.rand(rows, latent_dim, generator=generator, dtype=torch.float64)[:n]
    low = 0.5 * math.erfc(truncation / math.sqrt(2.0))  # Phi(-t)
    z = torch.special.ndtri(low + u * (1.0 - 2.0 * low))
    return z.clamp_(-truncation, truncation).float()  # float64 rounding must not step outside [-t, t]


def to_pictures(x: torch.Tensor) -> np.ndarray:
    """Generator output ``(B, 1, 28, 28)`` in [-1, 1] -> ``(B, 28, 28)`` float32 in [0, 1]."""
    return ((x.detach().float()[:, 0] + 1.0) / 2.0).clamp_(0.0, 1.0).cpu().numpy()


def grey(pixels: np.ndarray) -> Any:
    """``(28, 28)`` values in [0, 1] -> a mode ``L`` picture."""
    from PIL import Image

    return Image.fromarray((np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), mode="L")


def image_grid(pictures: np.ndarray, columns: int | None = None, scale: int = 1, padding: int = 2) -> Any:
    """``(N, H, W)`` values in [0, 1] as one mode ``L`` picture: `columns` per row (1 to 256; default: a square, 8
    at most as torchvision's ``make_grid``), `padding` black pixels between and around (0 to 16, default 2 as
    ``make_grid``), each pixel `scale` x `scale` (1 to 32)."""
    from PIL import Image

    n, h, w = pictures.shape
    columns = validate.optional_integer("columns", columns, low=1, high=MAX_IMAGES) \
        or max(1, min(8, math.ceil(math.sqrt(n))))
    scale = validate.integer("scale", scale, low=1, high=32)
    padding = validate.integer("padding", padding, low=0, high=16)
    rows = max(1, math.ceil(n / columns))
    canvas = np.zeros((rows * (h + padding) + padding, columns * (w + padding) + padding), dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, columns)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        canvas[top: top + h, left: left + w] = pictures[i]
    image = Image.fromarray((np.clip(canvas, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), mode="L")
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST) if scale > 1 else image


# ----------------------------------------------------------------------------------------------------------------
# results


@dataclasses.dataclass
class GanResult(Result):
    """Pictures drawn by the generator.

    Attributes:
        images (`list[PIL.Image.Image]`): `n` pictures, 28x28, mode ``L`` (white on black, as the training data).
        pixels (`np.ndarray`): the same, ``(n, 28, 28)`` float32 in [0, 1].
        latents (`np.ndarray`): the noise each was drawn from, ``(n, latent_dim)`` float32.
        seed (`int`): the noise's seed (reported when drawn at random).
        truncation (`float` or `None`): |z| was bounded by this (None: plain standard normal noise).
    """

    images: list[Any]
    pixels: np.ndarray
    latents: np.ndarray
    seed: int
    truncation: float | None = None

    def grid(self, columns: int | None = None, scale: int = 1, padding: int = 2) -> Any:
        """All pictures in one (see `image_grid`): 8 to a row at most, 2 black pixels between."""
        return image_grid(self.pixels, columns=columns, scale=scale, padding=padding)


@dataclasses.dataclass
class WalkResult(Result):
    """Pictures along the straight line between two noise vectors (the DCGAN paper's "walking in the latent space").

    Attributes:
        images (`list[PIL.Image.Image]`): `steps` pictures, both ends included.
        pixels (`np.ndarray`): ``(steps, 28, 28)`` in [0, 1].
        seeds (`tuple[int, int]`): the seeds of the two ends (each end is ``gan(1, seed=s)``'s picture).
    """

    images: list[Any]
    pixels: np.ndarray
    seeds: tuple[int, int]
    truncation: float | None = None

    def strip(self, scale: int = 3) -> Any:
        """All pictures side by side, each pixel `scale` x `scale`."""
        return image_grid(self.pixels, columns=len(self.images), scale=scale, padding=0)


# ----------------------------------------------------------------------------------------------------------------
# the pipeline


class GanPipeline(Pipeline):
    """Draw pictures from a trained DCGAN generator.

    >>> from pipelines import load
    >>> gan = load("gan", model="local:gan")          # python -m finetune.gan first; or model="tiny" offline
    >>> gan(16, seed=0).grid(scale=4).save("sixteen.png")
    >>> gan(64, seed=0, truncation=1.0).grid()        # less variety, more typical pictures
    """

    task = TASK

    def __init__(self, generator: DCGANGenerator, model_id: str, device: Any):
        super().__init__(model_id, device, torch.float32)
        self.generator = generator

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None,
                        revision: str | None = None) -> GanPipeline:
        """Load a generator written by ``python -m finetune.gan`` (``config.json`` + ``model.safetensors`` of
        `huggingface_hub.PyTorchModelHubMixin`).

        Args:
            model (`str`): ``"local:gan"`` (where the trainer writes by default), a folder, or a Hub id.
            device (`str`, *optional*): default CUDA when present, else CPU.
            dtype: float32 only (None or ``"float32"``): the network is tiny, half precision would gain nothing.
            revision (`str`, *optional*): a Hub revision.
        """
        from pipelines import lab

        if dtype not in (None, "auto", "float32", torch.float32):
            raise InputError("dtype", dtype, "float32 (or None) for the GAN")
        generator = lab.load_module(DCGANGenerator, model, task=cls.task, train_command=TRAIN_COMMAND, device=device,
                                    revision=revision)
        return cls(generator, model, next(generator.parameters()).device)

    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    @torch.inference_mode()
    def __call__(self, n: int = 16, seed: int | None = None, truncation: float | None = None) -> GanResult:
        """Draw `n` pictures.

        Args:
            n (`int`, defaults to 16): how many, 1 to 256.
            seed (`int`, *optional*): the noise's seed (0 to 2**63 - 1); default a random one, reported. The same
                seed gives the same pictures on every device.
            truncation (`float`, *optional*): bound the noise to [-t, t] (t in (0, 4]): smaller t, more typical and
                less varied pictures. Default: plain standard normal noise, as in training.
        """
        n = validate.integer("n", n, low=1, high=MAX_IMAGES)
        seed = validate.seed(seed)
        truncation = validate.optional_number("truncation", truncation, low=0.0, high=MAX_TRUNCATION, low_open=True)
        z = latents(n, seed, self.latent_dim, truncation)
        pixels = to_pictures(self.generator(z.to(self.device)))
        return GanResult(images=[grey(p) for p in pixels], pixels=pixels, latents=z.numpy(), seed=seed,
                         truncation=truncation)

    @torch.inference_mode()
    def interpolate(self, start: int, end: int, steps: int = 8, truncation: float | None = None) -> WalkResult:
        """Pictures on the straight line between the noise of seed `start` and of seed `end` (each the first draw
        of its seed, as ``gan(1, seed=...)``), both ends included: smooth changes show the generator learnt a
        continuous space rather than memorising pictures (Radford et al. 2016, section 6.1).

        Args:
            start, end (`int`): the seeds of the two ends.
            steps (`int`, defaults to 8): pictures in the walk, 2 to 64.
            truncation (`float`, *optional*): as in `__call__`.
        """
        start = validate.integer("start", start, low=0, high=validate.SEED_MAX)
        end = validate.integer("end", end, low=0, high=validate.SEED_MAX)
        steps = validate.integer("steps", steps, low=2, high=MAX_WALK_STEPS)
        truncation = validate.optional_number("truncation", truncation, low=0.0, high=MAX_TRUNCATION, low_open=True)
        a = latents(1, start, self.latent_dim, truncation)
        b = latents(1, end, self.latent_dim, truncation)
        t = torch.linspace(0.0, 1.0, steps)[:, None]
        pixels = to_pictures(self.generator(((1 - t) * a + t * b).to(self.device)))
        return WalkResult(images=[grey(p) for p in pixels], pixels=pixels, seeds=(start, end),
                          truncation=truncation)
