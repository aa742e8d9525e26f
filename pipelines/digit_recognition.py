"""Handwritten digit recognition with every layer visible: the nn_vis LeNet and its activations from the forward pass.

The network is the convolutional one of Adam Harley's nn_vis demo (adamharley.com/nn_vis: "1024 nodes on the bottom
layer (corresponding to pixels), six 5x5 (stride 1) convolutional filters in the first hidden layer, followed by
sixteen 5x5 (stride 1) convolutional filters in the second hidden layer, then three fully-connected layers, with 120
nodes in the first, 100 nodes in the second, and 10 nodes in the third. The convolutional layers are each followed by
downsampling layer that does 2x2 max pooling (with stride 2)"): MNIST's 28x28 padded to 32x32 as in LeNet-5, ReLU
activations (nn_vis does not state its own), softmax output. Its weights are trained by ``python -m finetune.digits``.

>>> from pipelines import load
>>> dr = load("digit-recognition")                      # local:digit-recognition (train it first), or model="tiny"
>>> result = dr("my_seven.png")
>>> result.label, result.top[:2], list(result.layers)
(7, [{'label': 7, 'probability': 0.99...}, {'label': 1, ...}], ['input', 'conv1', 'pool1', 'conv2', 'pool2', 'fc1',
'fc2', 'output'])
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from pipelines import validate
from pipelines.base import Pipeline, Result
from pipelines.errors import InputError
from pipelines.mnist_processor import MnistImageProcessor, check_argument

logger = logging.getLogger(__name__)

TASK = "digit-recognition"
TRAIN_COMMAND = "python -m finetune.digits"
#: The layers a result shows, in forward order (nn_vis's: input, conv 1, pooling 1, conv 2, pooling 2, fully
#: connected 1 and 2, output).
LAYERS = ("input", "conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "output")
LAYER_TITLES = {"input": "Input layer", "conv1": "Convolution layer 1", "pool1": "Downsampling layer 1",
                "conv2": "Convolution layer 2", "pool2": "Downsampling layer 2", "fc1": "Fully-connected layer 1",
                "fc2": "Fully-connected layer 2", "output": "Output layer"}
#: Mean and standard deviation of MNIST's training pixels in [0, 1] (pytorch/examples mnist/main.py Normalize).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
MAX_SIDE = 4096


class DigitCNN(nn.Module, PyTorchModelHubMixin, library_name="mmhub", pipeline_tag="image-classification",
               tags=["mmhub", "mnist", "lenet"], repo_url="https://adamharley.com/nn_vis/"):
    """The nn_vis LeNet: conv 5x5 x6 -> pool -> conv 5x5 x16 -> pool -> fc 120 -> fc 100 -> 10.

    Input: ``(B, 1, 28, 28)`` white-on-black pictures in [0, 1] (padded to 32x32 and standardised inside). `forward`
    returns logits (what training needs); ``forward(x, probabilities=True)`` ends with the ``output`` softmax
    module. Each name of `LAYERS` is a submodule; `forward_layers` returns their outputs from one pass.
    """

    def __init__(self, num_classes: int = 10, conv1_channels: int = 6, conv2_channels: int = 16, fc1_units: int = 120,
                 fc2_units: int = 100, mean: float = MNIST_MEAN, std: float = MNIST_STD,
                 labels: list[str] | None = None):
        super().__init__()
        self.labels = list(labels) if labels is not None else [str(i) for i in range(num_classes)]
        if len(self.labels) != num_classes:
            raise TypeError(f"labels has {len(self.labels)} names for {num_classes} classes")
        self.mean, self.std = float(mean), float(std)
        self.input = nn.Identity()
        self.conv1 = nn.Sequential(nn.Conv2d(1, conv1_channels, 5), nn.ReLU())  # 32 -> 28
        self.pool1 = nn.MaxPool2d(2, 2)  # 28 -> 14
        self.conv2 = nn.Sequential(nn.Conv2d(conv1_channels, conv2_channels, 5), nn.ReLU())  # 14 -> 10
        self.pool2 = nn.MaxPool2d(2, 2)  # 10 -> 5
        self.fc1 = nn.Sequential(nn.Flatten(), nn.Linear(conv2_channels * 5 * 5, fc1_units), nn.ReLU())
        self.fc2 = nn.Sequential(nn.Linear(fc1_units, fc2_units), nn.ReLU())
        self.fc3 = nn.Linear(fc2_units, num_classes)  # the output layer's weights; its activation is `output`
        self.output = nn.Softmax(dim=1)

    @property
    def num_classes(self) -> int:
        return self.fc3.out_features

    def forward(self, x: torch.Tensor, probabilities: bool = False) -> torch.Tensor:
        logits = self._logits(x)
        return self.output(logits) if probabilities else logits

    def forward_layers(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every visible layer's output for the batch `x`, in forward order (`LAYERS`), from one forward pass.

        ``["output"]`` is the softmax: the very probabilities ``forward(x, probabilities=True)`` returns. The values
        keep their graph (a caller optimising the input backpropagates through them). No hooks are involved, so
        threads may call it on one shared model at once.
        """
        seen: dict[str, torch.Tensor] = {}
        seen["output"] = self.output(self._logits(x, seen))
        return seen

    def _logits(self, x: torch.Tensor, seen: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The forward pass up to the logits; each visible layer's output goes into `seen` (when given)."""

        def keep(name: str, value: torch.Tensor) -> torch.Tensor:
            if seen is not None:
                seen[name] = value
            return value

        x = keep("input", self.input(x))
        x = (F.pad(x, (2, 2, 2, 2)) - self.mean) / self.std  # black border to LeNet's 32x32, then standardise
        for name in ("conv1", "pool1", "conv2", "pool2", "fc1", "fc2"):
            x = keep(name, getattr(self, name)(x))
        return self.fc3(x)

    def layer_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each visible layer's activation shape for one picture (no batch axis)."""
        with torch.no_grad():
            seen = self.forward_layers(torch.zeros(1, 1, 28, 28, device=self.fc3.weight.device))
        return {name: tuple(value.shape[1:]) for name, value in seen.items()}


@dataclasses.dataclass
class DigitResult(Result):
    """What the network made of one drawing.

    Attributes:
        label (`int`): the first guess (class index; `labels` names it).
        probabilities (`list[float]`): the output layer's 10 values (they sum to 1).
        top (`list[dict]`): the `top_k` guesses, best first: ``{"label": int, "probability": float}``.
        downsampled (`np.ndarray`): ``(28, 28)`` float32, the picture as the network saw it.
        layers (`dict[str, np.ndarray]`): every layer's activations in forward order (`LAYERS`), from the very
            forward pass that made the prediction: ``input (1, 28, 28)``, ``conv1 (6, 28, 28)``, ``pool1 (6, 14,
            14)``, ``conv2 (16, 10, 10)``, ``pool2 (16, 5, 5)``, ``fc1 (120,)``, ``fc2 (100,)``, ``output (10,)``.
        labels (`list[str]`): the class names.
    """

    label: int
    probabilities: list[float]
    top: list[dict[str, Any]]
    downsampled: np.ndarray
    layers: dict[str, np.ndarray]
    labels: list[str]


class DigitRecognitionPipeline(Pipeline):
    """Recognise one handwritten digit and show what every layer of the network computed on the way.

    >>> from pipelines import load
    >>> dr = load("digit-recognition", model="runs/digits")     # a folder written by `python -m finetune.digits`
    >>> dr(sketch).label                                        # a Gradio Sketchpad value, a path, PIL or array
    3
    """

    task = TASK

    def __init__(self, model: DigitCNN, model_id: str, device: Any, dtype: Any,
                 processor: MnistImageProcessor | None = None):
        super().__init__(model_id, device, dtype)
        self.model = model
        #: the picture preparation saved with the model (``preprocessor_config.json``; see `pipelines.mnist_processor`)
        self.processor = processor if processor is not None else MnistImageProcessor()

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None,
                        revision: str | None = None) -> DigitRecognitionPipeline:
        """Load a `DigitCNN` from ``local:digit-recognition``, a folder or a Hub repo (config.json + safetensors).

        Args:
            model (`str`): ``"local:digit-recognition"`` (the default: what ``python -m finetune.digits`` trains), a
                folder, a Hub id, or the folder of the tiny model.
            device (`str`, *optional*): default CUDA when present, else CPU.
            dtype: float32 only (the network is tiny); anything else is an `InputError`.
            revision (`str`, *optional*): a Hub revision.
        """
        from pipelines import lab

        if dtype not in (None, "float32", torch.float32, "auto"):
            raise InputError("dtype", dtype, "float32 (or None) for this small network")
        net = lab.load_module(DigitCNN, model, task=cls.task, train_command=TRAIN_COMMAND, device=device,
                              revision=revision)
        processor = MnistImageProcessor.from_pretrained(model, revision=revision)
        return cls(net, model, net.fc3.weight.device, torch.float32, processor)

    def preprocess(self, image: Any, invert: bool | None, normalise: bool | None) -> np.ndarray:
        """The 28x28 picture the network sees: the model's saved preparation (`pipelines.mnist_processor`)."""
        from pipelines.mnist import sketch_image

        picture = sketch_image(image, "image")
        validate.image_size("image", picture.size, min_side=8, max_side=MAX_SIDE)
        return self.processor.prepare(picture, invert, normalise, sketch=isinstance(image, dict))

    def __call__(self, image: Any, invert: bool | None = None, normalise: bool | None = None,
                 top_k: int = 3) -> DigitResult:
        """Classify one digit.

        Args:
            image: a Gradio Sketchpad value (``{"composite", "layers", "background"}``), a path, a `PIL.Image` or an
                array ``(H, W[, 3|4])``; dark strokes on light paper or light on dark (see `invert`), 8 to 4096 px.
            invert (`bool`, *optional*): True for dark-on-light, False for light-on-dark; default: decided from the
                picture's border (a transparent canvas: the strokes' opacity).
            normalise (`bool`, *optional*): None (default): a picture stored like the training pictures (28x28,
                their ink colour) is prepared exactly as in training (grey, /255); a drawing (a sketch, a transparent
                canvas, another size or ink colour) is first laid out like them (crop, fit in the saved box, centre
                by mass: MNIST's recipe for MNIST-trained models). True forces the drawing route, False the stored
                one (grey, bilinear resize to 28x28, /255). See `pipelines.mnist_processor`.
            top_k (`int`, *optional*, defaults to 3): how many guesses `top` lists, 2 (the first and second guess)
                to the number of classes.
        """
        invert = check_argument("invert", invert)
        normalise = check_argument("normalise", normalise)
        top_k = validate.integer("top_k", top_k, low=2, high=self.model.num_classes)  # first and second at least
        picture = self.preprocess(image, invert, normalise)
        x = torch.from_numpy(picture).to(self.device).view(1, 1, 28, 28)
        with torch.inference_mode():  # the activations of this call only: no hooks on the shared model
            seen = self.model.forward_layers(x)
        layers = {name: seen[name][0].float().cpu().numpy() for name in LAYERS}
        probs = layers["output"]
        order = np.argsort(-probs, kind="stable")[:top_k]
        return DigitResult(label=int(order[0]), probabilities=[float(p) for p in probs],
                           top=[{"label": int(i), "probability": float(probs[i])} for i in order],
                           downsampled=picture, layers=layers, labels=list(self.model.labels))
