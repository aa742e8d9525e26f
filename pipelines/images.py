"""Image inputs for the image pipelines: a path, a PIL image or an array becomes an RGB PIL image, or an InputError.

>>> from pipelines.images import load_image
>>> load_image("photo.jpg", "image").mode
'RGB'
"""

from __future__ import annotations

import os
from typing import Any

from pipelines.errors import InputError

ALLOWED = "an image: a file path, a PIL.Image, or an array of shape (H, W), (H, W, 3) or (H, W, 4)"


def load_image(value: Any, argument: str = "image") -> Any:
    """An RGB `PIL.Image.Image` from a path, a PIL image or a numpy array; `InputError` naming `argument` otherwise.

    Arrays of floats are read as values in [0, 1]; arrays of integers as 0..255. A grayscale or RGBA input is
    converted to RGB (alpha dropped). A missing file, a corrupt file or a file that is not an image all raise.

    Args:
        value (`str`, `os.PathLike`, `PIL.Image.Image` or `numpy.ndarray`): the image.
        argument (`str`, *optional*, defaults to ``"image"``): the argument name used in the error message.
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    if isinstance(value, Image.Image):
        try:
            return value.convert("RGB") if value.mode != "RGB" else value
        except (OSError, ValueError) as err:  # e.g. a mode PIL cannot convert to RGB
            raise InputError(argument, f"a {value.mode} image", ALLOWED, f"It cannot be converted to RGB ({err}).") \
                from err
    if isinstance(value, (str, os.PathLike)):
        path = os.path.expanduser(os.fspath(value))
        if not os.path.isfile(path):
            raise InputError(argument, value, ALLOWED, f"No such file: {path!r}.")
        try:
            with Image.open(path) as image:
                image.load()
                return image.convert("RGB")
        except Image.DecompressionBombError as err:  # PIL's guard: more than 2 x MAX_IMAGE_PIXELS (~179 Mpx)
            raise InputError(argument, "an image too large to decode safely",
                             f"an image of at most {Image.MAX_IMAGE_PIXELS} pixels", "Resize it first.") from err
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
            raise InputError(argument, value, ALLOWED, f"The file cannot be read as an image ({err}).") from err
    if hasattr(value, "__array__") and not isinstance(value, (bytes, bytearray)):
        array = np.asarray(value)
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)) or 0 in array.shape:
            raise InputError(argument, f"array of shape {array.shape}", ALLOWED)
        if array.dtype == np.bool_ or not (np.issubdtype(array.dtype, np.integer)
                                           or np.issubdtype(array.dtype, np.floating)):
            raise InputError(argument, f"array of dtype {array.dtype}", ALLOWED)
        if np.issubdtype(array.dtype, np.floating):
            if not np.isfinite(array).all():
                raise InputError(argument, "array with NaN or infinite values", ALLOWED)
            array = np.clip(array, 0.0, 1.0) * 255.0 + 0.5
        array = np.clip(array, 0, 255).astype(np.uint8)
        return Image.fromarray(array).convert("RGB")
    raise InputError(argument, value, ALLOWED)


def fit_within(size: tuple[int, int], max_side: int, multiple: int = 1) -> tuple[int, int]:
    """`(width, height)` scaled down (never up) to a long side of at most `max_side`, each a multiple of `multiple`."""
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    width, height = max(1, round(width * scale)), max(1, round(height * scale))
    if multiple > 1:
        width, height = max(multiple, width // multiple * multiple), max(multiple, height // multiple * multiple)
    return width, height
