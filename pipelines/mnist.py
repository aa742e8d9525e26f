"""MNIST-style digit pictures: how LeCun's MNIST digits were normalised, applied to any drawing or photo.

MNIST's own recipe (yann.lecun.com/exdb/mnist, "The MNIST database"): the NIST digits "were size normalized to fit
in a 20x20 pixel box while preserving their aspect ratio", anti-aliased (hence grey levels), then "centered in a
28x28 image by computing the center of mass of the pixels, and translating the image so as to position this point
at the center of the 28x28 field". Digits are white (255) on black (0). `to_mnist` does exactly that to a sketch
(black strokes on white or on a transparent canvas) or a photo, so the network sees what it was trained on.

>>> from pipelines.mnist import to_mnist
>>> digit = to_mnist(PIL.Image.open("my_seven.png"))      # (28, 28) float32, white on black, in [0, 1]

`sklearn_digits()` turns scikit-learn's bundled 8x8 digits (1797 of them, UCI "optdigits", CC BY 4.0) into the
same 28x28 form: an offline stand-in for MNIST used by the tiny model, tests and offline training.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

import numpy as np

from pipelines.errors import InputError

logger = logging.getLogger(__name__)

SIZE, BOX = 28, 20  # the MNIST field, and the box the digit is scaled into
INK_THRESHOLD = 0.1  # ink below this (after background removal) is paper, not stroke: it does not count for the box
ALLOWED = ("an image of one digit: a file path, a PIL.Image, an array (H, W) / (H, W, 3) / (H, W, 4), or a Gradio "
           "sketch dict with 'composite' / 'layers' / 'background'")


def ink(image: Any, invert: bool | None = None, argument: str = "image") -> np.ndarray:
    """Ink map ``(H, W)`` float32 in [0, 1] (1 = stroke) of a PIL image, background removed.

    Transparency wins: on a canvas with transparent pixels (a Gradio sketch layer) the ink is the opacity. Otherwise
    the grey level, inverted when the border is bright (dark strokes on paper; ``invert`` forces it either way),
    then the border's level is subtracted and the rest stretched to [0, 1].
    """
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        opacity = np.asarray(rgba.getchannel("A"))  # uint8: only this channel is converted (a sketch is large)
        if opacity.min() < 255:
            alpha = opacity.astype(np.float32) / 255.0
            if invert is None:
                return _stretch(alpha, 0.0)
            grey = np.asarray(rgba.convert("L"), dtype=np.float32) / 255.0
            return _stretch(alpha * (1.0 - grey if invert else grey), 0.0)
    grey = np.asarray(image.convert("L") if image.mode != "L" else image, dtype=np.float32) / 255.0
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if invert is None:
        invert = float(np.median(border)) > 0.5
    if invert:
        grey, border = 1.0 - grey, 1.0 - border
    return _stretch(grey, float(np.median(border)))


def _stretch(values: np.ndarray, background: float) -> np.ndarray:
    top = float(values.max()) if values.size else 0.0
    if top - background < INK_THRESHOLD:
        return np.zeros_like(values, dtype=np.float32)
    return np.clip((values - background) / (top - background), 0.0, 1.0).astype(np.float32)


def normalise(ink_map: np.ndarray, argument: str = "image", box: int = BOX) -> np.ndarray:
    """MNIST's normalisation of an ink map: crop to the strokes, fit in 20x20 keeping the aspect, centre the mass.

    Returns ``(28, 28)`` float32 in [0, 1]. An empty ink map (nothing drawn) is an `InputError` naming `argument`.
    `box` replaces MNIST's 20 (`pipelines.mnist_processor`: a model trained on pictures laid out otherwise).
    """
    from PIL import Image

    rows, cols = np.nonzero(ink_map > INK_THRESHOLD)
    if rows.size == 0:
        raise InputError(argument, "an empty drawing", "a drawing with at least one stroke",
                         "Draw a digit (or pass a picture of one).")
    strokes = ink_map[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
    height, width = strokes.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # PIL's BILINEAR widens its kernel when shrinking: an anti-aliased (area-weighted) resize, as MNIST's was.
    small = np.asarray(Image.fromarray(strokes.astype(np.float32), mode="F").resize(size,
                                                                                    Image.Resampling.BILINEAR))
    small = np.clip(small, 0.0, 1.0)
    if small.max() <= 0.0:
        raise InputError(argument, "an empty drawing", "a drawing with at least one stroke")
    small = small / small.max()  # MNIST's strokes reach full white (255); thin ones dim when shrunk
    total = float(small.sum())
    ys, xs = np.indices(small.shape)
    centre_y, centre_x = float((ys * small).sum() / total), float((xs * small).sum() / total)
    # Put the centre of mass on the field's centre pixel (14, 14), as the well-known MNIST-preparation recipes do;
    # a digit whose mass sits near its box's edge may lose a sliver at the field's border.
    top, left = round(SIZE / 2 - centre_y), round(SIZE / 2 - centre_x)
    field = np.zeros((SIZE, SIZE), dtype=np.float32)
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(SIZE, top + small.shape[0]), min(SIZE, left + small.shape[1])
    field[y0:y1, x0:x1] = small[y0 - top: y1 - top, x0 - left: x1 - left]
    return field


def sketch_image(value: Any, argument: str = "image") -> Any:
    """A PIL image from whatever a caller passes for one digit: path, PIL image, array or Gradio sketch dict."""
    from pipelines.images import load_image

    if isinstance(value, dict):
        keys = {"composite", "layers", "background"}
        if not keys & set(value):
            raise InputError(argument, f"a dict with keys {sorted(map(str, value))}", ALLOWED)
        if value.get("composite") is not None:
            return _any_image(value["composite"], argument, load_image)
        parts = [p for p in [value.get("background"), *(value.get("layers") or [])] if p is not None]
        if not parts:
            raise InputError(argument, "an empty drawing", "a drawing with at least one stroke",
                             "Draw a digit (or pass a picture of one).")
        canvas = _any_image(parts[0], argument, load_image).convert("RGBA")
        for part in parts[1:]:
            layer = _any_image(part, argument, load_image).convert("RGBA")
            if layer.size != canvas.size:
                raise InputError(argument, f"sketch layers of sizes {canvas.size} and {layer.size}",
                                 "layers of one size")
            canvas.alpha_composite(layer)
        return canvas
    return _any_image(value, argument, load_image)


def _any_image(value: Any, argument: str, load_image: Any) -> Any:
    """Like `load_image`, but keeping transparency (a sketch's ink) and single-channel modes."""
    from PIL import Image

    if isinstance(value, Image.Image):
        return value
    if isinstance(value, (bytes, bytearray, str)) or hasattr(value, "__fspath__"):
        if isinstance(value, (bytes, bytearray)):
            raise InputError(argument, "bytes", ALLOWED, "Pass a path or a PIL image, not raw bytes.")
        path_image = load_image(value, argument)  # validates the file (missing, corrupt, not an image)
        with Image.open(os.path.expanduser(os.fspath(value))) as image:
            image.load()
            return image.copy() if image.mode in ("RGBA", "LA", "L", "P") else path_image
    if hasattr(value, "__array__"):
        array = np.asarray(value)
        if array.ndim == 3 and array.shape[-1] == 4 and 0 not in array.shape and array.dtype != np.bool_ \
                and (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            if np.issubdtype(array.dtype, np.floating):
                if not np.isfinite(array).all():
                    raise InputError(argument, "array with NaN or infinite values", ALLOWED)
                array = np.clip(array, 0.0, 1.0) * 255.0 + 0.5
            return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), mode="RGBA")
        if array.ndim == 2 and 0 not in array.shape and np.issubdtype(array.dtype, np.number) \
                and array.dtype != np.bool_:
            grey = load_image(array, argument).convert("L")  # validates NaN / inf / dtype the same way
            return grey
    return load_image(value, argument)


def to_mnist(value: Any, invert: bool | None = None, normalise_digit: bool = True,
             argument: str = "image") -> np.ndarray:
    """The ``(28, 28)`` float32 picture in [0, 1], white digit on black, that an MNIST network expects.

    Args:
        value: a path, PIL image, array or Gradio sketch dict (see `sketch_image`).
        invert (`bool`, *optional*): force dark-on-light (True) or light-on-dark (False); default from the border.
        normalise_digit (`bool`, *optional*, defaults to `True`): crop, fit in 20x20 and centre by mass as MNIST did;
            False only resizes the whole picture to 28x28 (for inputs that are MNIST samples already).
    """
    from PIL import Image

    image = sketch_image(value, argument)
    if min(image.size) < 1:
        raise InputError(argument, f"a {image.size[0]}x{image.size[1]} image", "an image at least 1x1 pixels")
    ink_map = ink(image, invert, argument)
    if not normalise_digit:
        if ink_map.max() <= 0.0:
            raise InputError(argument, "an empty drawing", "a drawing with at least one stroke")
        if ink_map.shape == (SIZE, SIZE):
            return ink_map
        resized = Image.fromarray(ink_map, mode="F").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
        return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
    return normalise(ink_map, argument)


def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits as MNIST-style ``(1797, 28, 28)`` uint8 pictures and their labels 0-9.

    Each 8x8 picture (ink 0..16, light on dark like MNIST) goes through `normalise`: fit in 20x20, centre by mass.
    Computed once per process; each call returns fresh copies.
    """
    images, labels = _sklearn_digits()
    return images.copy(), labels.copy()


@functools.lru_cache(maxsize=1)
def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.stack([normalise(image / 16.0) for image in bunch.images.astype(np.float32)])
    return (images * 255.0 + 0.5).astype(np.uint8), bunch.target.astype(np.int64)
