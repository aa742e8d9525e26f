"""The Playground's current settings as a short PyTorch script: the same network, loss, optimiser and data recipe.

`pytorch_code(settings, data)` writes a script that runs on its own (``python playground_net.py``: torch only). Its
``model`` is an ``nn.Sequential`` with the very layers of `pipelines.playground.PlaygroundNet` (the same `Linear`
sizes in the same order, so one's ``state_dict`` loads into the other); the data recipe is the chosen generator of
the Playground's ``src/dataset.ts`` drawn with Python's `random` (so the points are not the page's: those come from
seedrandom, see `pipelines.playground_data`), or your CSV read with the scaling mmhub used. The training is plain
``torch.optim.SGD`` on ``0.5 (output - label)²``: L2 as SGD's ``weight_decay`` on the weights only (the page's
``w -= lr * rate * w``), L1 as ``rate * |w|`` added to the loss (the page also pins a weight that crosses zero at 0);
the last partial batch of an epoch is its own batch (the page carries it into the next epoch).

>>> from pipelines.playground import Playground
>>> print(Playground(dataset="xor", hidden=[4], seed=0).code())
"""

from __future__ import annotations

from typing import Any

from pipelines.playground_data import CLASSIFICATION, FEATURES, NUM_SAMPLES

_TORCH_ACTIVATIONS = {"relu": "nn.ReLU()", "tanh": "nn.Tanh()", "sigmoid": "nn.Sigmoid()", "linear": None}
_FEATURE_CODE = {"x1": "x1", "x2": "x2", "x1_squared": "x1 * x1", "x2_squared": "x2 * x2", "x1_x2": "x1 * x2",
                 "sin_x1": "torch.sin(x1)", "sin_x2": "torch.sin(x2)"}

# src/dataset.ts, one recipe per data set, with Python's random.Random as the source of draws
_GENERATORS = {
    "circle": '''def make_data(n, noise, rng):
    """circle (src/dataset.ts classifyCircleData): +1 inside radius 2.5, -1 in the ring from 3.5 to 5; each label is
    that of the point moved by the noise."""
    points = []
    for low, high in ((0.0, 2.5), (3.5, 5.0)):
        for _ in range(math.ceil(n / 2)):
            r, angle = rng.uniform(low, high), rng.uniform(0, 2 * math.pi)
            x, y = r * math.sin(angle), r * math.cos(angle)
            nx, ny = rng.uniform(-5, 5) * noise, rng.uniform(-5, 5) * noise
            points.append((x, y, 1.0 if math.hypot(x + nx, y + ny) < 2.5 else -1.0))
    return points
''',
    "xor": '''def make_data(n, noise, rng):
    """xor (src/dataset.ts classifyXORData): points in [-5, 5]² pushed 0.3 off the axes; +1 where x * y >= 0."""
    points = []
    for _ in range(n):
        x = rng.uniform(-5, 5)
        x += 0.3 if x > 0 else -0.3
        y = rng.uniform(-5, 5)
        y += 0.3 if y > 0 else -0.3
        nx, ny = rng.uniform(-5, 5) * noise, rng.uniform(-5, 5) * noise
        points.append((x, y, 1.0 if (x + nx) * (y + ny) >= 0 else -1.0))
    return points
''',
    "gauss": '''def make_data(n, noise, rng):
    """gauss (src/dataset.ts classifyTwoGaussData): blobs at (2, 2) (+1) and (-2, -2) (-1), variance 0.5 to 4."""
    variance = 0.5 + noise / 0.5 * 3.5
    return [(rng.gauss(c, math.sqrt(variance)), rng.gauss(c, math.sqrt(variance)), label)
            for c, label in ((2, 1.0), (-2, -1.0)) for _ in range(math.ceil(n / 2))]
''',
    "spiral": '''def make_data(n, noise, rng):
    """spiral (src/dataset.ts classifySpiralData): two spirals of 1.75 turns, +1 and -1."""
    points, half = [], n / 2
    for delta, label in ((0.0, 1.0), (math.pi, -1.0)):
        i = 0
        while i < half:
            r, t = i / half * 5, 1.75 * i / half * 2 * math.pi + delta
            points.append((r * math.sin(t) + rng.uniform(-1, 1) * noise,
                           r * math.cos(t) + rng.uniform(-1, 1) * noise, label))
            i += 1
    return points
''',
    "reg-plane": '''def make_data(n, noise, rng):
    """reg-plane (src/dataset.ts regressPlane): points in [-6, 6]²; target (x + y) / 10 at the noisy point."""
    points = []
    for _ in range(n):
        x, y = rng.uniform(-6, 6), rng.uniform(-6, 6)
        nx, ny = rng.uniform(-6, 6) * noise, rng.uniform(-6, 6) * noise
        points.append((x, y, (x + nx + y + ny) / 10))
    return points
''',
    "reg-gauss": '''BUMPS = ((-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1))


def make_data(n, noise, rng):
    """reg-gauss (src/dataset.ts regressGaussian): six bumps of alternating sign; the largest one at the point."""
    def target(x, y):
        best = 0.0
        for cx, cy, sign in BUMPS:
            value = sign * max(0.0, 1 - math.hypot(x - cx, y - cy) / 2)
            best = value if abs(value) > abs(best) else best
        return best

    points = []
    for _ in range(n):
        x, y = rng.uniform(-6, 6), rng.uniform(-6, 6)
        nx, ny = rng.uniform(-6, 6) * noise, rng.uniform(-6, 6) * noise
        points.append((x, y, target(x + nx, y + ny)))
    return points
''',
}

_CSV_READER = '''def make_data(n, noise, rng):
    """Your points, {path!r}: x1, x2, label per row, scaled as mmhub scaled them for training."""
    points = []
    with open({path!r}, newline="", encoding="utf-8-sig") as file:
        sample = file.read(4096)
        file.seek(0)
        delimiter = max(",;\\t", key=sample.count)
        for row in csv.reader(file, delimiter=delimiter):
            if len(row) != 3 or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            try:
                x, y = float(row[0]), float(row[1])
            except ValueError:  # a header
                continue
            x, y = (x - {x_shift[0]!r}) * {x_scale[0]!r}, (y - {x_shift[1]!r}) * {x_scale[1]!r}
            points.append((x, y, {label}))
    return points
'''


def _a_list(names: list[str]) -> str:
    return ", ".join(FEATURES[name][0] for name in names)


def pytorch_code(settings: Any, data: Any) -> str:
    """A runnable PyTorch script for `settings` (a `PlaygroundSettings`) and `data` (its `PlaygroundData`)."""
    features = list(settings.features)
    hidden = list(settings.hidden)
    problem = data.problem
    csv_file = settings.dataset == "csv"
    sizes = [len(features), *hidden, 1]
    act = _TORCH_ACTIVATIONS[settings.activation]
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        last = i == len(sizes) - 2
        out_act = ("nn.Tanh()" if problem == CLASSIFICATION else None) if last else act
        layers.append(f"    nn.Linear({a}, {b}),{f' {out_act},' if out_act else ''}")
    n = data.size if csv_file else (settings.num_samples or NUM_SAMPLES[problem])
    output = "tanh (labels -1 / +1)" if problem == CLASSIFICATION else "linear (targets in [-1, 1])"
    shape = " -> ".join([f"{len(features)} inputs ({_a_list(features)})", *[str(h) for h in hidden],
                         f"1 {output}"])
    reg = settings.regularization if settings.regularization_rate > 0 else "none"
    if csv_file:
        scaling = data.scaling
        if problem == CLASSIFICATION:
            label = f"1.0 if row[2].strip() == {scaling.classes[1]!r} else -1.0"
        else:
            label = f"(float(row[2]) - {scaling.target_shift!r}) * {scaling.target_scale!r}"
        generator = _CSV_READER.format(path=data.source, x_shift=scaling.x_shift, x_scale=scaling.x_scale,
                                       label=label)
        data_line = f"your CSV {data.source!r} ({n} points)"
    else:
        generator = _GENERATORS[settings.dataset]
        data_line = f"{settings.dataset}, noise {settings.noise:g} %, {n} points"
    weight_decay = settings.regularization_rate if reg == "L2" else 0.0
    l1 = (f"            loss = loss + {settings.regularization_rate!r} * sum(w.abs().sum() for w in weights)  # L1\n"
          if reg == "L1" else "")
    reg_text = f"{reg} {settings.regularization_rate:g}" if reg != "none" else reg
    feature_code = ", ".join(_FEATURE_CODE[name] for name in features)
    return f'''"""TensorFlow Playground settings as a PyTorch script (written by mmhub's playground).

Data: {data_line}, {settings.train_ratio:g} % to train (drawn with Python's random: not the page's points).
Network: {shape}; {settings.activation} hidden neurons.
Loss 0.5 * (output - label)², mean over a batch of {settings.batch_size}; SGD, learning rate
{settings.learning_rate:g}; regularisation {reg_text} (on the weights, not the biases).
"""
{"import csv" + chr(10) if csv_file else ""}import math
import random

import torch
from torch import nn

SEED = {settings.seed}
EPOCHS = 500
BATCH = {settings.batch_size}


{generator}

def features(xy):
    """The network's inputs: {_a_list(features)}."""
    x1, x2 = xy[:, 0], xy[:, 1]
    return torch.stack([{feature_code}], dim=1)


model = nn.Sequential(
{chr(10).join(layers)}
).double()


def train(epochs=EPOCHS):
    torch.manual_seed(SEED)
    for layer in model:  # the Playground's start: weights uniform in [-0.5, 0.5), biases 0.1
        if isinstance(layer, nn.Linear):
            nn.init.uniform_(layer.weight, -0.5, 0.5)
            nn.init.constant_(layer.bias, 0.1)
    rng = random.Random(SEED)
    points = make_data({n}, {settings.noise / 100!r}, rng)
    rng.shuffle(points)
    cut = math.floor(len(points) * {settings.train_ratio!r} / 100)
    data = torch.tensor(points, dtype=torch.float64)
    x_train, y_train = features(data[:cut, :2]), data[:cut, 2]
    x_test, y_test = features(data[cut:, :2]), data[cut:, 2]
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    biases = [m.bias for m in model if isinstance(m, nn.Linear)]
    optimizer = torch.optim.SGD([{{"params": weights, "weight_decay": {weight_decay!r}}}, {{"params": biases}}],
                                lr={settings.learning_rate!r})
    for epoch in range(1, epochs + 1):
        for i in range(0, len(x_train), BATCH):
            output = model(x_train[i:i + BATCH]).squeeze(1)
            loss = 0.5 * (output - y_train[i:i + BATCH]).pow(2).mean()
{l1}            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch % 50 == 0 or epoch == epochs:
            with torch.no_grad():
                train_loss = 0.5 * (model(x_train).squeeze(1) - y_train).pow(2).mean().item()
                test_loss = 0.5 * (model(x_test).squeeze(1) - y_test).pow(2).mean().item()
            print(f"epoch {{epoch}}: training loss {{train_loss:.3f}}, test loss {{test_loss:.3f}}")
    return model


if __name__ == "__main__":
    train()
'''
