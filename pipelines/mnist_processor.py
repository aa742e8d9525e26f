"""One picture preparation for the 28x28 lab models (digit CNN, MNIST VAE), saved beside the weights.

transformers saves an image processor beside a model's weights (``preprocessor_config.json``) and torchvision ships
``weights.transforms()``, so a model is served exactly as it was trained. The lab trainers (`finetune.digits`,
`finetune.vae`) do the same with `MnistImageProcessor`: it is the *only* definition of how a stored picture becomes
the network's input, used by

- the trainers, to decode their datasets (`finetune.image_data`) and for every number in ``metrics.json``;
- the pipelines (``load("digit-recognition")``, ``load("autoencoder", model=<MNIST VAE>)``), read back from
  ``preprocessor_config.json`` in the model folder, as the default preparation of every picture.

The preparation of a stored picture (what the training data is made of) is: convert to grey (PIL ``L``), resize to
28x28 with PIL's bilinear filter when it has another size, and rescale by 1/255 to [0, 1]. That is all: no crop, no
centring, no inversion. A picture of your own 28x28 training folder goes through the pipeline exactly as it went
through training, so the pipeline reproduces ``metrics.json`` picture for picture.

A *drawing* (a Gradio sketch, a picture with transparent pixels, a photo or scan of another size or ink colour) is
not a stored picture. It is first turned into one (`pipelines.mnist`): the ink is found (transparency, or grey levels
inverted when the paper is light), cropped to the strokes, fitted into a ``sketch_box`` x ``sketch_box`` square
keeping its aspect, centred by its centre of mass in the 28x28 field, inverted when the training pictures were dark
ink on light paper, and stored as 8-bit grey; then it goes through the saved preparation like any stored picture.
The trainer measures ``sketch_box`` and ``ink`` on its own training pictures (the median longer side of the ink's
bounding box, and the median border level), so a drawing is laid out like the pictures the model learnt from: on
MNIST (digits "size normalized to fit in a 20x20 pixel box", centred by mass, white on black, LeCun's MNIST page)
this is MNIST's own recipe.

Which route a picture takes (``normalise=None``, the default of the pipelines): sketches and pictures with
transparency -> the drawing route; a picture of the stored size (28x28) whose ink colour matches the training
pictures' -> the stored route; any other picture -> the drawing route. ``normalise=False`` forces the stored route
(for a folder stored at another size), ``normalise=True`` the drawing route.

Model folders written before this file existed have no ``preprocessor_config.json``; they get `DEFAULT`: the stored
preparation above (what every `finetune.digits` / `finetune.vae` run applied in training) with MNIST's drawing
layout (box 20, light ink on black), because the trainers' default data is MNIST (``ylecun/mnist``).

>>> from pipelines.mnist_processor import MnistImageProcessor
>>> processor = MnistImageProcessor.from_pretrained("runs/digits")      # DEFAULT when the folder has no file
>>> x = processor.prepare("seven.png")                                 # (28, 28) float32 in [0, 1]
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.errors import InputError, ModelLoadError

logger = logging.getLogger(__name__)

CONFIG_NAME = "preprocessor_config.json"  # transformers' FEATURE_EXTRACTOR_NAME / IMAGE_PROCESSOR_NAME
PROCESSOR_TYPE = "MnistImageProcessor"
SIZE = 28
MNIST_BOX = 20  # LeCun's MNIST page: "size normalized to fit in a 20x20 pixel box while preserving their aspect ratio"
INKS = ("light-on-dark", "dark-on-light")
BILINEAR = 2  # PIL.Image.Resampling.BILINEAR, stored as transformers stores `resample`
#: The routes of `MnistImageProcessor.prepare`.
STORED, DRAWING = "stored", "drawing"


@dataclasses.dataclass(frozen=True)
class MnistImageProcessor:
    """How pictures become the input of a 28x28 lab model; see the module docstring.

    Attributes:
        sketch_box (`int`, defaults to 20): the side of the square a drawing's strokes are fitted into (MNIST: 20).
        ink (`str`, defaults to ``"light-on-dark"``): the training pictures' colours (MNIST: white on black).
    """

    sketch_box: int = MNIST_BOX
    ink: str = "light-on-dark"

    def __post_init__(self) -> None:
        box = self.sketch_box
        if isinstance(box, bool) or not isinstance(box, int) or not 4 <= box <= SIZE:
            raise ValueError(f"sketch_box must be an integer from 4 to {SIZE}; got {self.sketch_box!r}")
        if self.ink not in INKS:
            raise ValueError(f"ink must be one of {INKS}; got {self.ink!r}")

    # ------------------------------------------------------------------------------------------ saved form

    def to_dict(self) -> dict[str, Any]:
        """The ``preprocessor_config.json`` content, in transformers' image-processor vocabulary."""
        return {"image_processor_type": PROCESSOR_TYPE, "do_convert_grayscale": True, "do_resize": True,
                "size": {"height": SIZE, "width": SIZE}, "resample": BILINEAR, "do_rescale": True,
                "rescale_factor": 1 / 255, "do_normalize": False, "sketch_box": self.sketch_box, "ink": self.ink}

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        """Write ``folder/preprocessor_config.json``."""
        path = Path(folder) / CONFIG_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, config: Any, model: str = "") -> MnistImageProcessor:
        """The processor a ``preprocessor_config.json`` describes; `ModelLoadError` for one mmhub cannot follow."""
        fixed = {"do_convert_grayscale": True, "do_resize": True, "size": {"height": SIZE, "width": SIZE},
                 "resample": BILINEAR, "do_rescale": True, "do_normalize": False}
        if not isinstance(config, dict) or config.get("image_processor_type") != PROCESSOR_TYPE:
            found = _get(config, "image_processor_type")
            raise ModelLoadError(model, "incompatible", f"its {CONFIG_NAME} is not an {PROCESSOR_TYPE} "
                                                        f"(image_processor_type {found!r}).")
        changed = [key for key, value in fixed.items() if key in config and config[key] != value]
        factor = config.get("rescale_factor", 1 / 255)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or abs(factor * 255 - 1) > 1e-9:
            changed.append("rescale_factor")
        if changed:
            raise ModelLoadError(model, "incompatible", f"its {CONFIG_NAME} asks for a preparation mmhub does not "
                                                        f"make ({', '.join(changed)}); the lab models take 28x28 "
                                                        f"grey pictures rescaled by 1/255.")
        try:
            return cls(sketch_box=config.get("sketch_box", MNIST_BOX), ink=config.get("ink", "light-on-dark"))
        except ValueError as err:
            raise ModelLoadError(model, "incompatible", f"its {CONFIG_NAME}: {err}.") from None

    @classmethod
    def from_pretrained(cls, model: str, revision: str | None = None,
                        task: str = "digit-recognition") -> MnistImageProcessor:
        """The processor saved in a model folder or Hub repo; `DEFAULT` when it has none (older folders). A Hub
        repo that cannot be read (offline, not cached) is a `ModelLoadError`, never a silent default."""
        from pipelines import lab
        from pipelines.base import is_local_path, translating_load_errors

        path = lab.resolve(model)
        if lab.is_local_id(model) or is_local_path(path):
            file = Path(path).expanduser() / CONFIG_NAME
            if not file.is_file():
                return DEFAULT
        else:
            from huggingface_hub import hf_hub_download
            from huggingface_hub.errors import RemoteEntryNotFoundError

            with translating_load_errors(path, task):
                try:
                    file = Path(hf_hub_download(path, CONFIG_NAME, revision=revision))
                except RemoteEntryNotFoundError:
                    return DEFAULT
        try:
            config = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as err:
            raise ModelLoadError(model, "incompatible", f"its {CONFIG_NAME} is not valid JSON "
                                                        f"({type(err).__name__}).") from None
        return cls.from_dict(config, model)

    # ------------------------------------------------------------------------------------------ training side

    @classmethod
    def for_training(cls, images: np.ndarray, limit: int = 5000) -> MnistImageProcessor:
        """The processor of a training set of stored uint8 pictures ``(N, 28, 28)``: its ink colour (the median
        border level: dark borders -> light ink) and its drawing box (the median longer side of the ink's bounding
        box), measured on at most `limit` pictures (evenly spaced)."""
        images = np.asarray(images)
        if images.ndim != 3 or images.shape[1:] != (SIZE, SIZE) or not len(images):
            raise ValueError(f"images must be (N, {SIZE}, {SIZE}) with N >= 1; got {images.shape}")
        sample = images[np.linspace(0, len(images) - 1, min(limit, len(images))).astype(int)].astype(np.float32)
        sample /= 255.0
        border = np.concatenate([sample[:, 0], sample[:, -1], sample[:, :, 0], sample[:, :, -1]], axis=1)
        dark_paper = float(np.median(border)) < 0.5
        ink = sample if dark_paper else 1.0 - sample
        sides = []
        for picture in ink:
            rows, cols = np.nonzero(picture > _ink_threshold())
            if rows.size:
                sides.append(max(rows.max() - rows.min(), cols.max() - cols.min()) + 1)
        box = int(round(float(np.median(sides)))) if sides else MNIST_BOX
        return cls(sketch_box=min(SIZE, max(4, box)), ink="light-on-dark" if dark_paper else "dark-on-light")

    @staticmethod
    def stored_array(picture: Any) -> tuple[np.ndarray, bool]:
        """A stored picture (PIL) as the uint8 ``(28, 28)`` grey array training sees, and whether it was resized."""
        from PIL import Image

        grey = picture.convert("L") if picture.mode != "L" else picture
        if grey.size != (SIZE, SIZE):
            return np.asarray(grey.resize((SIZE, SIZE), Image.Resampling.BILINEAR), dtype=np.uint8), True
        return np.asarray(grey, dtype=np.uint8), False

    @staticmethod
    def rescale(pixels: Any) -> Any:
        """uint8 pixels (a torch tensor or NumPy array) -> float32 in [0, 1]: ``x / 255``."""
        if isinstance(pixels, np.ndarray):
            return pixels.astype(np.float32) / np.float32(255.0)
        import torch

        return pixels.to(torch.float32) / 255.0

    # ------------------------------------------------------------------------------------------ serving side

    def route(self, image: Any, invert: bool | None = None, normalise: bool | None = None) -> str:
        """``"stored"`` or ``"drawing"`` for a PIL `image` (see the module docstring)."""
        if normalise is not None:
            return DRAWING if normalise else STORED
        if _has_transparency(image) or image.size != (SIZE, SIZE):
            return DRAWING
        if invert is not None:
            dark_paper = not invert
        else:
            grey = np.asarray(image.convert("L") if image.mode != "L" else image, dtype=np.float32) / 255.0
            border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
            dark_paper = float(np.median(border)) < 0.5
        return STORED if dark_paper == (self.ink == "light-on-dark") else DRAWING

    def prepare(self, value: Any, invert: bool | None = None, normalise: bool | None = None,
                argument: str = "image", sketch: bool | None = None) -> np.ndarray:
        """The ``(28, 28)`` float32 picture in [0, 1] the network sees for `value` (path, PIL image, array or a
        Gradio sketch dict); `invert` says the ink colour of a drawing (default: from its border). `sketch` says
        that `value` came from a sketch pad (default: it is a Gradio sketch dict), which is always a drawing."""
        from pipelines.mnist import sketch_image

        picture = sketch_image(value, argument)
        if sketch if sketch is not None else isinstance(value, dict):
            route = STORED if normalise is False else DRAWING
        else:
            route = self.route(picture, invert, normalise)
        if route == STORED:
            pixels = self.stored_array(picture)[0]
            if pixels.min() == pixels.max():  # one flat colour: nothing to recognise (a blank canvas)
                raise InputError(argument, "an empty drawing", "a drawing with at least one stroke",
                                 "Draw a digit (or pass a picture of one).")
            return self.rescale(pixels)
        return self.rescale(self.drawing_array(picture, invert, argument))

    def drawing_array(self, picture: Any, invert: bool | None = None, argument: str = "image") -> np.ndarray:
        """A drawing (PIL) turned into a stored uint8 ``(28, 28)`` picture laid out like the training pictures."""
        from pipelines.mnist import ink, normalise

        digit = normalise(ink(picture, invert, argument), argument, box=self.sketch_box)
        if self.ink == "dark-on-light":
            digit = 1.0 - digit
        return (np.clip(digit, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


#: What a model folder without ``preprocessor_config.json`` gets (see the module docstring).
DEFAULT = MnistImageProcessor()


def _get(config: Any, key: str) -> Any:
    return config.get(key) if isinstance(config, dict) else None


def _ink_threshold() -> float:
    from pipelines.mnist import INK_THRESHOLD

    return INK_THRESHOLD


def _has_transparency(image: Any) -> bool:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else image.convert("RGBA").getchannel("A")
        return alpha.getextrema()[0] < 255
    return False


def check_argument(name: str, value: Any) -> bool | None:
    """``normalise`` / ``invert`` as the pipelines take them: None, True or False (an `InputError` otherwise)."""
    from pipelines import validate

    if value is None:
        return None
    try:
        return validate.boolean(name, value)
    except InputError:
        raise InputError(name, value, "True, False or None (None: decided from the picture)") from None
