"""Image folders for DreamBooth: read, check and crop the 5-30 pictures of one subject, without torchvision.

Every image is opened before training starts: an empty folder, a file that does not decode, or a picture far smaller
than the training resolution raises `DataError` naming the file. Images are kept in memory with their shorter side
resized to the resolution (LANCZOS, as diffusers' example), then cropped per step (random or centre) and scaled to
[-1, 1], the range the Stable Diffusion VAE encodes (``transforms.Normalize([0.5], [0.5])`` in diffusers'
``train_dreambooth_lora.py``).

>>> from finetune.images import load_image_folder, to_tensor
>>> images = load_image_folder("photos/mug", resolution=512)
>>> to_tensor(images[0], 512, center=True).shape
torch.Size([3, 512, 512])
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from finetune.data import DataError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
#: An image whose shorter side is below resolution / MIN_SIDE_FRACTION is refused: upscaled that far it is mush.
MIN_SIDE_FRACTION = 4


def image_files(folder: str | os.PathLike, flag: str = "--instance-dir") -> list[Path]:
    """The image files directly in `folder` (by suffix, hidden files skipped), sorted; `DataError` when none."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise DataError(f"{flag} {path}: no such folder.")
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{flag} {path}: no images in the folder (looked for {', '.join(IMAGE_SUFFIXES)}).")
    return files


def load_image_folder(folder: str | os.PathLike, resolution: int, flag: str = "--instance-dir") -> list[Any]:
    """Every image of `folder` as RGB PIL images with the shorter side resized to `resolution`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    images = []
    smallest = max(1, resolution // MIN_SIDE_FRACTION)
    for file in image_files(folder, flag):
        try:
            with Image.open(file) as opened:
                image = ImageOps.exif_transpose(opened)
                image.load()
                image = image.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
            raise DataError(f"{flag}: {file} is not a readable image ({err}).") from None
        if min(image.size) < smallest:
            raise DataError(f"{flag}: {file} is {image.width}x{image.height} pixels; images must be at least "
                            f"{smallest} pixels on the shorter side for --resolution {resolution} (ideally "
                            f"{resolution}).")
        if min(image.size) < resolution:
            logger.warning("%s is %dx%d: upscaled to %d px on the shorter side", file, *image.size, resolution)
        scale = resolution / min(image.size)
        size = (max(resolution, round(image.width * scale)), max(resolution, round(image.height * scale)))
        images.append(image.resize(size, Image.Resampling.LANCZOS))
    return images


def to_tensor(image: Any, resolution: int, center: bool, generator: Any = None):
    """A `resolution` square crop (centre, or random with `generator`) as a float tensor (3, H, W) in [-1, 1]."""
    import numpy as np
    import torch

    width, height = image.size
    if center:
        left, top = (width - resolution) // 2, (height - resolution) // 2
    else:
        left = int(torch.randint(0, width - resolution + 1, (1,), generator=generator))
        top = int(torch.randint(0, height - resolution + 1, (1,), generator=generator))
    crop = image.crop((left, top, left + resolution, top + resolution))
    array = np.asarray(crop, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()
