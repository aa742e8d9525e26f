"""TensorFlow Playground in PyTorch: classify or regress 2-D points with a small network and watch every neuron learn.

The lecture's first two tasks of AI, on the Playground's own data: **classification** assigns each point to one of
two classes (blue +1 / orange -1), **regression** approximates a function known only at some points. Everything
follows playground.tensorflow.org's source (github.com/tensorflow/playground, commit 02469bd, Apache-2.0):

- the data sets, features and seeded random stream: `pipelines.playground_data` (the seed ``42`` gives the very
  points and initial weights the page shows at ``#seed=42`` with the same settings: `PlaygroundSettings.url`);
- the network (``src/nn.ts`` ``buildNetwork``): fully connected, 0 to 6 hidden layers of 1 to 8 neurons, every weight
  drawn as ``Math.random() - 0.5`` in the page's order and every bias 0.1; hidden activation ReLU, tanh, sigmoid or
  linear; the output is **tanh for classification and linear for regression** (``src/playground.ts`` ``reset``:
  ``outputActivation = problem === REGRESSION ? LINEAR : TANH``);
- the loss: the square error ``0.5 (output - label)²`` (``nn.Errors.SQUARE``), averaged over the points;
- the training (``oneStep`` / ``backProp`` / ``updateWeights``): one epoch is one pass over the training points in
  their (fixed, shuffled once) order; the weights move by ``learning_rate`` times the mean gradient every
  `batch_size` points, and the points left over at an epoch's end join the next epoch's first batch (the page
  keeps their gradients until then). Regularisation acts on the weights, not the biases, after the data step, with
  the derivative at the weight before it: L2 ``w -= lr * rate * w``; L1 ``w -= lr * rate * sign(w)``, and a weight
  that L1 pushes across zero becomes 0 and stays there ("dead", ``link.isDead``). Computed in float64, as
  JavaScript does: a run matches the page's losses to about 1e-12 (tests/pipelines/test_playground.py, against
  values produced by the Playground's own code).

`Playground` is the steppable trainer (play / pause / step / reset in a UI are states over `Playground.step`); its
`PlaygroundFrame` has what the page draws: the output over the [-6, 6]² square, each neuron's own map, the
weights, the loss curves and the epoch. `PlaygroundNet` is the network, saved the Hub way (config.json +
model.safetensors, `huggingface_hub.PyTorchModelHubMixin`), so an exported or CLI-trained one loads back through
``load("playground", model=folder)``.

>>> from pipelines.playground import Playground
>>> trainer = Playground(dataset="xor", hidden=(4,), learning_rate=0.03, seed=0)
>>> frame = trainer.step(200)                     # 200 epochs
>>> frame.epoch, round(frame.test_accuracy, 2)
(200, 0.99)
>>> trainer.export("runs/xor")                    # then: load("playground", model="runs/xor")
>>> print(trainer.code())                         # the same network as a PyTorch script
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from pipelines import validate
from pipelines.base import Pipeline, ProgressCallback, Result
from pipelines.errors import InputError
from pipelines.playground_data import (
    CLASSIFICATION,
    DATASETS,
    DOMAIN,
    FEATURES,
    MAX_NOISE,
    MAX_POINTS,
    MAX_RATIO,
    MIN_POINTS,
    MIN_RATIO,
    PROBLEMS,
    REGRESSION,
    PlaygroundData,
    Scaling,
    SeedRandom,
    check_features,
    csv_data,
    feature_matrix,
    make_data,
    problem_of,
)

logger = logging.getLogger(__name__)

TASK = "playground"
TRAIN_COMMAND = "python -m finetune.playground --dataset spiral --hidden 8,8,8 --epochs 500"
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")  # src/state.ts `activations`
REGULARIZATIONS = ("none", "L1", "L2")  # src/state.ts `regularizations`
#: the page's choices (index.html): learning rate and regularisation rate menus, batch size slider 1 to 30
LEARNING_RATES = (0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
REGULARIZATION_RATES = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
MAX_LAYERS, MAX_NEURONS = 6, 8  # src/playground.ts: "numHiddenLayers >= 6" / "numNeurons >= 8" stop the + buttons
MAX_RATE = 10.0  # the largest learning and regularisation rate the page offers
INITIAL_BIAS = 0.1  # nn.ts Node.bias
CSV = "csv"
GRID_DENSITY = 100  # src/playground.ts DENSITY: the output is computed on a 100x100 grid over [-6, 6]²
#: Points per forward pass when many are evaluated (the grid, the losses): 256 x at most 8 neurons = 2,048 values
#: per op. torch 2.13 on the CPU runs tanh / sigmoid / ReLU over 4,096 values or more as a 2-thread OpenMP region;
#: on a busy 2-core machine that region waits for its second thread, and a frame took 8x the CPU time.
GRID_CHUNK = 256
MAP_REDUCE = 5  # each neuron's map: the grid averaged in 5x5 blocks (the page's reduceMatrix uses 10 -> 10x10)
MAX_STEP_EPOCHS = 100_000
MAX_PREDICT_POINTS = 1_000_000


def check_hidden(value: Any, argument: str = "hidden") -> tuple[int, ...]:
    """Neurons per hidden layer: 0 to 6 layers of 1 to 8 (a sequence, or ``"8,8,8"``; ``""`` / ``()`` for none)."""
    allowed = f"0 to {MAX_LAYERS} hidden layers of 1 to {MAX_NEURONS} neurons each, e.g. (4, 2) or '8,8,8'"
    if isinstance(value, str):
        parts = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        try:
            value = [int(part) for part in parts]
        except ValueError:
            raise InputError(argument, value, allowed) from None
    if not isinstance(value, (list, tuple)):
        raise InputError(argument, value, allowed)
    if len(value) > MAX_LAYERS:
        raise InputError(argument, value, allowed, f"{len(value)} layers is more than the Playground's {MAX_LAYERS}.")
    return tuple(validate.integer(f"{argument}[{i}]", n, low=1, high=MAX_NEURONS, hint=allowed)
                 for i, n in enumerate(value))


def _regularization(value: Any) -> str:
    if value is None:
        return "none"
    return validate.choice("regularization", value, REGULARIZATIONS,
                           normalise=lambda s: {"l1": "L1", "l2": "L2"}.get(s.strip().lower(), s.strip().lower()))


@dataclasses.dataclass(frozen=True)
class PlaygroundSettings:
    """Everything the Playground's page lets you set (plus the number of points), checked on creation.

    Args:
        dataset (`str`, defaults to ``"circle"``): ``circle``, ``xor``, ``gauss``, ``spiral``, ``reg-plane``,
            ``reg-gauss``, or ``csv`` (your points, given to `Playground` as `data`).
        noise (`float`, defaults to 0): 0 to 50 (the page's slider, percent).
        train_ratio (`float`, defaults to 50): percent of the points that train, 10 to 90; the rest test.
        batch_size (`int`, defaults to 10): points per weight update, 1 to the number of training points (the page:
            1 to 30).
        features (`tuple[str]`, defaults to ``("x1", "x2")``): inputs from ``x1``, ``x2``, ``x1_squared``,
            ``x2_squared``, ``x1_x2``, ``sin_x1``, ``sin_x2`` (the page's x₁, x₂, x₁², x₂², x₁x₂, sin x₁, sin x₂).
        hidden (`tuple[int]`, defaults to ``(4, 2)``): neurons per hidden layer, 0 to 6 layers of 1 to 8.
        activation (`str`, defaults to ``"tanh"``): of the hidden neurons: ``relu``, ``tanh``, ``sigmoid``,
            ``linear``.
        learning_rate (`float`, defaults to 0.03): in (0, 10].
        regularization (`str`, defaults to ``"none"``): ``none``, ``L1`` or ``L2``.
        regularization_rate (`float`, defaults to 0): 0 to 10.
        num_samples (`int`, *optional*): points generated, 4 to 20,000; default the page's 500 (classification) or
            1200 (regression). Ignored for a CSV.
        seed (`int`, *optional*): the data's and the weights' seed (the page's ``#seed=``); default a random one,
            kept here so that a run can be repeated.

    The defaults are the page's (src/state.ts): circle, no noise, half the points to train, batch 10, x₁ and x₂,
    two hidden layers of 4 and 2 tanh neurons, learning rate 0.03, no regularisation.
    """

    dataset: str = "circle"
    noise: float = 0.0
    train_ratio: float = 50.0
    batch_size: int = 10
    features: tuple[str, ...] = ("x1", "x2")
    hidden: tuple[int, ...] = (4, 2)
    activation: str = "tanh"
    learning_rate: float = 0.03
    regularization: str = "none"
    regularization_rate: float = 0.0
    num_samples: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        checked = {
            "dataset": validate.choice("dataset", self.dataset, (*DATASETS, CSV),
                                       normalise=lambda s: s.strip().lower()),
            "noise": validate.number("noise", self.noise, low=0, high=MAX_NOISE,
                                     hint="The Playground's noise slider: 0 to 50 (percent)."),
            "train_ratio": validate.number("train_ratio", self.train_ratio, low=MIN_RATIO, high=MAX_RATIO,
                                           hint="Percent of the points that train (the page: 10 to 90)."),
            "batch_size": validate.integer("batch_size", self.batch_size, low=1, high=MAX_POINTS),
            "features": check_features(self.features),
            "hidden": check_hidden(self.hidden),
            "activation": validate.choice("activation", self.activation, ACTIVATIONS,
                                          normalise=lambda s: s.strip().lower()),
            "learning_rate": validate.number("learning_rate", self.learning_rate, low=0, high=MAX_RATE,
                                             low_open=True),
            "regularization": _regularization(self.regularization),
            "regularization_rate": validate.number("regularization_rate", self.regularization_rate, low=0,
                                                   high=MAX_RATE),
            "num_samples": validate.optional_integer("num_samples", self.num_samples, low=MIN_POINTS,
                                                     high=MAX_POINTS),
            "seed": validate.seed(self.seed),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @property
    def problem(self) -> str | None:
        """``classification`` or ``regression``; None for a CSV (its labels decide)."""
        return None if self.dataset == CSV else problem_of(self.dataset)

    def replace(self, **changes: Any) -> PlaygroundSettings:
        """A copy with `changes` (checked again)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise InputError(unknown[0], changes[unknown[0]],
                             f"a Playground setting ({', '.join(f.name for f in dataclasses.fields(self))})")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> PlaygroundSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items() if k in known})

    def url(self, base: str = "https://playground.tensorflow.org/") -> str:
        """The Playground page with these settings (``#activation=...&seed=...``, src/state.ts ``serialize``): it
        opens with the same data and the same initial weights as `Playground` (not for a CSV; the page draws its own
        500 / 1200 points, so `num_samples` must be the default)."""
        if self.dataset == CSV:
            raise InputError("dataset", CSV, "one of the Playground's data sets", "The page cannot load a CSV.")
        regression = self.problem == REGRESSION
        state = {
            "activation": self.activation, "batchSize": self.batch_size,
            "dataset": "circle" if regression else self.dataset,
            "regDataset": self.dataset if regression else "reg-plane", "learningRate": _js_number(self.learning_rate),
            "regularizationRate": _js_number(self.regularization_rate), "noise": _js_number(self.noise),
            "networkShape": ",".join(map(str, self.hidden)), "seed": str(self.seed), "showTestData": "false",
            "discretize": "false", "percTrainData": _js_number(self.train_ratio),
            **{FEATURES[name][1]: str(name in self.features).lower() for name in FEATURES},
            "cosX": "false", "cosY": "false", "collectStats": "false", "problem": problem_of(self.dataset),
            "initZero": "false", "hideText": "false",
        }
        if self.regularization != "none":
            state["regularization"] = self.regularization
        return base + "#" + "&".join(f"{k}={urllib.parse.quote(str(v), safe=',.-')}" for k, v in state.items())


def _js_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# ----------------------------------------------------------------------------------------------------------------
# the network


class PlaygroundNet(nn.Module, PyTorchModelHubMixin, library_name="mmhub", tags=["mmhub", "tensorflow-playground"],
                    repo_url="https://github.com/tensorflow/playground"):
    """The Playground's fully connected network in float64: features -> hidden layers -> one output.

    Args:
        features (`list[str]`): the input columns (see `PlaygroundSettings`), in the Playground's order.
        hidden (`list[int]`): neurons per hidden layer (0 to 6 layers of 1 to 8).
        activation (`str`): of the hidden neurons.
        problem (`str`): ``classification`` (tanh output) or ``regression`` (linear output).
        scaling (`dict`, *optional*): how raw CSV values were scaled for training (`Scaling.to_dict`); applied again
            by `PlaygroundPipeline` to new points.
        trained_with (`dict`, *optional*): the settings and results it was trained with (written by
            `Playground.export` and the CLI), so that its data can be generated again and its metrics checked.
    """

    def __init__(self, features: list[str] | None = None, hidden: list[int] | None = None,
                 activation: str = "tanh", problem: str = CLASSIFICATION, scaling: dict[str, Any] | None = None,
                 trained_with: dict[str, Any] | None = None):
        super().__init__()
        self.features = list(check_features(features if features is not None else ["x1", "x2"]))
        self.hidden = list(check_hidden(hidden if hidden is not None else [4, 2]))
        self.activation = validate.choice("activation", activation, ACTIVATIONS)
        self.problem = validate.choice("problem", problem, PROBLEMS)
        self.scaling = Scaling.from_dict(scaling).to_dict()
        self.trained_with = trained_with  # (not `training`: nn.Module's train / eval flag)
        sizes = [len(self.features), *self.hidden, 1]
        self.layers = nn.ModuleList(nn.Linear(a, b, dtype=torch.float64)
                                    for a, b in zip(sizes, sizes[1:], strict=False))
        self._hidden_fn = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                           "linear": lambda x: x}[self.activation]
        self._output_fn = torch.tanh if self.problem == CLASSIFICATION else (lambda x: x)

    @property
    def sizes(self) -> list[int]:
        """Nodes per layer, inputs and output included (the page's ``networkShape`` with both ends)."""
        return [len(self.features), *self.hidden, 1]

    def init_playground(self, rng: SeedRandom) -> None:
        """nn.ts ``buildNetwork``: every weight ``Math.random() - 0.5`` (layer by layer, node by node, each node's
        inputs in order: a `nn.Linear` weight row by row), every bias 0.1."""
        with torch.no_grad():
            for layer in self.layers:
                out_features, in_features = layer.weight.shape
                values = [rng.random() - 0.5 for _ in range(out_features * in_features)]
                layer.weight.copy_(torch.tensor(values, dtype=torch.float64).reshape(out_features, in_features))
                layer.bias.fill_(INITIAL_BIAS)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(n, features)`` -> ``(n,)`` outputs."""
        x = inputs
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            x = layer(x)
            x = self._output_fn(x) if index == last else self._hidden_fn(x)
        return x[:, 0]

    def activations(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's outputs for ``(n, features)`` inputs: the hidden layers' ``(n, neurons)``, then ``(n, 1)``."""
        out, x = [], inputs
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            x = layer(x)
            x = self._output_fn(x) if index == last else self._hidden_fn(x)
            out.append(x)
        return out


# ----------------------------------------------------------------------------------------------------------------
# results


@dataclasses.dataclass
class PlaygroundFrame(Result):
    """What the Playground's page shows at one moment of training.

    Attributes:
        epoch (`int`): epochs trained (the page's "Epoch").
        train_loss, test_loss (`float`): mean ``0.5 (output - label)²`` over each set.
        train_accuracy, test_accuracy (`float` or `None`): share of points on the right side (output >= 0 is +1);
            None for regression.
        history (`list[tuple[int, float, float]]`): ``(epoch, train loss, test loss)`` from epoch 0, every epoch.
        surface (`np.ndarray`): ``(d, d)`` output on the grid over [-6, 6]²: row 0 is x₂ = +6 (the top), column 0 is
            x₁ = -6 (the left), as drawn.
        neuron_maps (`list[np.ndarray]`): per layer, inputs first and the output last, ``(nodes, m, m)``: each node's
            output over the same square, averaged in blocks (the page's small pictures).
        weights (`list[np.ndarray]`): per layer, ``(out, in)``; ``weights[l][j, i]`` links node i of layer l to node
            j of layer l + 1.
        biases (`list[np.ndarray]`): per layer after the inputs, ``(out,)``.
        dead (`list[np.ndarray]`): per layer, ``(out, in)`` booleans: links L1 set to zero for good.
        features (`tuple[str]`), hidden (`tuple[int]`), problem (`str`): the network's shape and task.
        stopped (`bool`): a progress callback ended `Playground.step` early.
    """

    epoch: int
    train_loss: float
    test_loss: float
    train_accuracy: float | None
    test_accuracy: float | None
    history: list[tuple[int, float, float]]
    surface: np.ndarray
    neuron_maps: list[np.ndarray]
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    dead: list[np.ndarray]
    features: tuple[str, ...]
    hidden: tuple[int, ...]
    problem: str
    stopped: bool = False


@dataclasses.dataclass
class PlaygroundPrediction(Result):
    """The network's answer for some points.

    Attributes:
        outputs (`np.ndarray`): ``(n,)`` raw outputs (tanh in [-1, 1] for classification).
        labels (`list`): classification: the class of each point (+1 / -1, or a CSV's class names); regression: the
            predicted target, in the CSV's units when it was trained on one.
        problem (`str`): ``classification`` or ``regression``.
    """

    outputs: np.ndarray
    labels: list[Any]
    problem: str


# ----------------------------------------------------------------------------------------------------------------
# the trainer


class Playground:
    """A seeded, steppable Playground: data, network, and one epoch at a time (`step`); thread-safe.

    Args:
        settings (`PlaygroundSettings`, *optional*): the settings; keyword arguments override them (or give them).
        data (*optional*): your points for ``dataset="csv"``: a CSV path, its bytes, or a `PlaygroundData`.
        device (`str`, defaults to ``"cpu"``): these networks have at most a few hundred weights; a GPU round trip
            per batch costs more than the arithmetic.

    >>> trainer = Playground(dataset="spiral", features=["x1", "x2", "sin_x1", "sin_x2"], hidden=[8, 8, 8], seed=1)
    >>> trainer.step(1).epoch
    1
    >>> trainer.update(learning_rate=0.01)    # live, as on the page: learning rate, regularisation rate, batch size
    >>> trainer.reset()                       # the same seed: the same start
    """

    LIVE = ("learning_rate", "regularization_rate", "batch_size")

    def __init__(self, settings: PlaygroundSettings | None = None, data: Any = None, device: Any = "cpu",
                 **overrides: Any):
        if settings is not None and not isinstance(settings, PlaygroundSettings):
            raise InputError("settings", settings, "a PlaygroundSettings (or keyword arguments)")
        settings = settings or PlaygroundSettings()
        if overrides:
            settings = settings.replace(**overrides)
        if data is not None and settings.dataset != CSV:
            settings = settings.replace(dataset=CSV)
        if settings.dataset == CSV and data is None:
            raise InputError("data", None, "your points (a CSV path or its bytes) for dataset='csv'")
        from pipelines.base import resolve_device

        self.device = resolve_device(device)
        self._source = data
        self._lock = threading.RLock()
        self.settings = settings
        self.reset()

    # -- state ----------------------------------------------------------------------------------------------------

    def reset(self, seed: int | None = ...) -> PlaygroundFrame:  # type: ignore[assignment]
        """Start again: new data and weights from the seed (the same seed by default; None draws a new one)."""
        with self._lock:
            s = self.settings if seed is ... else self.settings.replace(seed=seed)
            rng = SeedRandom(str(s.seed))
            if s.dataset == CSV:
                if isinstance(self._source, PlaygroundData):
                    data = self._source
                else:
                    data = csv_data(self._source, train_ratio=s.train_ratio, rng=rng)
            else:
                data = make_data(s.dataset, s.noise, s.train_ratio, num_samples=s.num_samples, rng=rng)
            if s.batch_size > len(data.train_x):
                raise InputError("batch_size", s.batch_size, f"an integer from 1 to {len(data.train_x)} (the number "
                                                             "of training points)", "Lower the batch size.")
            self.settings, self.data = s, data  # nothing changed until here: a refused reset keeps the old run
            self.network = PlaygroundNet(list(s.features), list(s.hidden), s.activation, data.problem,
                                         scaling=data.scaling.to_dict())
            self.network.init_playground(rng)
            self.network.to(self.device)
            self._weights = [layer.weight for layer in self.network.layers]
            self._optimizer = torch.optim.SGD(self.network.parameters(), lr=s.learning_rate, foreach=True)
            tensor = lambda a: torch.as_tensor(a, dtype=torch.float64, device=self.device)  # noqa: E731
            self._train_x = tensor(feature_matrix(data.train_x, s.features))
            self._train_y = tensor(data.train_y)
            self._test_x = tensor(feature_matrix(data.test_x, s.features))
            self._test_y = tensor(data.test_y)
            self._grid: dict[int, torch.Tensor] = {}
            self._dead: list[torch.Tensor | None] = [None] * len(self.network.layers)
            self._carry: torch.Tensor | None = None
            self.epoch = 0
            self.history: list[tuple[int, float, float]] = []
            self._record()
            return self.frame()

    def update(self, **live: Any) -> None:
        """Change the learning rate, regularisation rate or batch size without starting again (as the page does)."""
        with self._lock:
            for name in live:
                if name not in self.LIVE:
                    raise InputError(name, live[name], f"one of {', '.join(self.LIVE)} (the others start again: "
                                                       "make a new Playground)")
            settings = self.settings.replace(**live)
            if settings.batch_size > len(self.data.train_x):
                raise InputError("batch_size", settings.batch_size,
                                 f"an integer from 1 to {len(self.data.train_x)} (the number of training points)")
            self.settings = settings

    @property
    def problem(self) -> str:
        return self.data.problem

    # -- training -------------------------------------------------------------------------------------------------

    def step(self, epochs: int = 1, progress: ProgressCallback | None = None) -> PlaygroundFrame:
        """Train `epochs` epochs (1 to 100,000), then return the frame; `progress(epoch, epochs, info)` after each
        (``info``: ``epoch``, ``train_loss``, ``test_loss``; returning False stops early)."""
        with self._lock:
            stopped = self.train(epochs, progress)
            frame = self.frame()
        frame.stopped = stopped
        return frame

    def train(self, epochs: int = 1, progress: ProgressCallback | None = None) -> bool:
        """`step` without the picture (for loops that do not draw every epoch); True when `progress` stopped it."""
        epochs = validate.integer("epochs", epochs, low=1, high=MAX_STEP_EPOCHS)
        progress = validate.callback("progress", progress, "progress(step, total, info)")
        with self._lock:
            for done in range(1, epochs + 1):
                self._epoch()
                self.epoch += 1
                self._record()
                if progress is not None:
                    _, train, test = self.history[-1]
                    if progress(done, epochs, {"epoch": self.epoch, "train_loss": train, "test_loss": test}) is False:
                        return done < epochs
        return False

    def _epoch(self) -> None:
        """src/playground.ts ``oneStep``: the training points in order, an update every `batch_size` of them."""
        n, size = len(self._train_x), self.settings.batch_size
        start = 0
        for end in range(size, n + 1, size):
            if self._carry is not None:  # last epoch's leftover points: their gradients wait for this update
                index = torch.cat([self._carry, torch.arange(start, end, device=self.device)])
                self._carry = None
                self._update(self._train_x[index], self._train_y[index])
            else:
                self._update(self._train_x[start:end], self._train_y[start:end])
            start = end
        if start < n:
            left = torch.arange(start, n, device=self.device)
            self._carry = left if self._carry is None else torch.cat([self._carry, left])

    def _update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """One update on a batch: nn.ts ``backProp`` + ``updateWeights``. Autograd takes the mean gradient of the
        square error, `torch.optim.SGD` steps; then the page's regularisation, from the weights before the step."""
        s = self.settings
        optimizer = self._optimizer
        optimizer.param_groups[0]["lr"] = s.learning_rate
        optimizer.zero_grad(set_to_none=True)
        (0.5 * F.mse_loss(self.network(x), y)).backward()
        weights = self._weights
        for w, dead in zip(weights, self._dead, strict=True):
            if dead is not None:
                w.grad.masked_fill_(dead, 0.0)  # a dead link learns nothing and stays 0
        rate = s.regularization_rate
        if s.regularization == "none" or rate == 0:
            optimizer.step()
            return
        with torch.no_grad():
            before = [w.clone() for w in weights]
            optimizer.step()
            step = s.learning_rate * rate
            if s.regularization == "L2":  # der(w) = w
                torch._foreach_sub_(weights, before, alpha=step)
                return
            for index, (w, old) in enumerate(zip(weights, before, strict=True)):  # L1: der(w) = sign(w)
                new = w - step * torch.sign(old)
                crossed = (w * new) < 0  # pushed across zero by the regularisation: 0, and dead from now on
                if bool(crossed.any()):
                    new.masked_fill_(crossed, 0.0)
                    dead = self._dead[index]
                    self._dead[index] = crossed if dead is None else dead | crossed
                w.copy_(new)

    def _record(self) -> None:
        with torch.no_grad():
            train = float(0.5 * (outputs(self.network, self._train_x) - self._train_y).square().mean())
            test = float(0.5 * (outputs(self.network, self._test_x) - self._test_y).square().mean())
        self.history.append((self.epoch, train, test))

    # -- what is shown --------------------------------------------------------------------------------------------

    def evaluate(self) -> dict[str, Any]:
        """Loss (and accuracy, for classification) on the training and the test points, now."""
        with self._lock, torch.no_grad():
            return _metrics(self.network, self._train_x, self._train_y, self._test_x, self._test_y, self.epoch)

    def _grid_inputs(self, density: int) -> torch.Tensor:
        if density not in self._grid:
            self._grid[density] = torch.as_tensor(feature_matrix(grid_points(density), self.settings.features),
                                                  dtype=torch.float64, device=self.device)
        return self._grid[density]

    def frame(self, density: int = GRID_DENSITY, map_reduce: int = MAP_REDUCE) -> PlaygroundFrame:
        """The picture now: the output over the square (`density` x `density`), each node's map (the grid averaged
        in `map_reduce` x `map_reduce` blocks), weights, biases, losses, epoch."""
        density = validate.integer("density", density, low=2, high=400)
        map_reduce = validate.integer("map_reduce", map_reduce, low=1, high=density)
        if density % map_reduce:
            raise InputError("map_reduce", map_reduce, f"a divisor of density ({density})")
        with self._lock, torch.no_grad():
            inputs = self._grid_inputs(density)
            # in chunks, so that every op runs in this thread (see GRID_CHUNK)
            parts = [self.network.activations(part) for part in inputs.split(GRID_CHUNK)]
            layers = [inputs.cpu().numpy(), *(torch.cat(p).cpu().numpy() for p in zip(*parts, strict=True))]
            m = density // map_reduce
            maps = [values.reshape(m, map_reduce, m, map_reduce, -1).mean(axis=(1, 3)).transpose(2, 0, 1)
                    for values in layers]  # the page's reduceMatrix: the mean of each block
            surface = layers[-1][:, 0].reshape(density, density).copy()
            metrics = _metrics(self.network, self._train_x, self._train_y, self._test_x, self._test_y, self.epoch)
            weights = [layer.weight.detach().cpu().numpy().copy() for layer in self.network.layers]
            biases = [layer.bias.detach().cpu().numpy().copy() for layer in self.network.layers]
            dead = [d.cpu().numpy() if d is not None else np.zeros(w.shape, dtype=bool)
                    for d, w in zip(self._dead, weights, strict=True)]
            return PlaygroundFrame(
                epoch=self.epoch, train_loss=metrics["train_loss"], test_loss=metrics["test_loss"],
                train_accuracy=metrics.get("train_accuracy"), test_accuracy=metrics.get("test_accuracy"),
                history=list(self.history), surface=surface, neuron_maps=maps, weights=weights, biases=biases,
                dead=dead, features=tuple(self.settings.features), hidden=tuple(self.settings.hidden),
                problem=self.problem)

    def predict(self, points: Any) -> np.ndarray:
        """The output for ``(n, 2)`` points (as the network sees them: the square's coordinates)."""
        array = check_points(points)
        with self._lock, torch.no_grad():
            inputs = torch.as_tensor(feature_matrix(array, self.settings.features), dtype=torch.float64,
                                     device=self.device)
            return self.network(inputs).cpu().numpy()

    # -- checkpoints, export, code --------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs besides the settings: weights, dead links, the carried points, the log."""
        with self._lock:
            return {"network": {k: v.detach().cpu().clone() for k, v in self.network.state_dict().items()},
                    "dead": [d.cpu().clone() if d is not None else None for d in self._dead],
                    "carry": self._carry.cpu().clone() if self._carry is not None else None,
                    "epoch": self.epoch, "history": [list(h) for h in self.history]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from `state_dict` (taken from a trainer with the same settings)."""
        with self._lock:
            self.network.load_state_dict(state["network"])
            self._dead = [d.to(self.device) if d is not None else None for d in state["dead"]]
            self._carry = state["carry"].to(self.device) if state["carry"] is not None else None
            self.epoch = int(state["epoch"])
            self.history = [(int(e), float(a), float(b)) for e, a, b in state["history"]]

    def training_record(self) -> dict[str, Any]:
        """What `export` writes into config.json's ``trained_with``: the settings, the data's source, the metrics."""
        return {"settings": self.settings.to_dict(), "source": self.data.source, "points": self.data.size,
                **self.evaluate()}

    def export(self, folder: str | Path) -> Path:
        """Save the network the Hub way (config.json + model.safetensors) into `folder`; load it back with
        ``load("playground", model=folder)``. Returns the folder."""
        if not isinstance(folder, (str, Path)) or not str(folder).strip():
            raise InputError("folder", folder, "a folder path")
        folder = Path(folder).expanduser()
        with self._lock:
            record = self.training_record()
            net = PlaygroundNet(self.network.features, self.network.hidden, self.network.activation,
                                self.network.problem, scaling=self.network.scaling, trained_with=record)
            net.load_state_dict(self.network.state_dict())
            net.save_pretrained(folder)
        return folder

    def code(self) -> str:
        """The same network and training as a short, runnable PyTorch script (`pipelines.playground_code`)."""
        from pipelines.playground_code import pytorch_code

        return pytorch_code(self.settings, self.data)


def outputs(net: PlaygroundNet, inputs: torch.Tensor) -> torch.Tensor:
    """``net(inputs)`` in chunks of `GRID_CHUNK` rows (every op in this thread: see `GRID_CHUNK`)."""
    if len(inputs) <= GRID_CHUNK:
        return net(inputs)
    return torch.cat([net(part) for part in inputs.split(GRID_CHUNK)])


def _metrics(net: PlaygroundNet, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
             test_y: torch.Tensor, epoch: int) -> dict[str, Any]:
    train_out, test_out = outputs(net, train_x), outputs(net, test_x)
    out: dict[str, Any] = {"epoch": epoch, "train_loss": float(0.5 * (train_out - train_y).square().mean()),
                           "test_loss": float(0.5 * (test_out - test_y).square().mean())}
    if net.problem == CLASSIFICATION:
        out["train_accuracy"] = float(((train_out >= 0) == (train_y > 0)).double().mean())
        out["test_accuracy"] = float(((test_out >= 0) == (test_y > 0)).double().mean())
    return out


def grid_points(density: int = GRID_DENSITY) -> np.ndarray:
    """``(density², 2)`` points of the square [-6, 6]², row by row from the top (x₂ = +6), left to right."""
    xs = np.linspace(-DOMAIN, DOMAIN, density)
    x1, x2 = np.meshgrid(xs, xs[::-1])
    return np.stack([x1.ravel(), x2.ravel()], axis=1)


def check_points(points: Any, argument: str = "points") -> np.ndarray:
    """``(n, 2)`` finite float64 points (one point ``(2,)`` is taken as ``(1, 2)``), or their JSON text (as
    ``python -m pipelines run playground "[[1, 2]]"`` passes them); `InputError` otherwise."""
    allowed = "points as an (n, 2) array of finite numbers (or its JSON text), e.g. [[0.5, -1.0], [3, 2]]"
    if isinstance(points, str):
        try:
            points = json.loads(points, parse_constant=lambda name: name)  # NaN / Infinity stay text: refused below
        except ValueError:
            raise InputError(argument, points, allowed) from None
    if isinstance(points, (str, bytes)) or points is None:
        raise InputError(argument, points, allowed)
    try:
        array = np.asarray(points)
    except (ValueError, TypeError):
        raise InputError(argument, points, allowed) from None
    if array.dtype == object or array.dtype.kind not in "iuf" or array.dtype == np.bool_:
        raise InputError(argument, points, allowed)
    if array.ndim == 1 and array.shape[0] == 2:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
        raise InputError(argument, f"an array of shape {array.shape}", allowed)
    if array.shape[0] > MAX_PREDICT_POINTS:
        raise InputError(argument, f"{array.shape[0]:,} points", f"at most {MAX_PREDICT_POINTS:,} points per call")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise InputError(argument, "points with NaN or infinite values", allowed)
    if np.abs(array).max() > 1e12:
        raise InputError(argument, "points beyond ±1e12", allowed)
    return array


# ----------------------------------------------------------------------------------------------------------------
# the pipeline


class PlaygroundPipeline(Pipeline):
    """A Playground network: predict points with it, check it on its data, or start a trainer.

    >>> from pipelines import load
    >>> pg = load("playground", model="tiny")             # an XOR network; or a folder the CLI or an export wrote
    >>> pg([[3.0, 3.0], [-3.0, 3.0]]).labels
    [1.0, -1.0]
    >>> round(pg.evaluate()["test_accuracy"], 3)          # its data generated again from the saved seed
    0.976
    >>> trainer = pg.trainer()                            # the same settings, a fresh start
    """

    task = TASK

    def __init__(self, network: PlaygroundNet, model_id: str, device: Any, trained: bool = True):
        super().__init__(model_id, device, torch.float64)
        self.network = network
        self.trained = trained

    @classmethod
    def from_pretrained(cls, model: str, *, device: Any = None, dtype: Any = None,
                        revision: str | None = None) -> PlaygroundPipeline:
        """Load a network saved by `Playground.export` or ``python -m finetune.playground``.

        Args:
            model (`str`): ``"local:playground"`` (where the CLI writes by default: until it holds a trained network,
                a fresh one with the Playground's default settings, seed 0, ``trained=False``), a folder, or a Hub id.
            device (`str`, *optional*): default the CPU (the network has at most a few hundred weights).
            dtype: float64 only (None or ``"float64"``): the Playground computes in JavaScript's doubles.
            revision (`str`, *optional*): a Hub revision.
        """
        from pipelines import lab

        if dtype not in (None, "auto", "float64", torch.float64):
            raise InputError("dtype", dtype, "float64 (or None): the Playground computes in double precision")
        device = device if device is not None else "cpu"
        if model == lab.local_id(TASK) and not lab.is_trained(model):
            logger.info("no trained network in %s yet: a fresh one with the Playground's defaults (%s)",
                        lab.resolve(model), TRAIN_COMMAND)
            return cls(Playground(seed=0, device=device).network.eval(), model, torch.device(device), trained=False)
        net = lab.load_module(PlaygroundNet, model, task=cls.task, train_command=TRAIN_COMMAND, device=device,
                              revision=revision)
        return cls(net, model, net.layers[0].weight.device)

    @property
    def problem(self) -> str:
        return self.network.problem

    @property
    def scaling(self) -> Scaling:
        return Scaling.from_dict(self.network.scaling)

    def __call__(self, points: Any) -> PlaygroundPrediction:
        """The network's output and label for ``(n, 2)`` points (in a CSV's own units when trained on one)."""
        array = self.scaling.points(check_points(points))
        with torch.no_grad():
            inputs = torch.as_tensor(feature_matrix(array, self.network.features), dtype=torch.float64,
                                     device=self.device)
            outputs = self.network(inputs).cpu().numpy()
        if self.problem == CLASSIFICATION:
            classes = self.scaling.classes
            labels = [(classes[1] if o >= 0 else classes[0]) if classes else (1.0 if o >= 0 else -1.0)
                      for o in outputs]
        else:
            labels = [float(v) for v in self.scaling.target(outputs)]
        return PlaygroundPrediction(outputs=outputs, labels=labels, problem=self.problem)

    def settings(self) -> PlaygroundSettings:
        """The settings the network was trained with (the Playground's defaults for a fresh one)."""
        record = self.network.trained_with or {}
        if "settings" not in record:
            return PlaygroundSettings(features=tuple(self.network.features), hidden=tuple(self.network.hidden),
                                      activation=self.network.activation,
                                      dataset="circle" if self.problem == CLASSIFICATION else "reg-plane", seed=0)
        return PlaygroundSettings.from_dict(record["settings"])

    def trainer(self, data: Any = None, **overrides: Any) -> Playground:
        """A `Playground` with this network's settings (and `overrides`), from a fresh start; `data` for a CSV."""
        return Playground(self.settings(), data=data, **overrides)

    def evaluate(self, data: Any = None) -> dict[str, Any]:
        """Loss and accuracy on the data it was trained on, generated again from its saved settings and seed (for a
        CSV-trained network, pass the same CSV as `data`): the figures its metrics.json reports."""
        settings = self.settings()
        if settings.dataset == CSV or data is not None:
            if data is None:
                raise InputError("data", None, "the CSV this network was trained on")
            prepared = csv_data(data, train_ratio=settings.train_ratio, seed=settings.seed)
        else:
            prepared = make_data(settings.dataset, settings.noise, settings.train_ratio, seed=settings.seed,
                                 num_samples=settings.num_samples)
        if prepared.problem != self.problem:
            raise InputError("data", prepared.source, f"{self.problem} data (this network's problem)")
        tensor = lambda a: torch.as_tensor(a, dtype=torch.float64, device=self.device)  # noqa: E731
        features = self.network.features
        with torch.no_grad():
            return _metrics(self.network, tensor(feature_matrix(prepared.train_x, features)),
                            tensor(prepared.train_y), tensor(feature_matrix(prepared.test_x, features)),
                            tensor(prepared.test_y), int((self.network.trained_with or {}).get("epoch", 0)))


def overfitting_preset(seed: int | None = 1) -> PlaygroundSettings:
    """"What is overfitting?": few noisy points, the biggest network, no regularisation (`OVERFITTING`, seed 1)."""
    return PlaygroundSettings(**{**OVERFITTING, "seed": seed})


#: Few points (60: 30 to train), much noise (35), the biggest network (6 hidden layers of 8), no regularisation and
#: a fast learning rate: the network bends its boundary around single noisy training points, so the training loss
#: falls towards 0 while the test loss, after its first fall, climbs again (with seed 1: lowest near epoch 25, twice
#: that by epoch 150; tests/pipelines/test_playground.py). L2 at 0.01 (or L1 at 0.003) keeps it down.
OVERFITTING: dict[str, Any] = {
    "dataset": "xor", "noise": 35.0, "num_samples": 60, "train_ratio": 50.0, "batch_size": 5,
    "features": ("x1", "x2"), "hidden": (8, 8, 8, 8, 8, 8), "activation": "tanh", "learning_rate": 0.1,
    "regularization": "none", "regularization_rate": 0.0,
}
