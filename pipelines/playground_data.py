"""TensorFlow Playground's data: its six generators, its seeded random stream, its input features; and CSV points.

Everything here follows the Playground's own source (github.com/tensorflow/playground, commit 02469bd, Apache-2.0):

- **the generators** of ``src/dataset.ts``, formula for formula and draw for draw: classification ``circle``
  (``classifyCircleData``), ``xor`` (``classifyXORData``), ``gauss`` (``classifyTwoGaussData``), ``spiral``
  (``classifySpiralData``), labels -1 / +1; regression ``reg-plane`` (``regressPlane``) and ``reg-gauss``
  (``regressGaussian``), targets in [-1, 1]. ``noise`` is the page's slider (0 to 50, in percent: the generators get
  ``noise / 100``); 500 points for classification and 1200 for regression (``NUM_SAMPLES_CLASSIFY`` /
  ``NUM_SAMPLES_REGRESS`` in ``src/playground.ts``); d3 v3's linear scales as d3 computes them
  (``a * (1 - t) + b * t``).
- **the random stream**: the page calls ``Math.seedrandom(state.seed)`` (seedrandom 2.4.3, ARC4 with the first 256
  bytes dropped) before generating; `SeedRandom` is that generator, bit for bit, so the seed ``42`` gives the very
  points (and, drawn next from the same stream, the very initial weights) that playground.tensorflow.org shows when
  opened with ``#seed=42`` and the same settings. `shuffle` is ``dataset.ts``'s Fisher-Yates; the split is
  ``generateData``'s (the first ``floor(n * ratio / 100)`` shuffled points train, the rest test).
- **the input features** of ``src/playground.ts`` ``INPUTS``, in its order: x₁, x₂, x₁², x₂², x₁x₂, sin x₁, sin x₂.

`read_csv` adds what the Playground lacks: your own points, two numeric features and a label (two classes) or a
numeric target, read leniently (a header or none; comma, semicolon or tab) and refused with a `CsvDataError` naming
the file and line. Its features are scaled into the Playground's [-5, 5] square and a regression target into
[-1, 1] (the `Scaling` is saved with a trained network and applied again to new points).

>>> from pipelines.playground_data import make_data
>>> data = make_data("spiral", noise=10, train_ratio=50, seed=42)
>>> data.train_x.shape, data.test_x.shape, sorted(set(data.train_y))
((250, 2), (250, 2), [-1.0, 1.0])
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipelines import validate
from pipelines.errors import InputError

CLASSIFICATION, REGRESSION = "classification", "regression"
PROBLEMS = (CLASSIFICATION, REGRESSION)
CLASSIFICATION_SETS = ("circle", "xor", "gauss", "spiral")  # src/state.ts `datasets`
REGRESSION_SETS = ("reg-plane", "reg-gauss")  # src/state.ts `regDatasets`
DATASETS = CLASSIFICATION_SETS + REGRESSION_SETS
#: src/playground.ts NUM_SAMPLES_CLASSIFY / NUM_SAMPLES_REGRESS
NUM_SAMPLES = {CLASSIFICATION: 500, REGRESSION: 1200}
MIN_POINTS, MAX_POINTS = 4, 20_000
MAX_NOISE = 50.0  # the page's noise slider: 0 to 50 (percent)
MIN_RATIO, MAX_RATIO = 10.0, 90.0  # the "ratio of training to test data" slider, percent
#: The square every picture shows (src/playground.ts ``xDomain = [-6, 6]``); CSV features are scaled into ±`CSV_SPAN`.
DOMAIN = 6.0
CSV_SPAN = 5.0
MAX_CSV_BYTES = 5 * 2**20


def problem_of(dataset: str) -> str:
    """``classification`` or ``regression`` for a Playground data set name."""
    return REGRESSION if dataset in REGRESSION_SETS else CLASSIFICATION


# ----------------------------------------------------------------------------------------------------------------
# seedrandom 2.4.3 (github.com/davidbau/seedrandom, MIT): ARC4, RC4-drop[256], 52-bit doubles


class SeedRandom:
    """``Math.seedrandom(seed)`` then ``Math.random()``, exactly as the Playground's page draws them.

    >>> rng = SeedRandom("42")
    >>> rng.random()
    0.00701751618236155
    """

    _START, _SIGNIFICANCE, _OVERFLOW = 256.0 ** 6, 2.0 ** 52, 2.0 ** 53

    def __init__(self, seed: str):
        # mixkey(flatten(seed)): a string seed is its UTF-16 code units, smeared into a key of at most 256 bytes
        key: list[int] = []
        smear = 0
        units = seed.encode("utf-16-le")
        for j in range(0, len(units), 2):
            k = (j // 2) & 255
            if k < len(key):  # an unset key slot is undefined in JS: undefined * 19 is NaN, and NaN ^ s is s
                smear ^= key[k] * 19
            value = (smear + (units[j] | units[j + 1] << 8)) & 255
            if k < len(key):
                key[k] = value
            else:
                key.append(value)
        key = key or [0]  # "The empty key [] is treated as [0]"
        s = list(range(256))
        j = 0
        for i in range(256):
            t = s[i]
            j = (j + key[i % len(key)] + t) & 255
            s[i], s[j] = s[j], t
        self._s, self._i, self._j = s, 0, 0
        self._bytes(256)  # RC4-drop[256]

    def _bytes(self, count: int) -> int:
        s, i, j, r = self._s, self._i, self._j, 0
        for _ in range(count):
            i = (i + 1) & 255
            t = s[i]
            j = (j + t) & 255
            s[i] = s[j]
            s[j] = t
            r = r * 256 + s[(s[i] + t) & 255]
        self._i, self._j = i, j
        return r

    def random(self) -> float:
        """The next double in [0, 1) (seedrandom's ``prng()``: 52 random bits)."""
        n, d, x = float(self._bytes(6)), self._START, 0
        while n < self._SIGNIFICANCE:
            n = (n + x) * 256.0
            d *= 256.0
            x = self._bytes(1)
        while n >= self._OVERFLOW:
            n /= 2
            d /= 2
            x >>= 1
        return (n + x) / d

    def uniform(self, a: float, b: float) -> float:
        """dataset.ts ``randUniform(a, b)``: ``Math.random() * (b - a) + a``."""
        return self.random() * (b - a) + a

    def normal(self, mean: float = 0.0, variance: float = 1.0) -> float:
        """dataset.ts ``normalRandom``: the polar (Marsaglia) method, one draw per accepted pair."""
        while True:
            v1 = 2 * self.random() - 1
            v2 = 2 * self.random() - 1
            s = v1 * v1 + v2 * v2
            if 0 < s <= 1:  # the TypeScript accepts s == 0 too (a 2**-104 chance), then divides by it
                break
        return mean + math.sqrt(variance) * (math.sqrt(-2 * math.log(s) / s) * v1)


def _scale(x: float, d0: float, d1: float, r0: float, r1: float, clamp: bool = False) -> float:
    """d3 v3 ``d3.scale.linear().domain([d0, d1]).range([r0, r1])`` (``.clamp(true)``), computed as d3 does."""
    t = (x - d0) / (d1 - d0)
    if clamp:
        t = max(0.0, min(1.0, t))
    return r0 * (1 - t) + r1 * t


def _dist(ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = ax - bx, ay - by
    return math.sqrt(dx * dx + dy * dy)


# ----------------------------------------------------------------------------------------------------------------
# src/dataset.ts: each returns [(x, y, label)], drawing from `rng` in the order the TypeScript does

Point = tuple[float, float, float]


def classify_two_gauss(n: int, noise: float, rng: SeedRandom) -> list[Point]:
    """Two Gaussian blobs at (2, 2) (+1) and (-2, -2) (-1); the variance grows from 0.5 to 4 with the noise."""
    variance = _scale(noise, 0, 0.5, 0.5, 4)
    points: list[Point] = []
    for cx, cy, label in ((2, 2, 1.0), (-2, -2, -1.0)):
        for _ in range(math.ceil(n / 2)):  # `for (i = 0; i < numSamples / 2; i++)`
            x = rng.normal(cx, variance)
            y = rng.normal(cy, variance)
            points.append((x, y, label))
    return points


def regress_plane(n: int, noise: float, rng: SeedRandom) -> list[Point]:
    """Uniform points in [-6, 6]²; target (x + y) / 10 of the noisy point, scaled from [-10, 10] to [-1, 1]."""
    radius = 6
    points: list[Point] = []
    for _ in range(n):
        x = rng.uniform(-radius, radius)
        y = rng.uniform(-radius, radius)
        noise_x = rng.uniform(-radius, radius) * noise
        noise_y = rng.uniform(-radius, radius) * noise
        points.append((x, y, _scale(x + noise_x + (y + noise_y), -10, 10, -1, 1)))
    return points


#: dataset.ts regressGaussian: (centre x, centre y, sign)
_REG_GAUSSIANS = ((-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1))


def regress_gaussian(n: int, noise: float, rng: SeedRandom) -> list[Point]:
    """Six bumps of alternating sign; the target is the bump largest in absolute value at the noisy point."""

    def label_at(x: float, y: float) -> float:
        label = 0.0
        for cx, cy, sign in _REG_GAUSSIANS:
            new = sign * _scale(_dist(x, y, cx, cy), 0, 2, 1, 0, clamp=True)
            if abs(new) > abs(label):
                label = new
        return label

    radius = 6
    points: list[Point] = []
    for _ in range(n):
        x = rng.uniform(-radius, radius)
        y = rng.uniform(-radius, radius)
        noise_x = rng.uniform(-radius, radius) * noise
        noise_y = rng.uniform(-radius, radius) * noise
        points.append((x, y, label_at(x + noise_x, y + noise_y)))
    return points


def classify_spiral(n: int, noise: float, rng: SeedRandom) -> list[Point]:
    """Two interleaved spirals (1.75 turns, radius 0 to 5), +1 and -1; noise shifts each point by up to ±noise."""
    half = n / 2
    points: list[Point] = []
    for delta, label in ((0.0, 1.0), (math.pi, -1.0)):
        i = 0
        while i < half:
            r = i / half * 5
            t = 1.75 * i / half * 2 * math.pi + delta
            x = r * math.sin(t) + rng.uniform(-1, 1) * noise
            y = r * math.cos(t) + rng.uniform(-1, 1) * noise
            points.append((x, y, label))
            i += 1
    return points


def classify_circle(n: int, noise: float, rng: SeedRandom) -> list[Point]:
    """+1 inside radius 2.5, -1 in the ring from 3.5 to 5; each label is that of the noisy point."""
    radius = 5.0

    def label_at(x: float, y: float) -> float:
        return 1.0 if _dist(x, y, 0, 0) < radius * 0.5 else -1.0

    points: list[Point] = []
    for low, high in ((0.0, radius * 0.5), (radius * 0.7, radius)):
        for _ in range(math.ceil(n / 2)):
            r = rng.uniform(low, high)
            angle = rng.uniform(0, 2 * math.pi)
            x = r * math.sin(angle)
            y = r * math.cos(angle)
            noise_x = rng.uniform(-radius, radius) * noise
            noise_y = rng.uniform(-radius, radius) * noise
            points.append((x, y, label_at(x + noise_x, y + noise_y)))
    return points


def classify_xor(n: int, noise: float, rng: SeedRandom) -> list[Point]:
    """Uniform points in [-5, 5]² pushed 0.3 away from the axes; +1 where x·y >= 0 (of the noisy point)."""
    padding = 0.3
    points: list[Point] = []
    for _ in range(n):
        x = rng.uniform(-5, 5)
        x += padding if x > 0 else -padding
        y = rng.uniform(-5, 5)
        y += padding if y > 0 else -padding
        noise_x = rng.uniform(-5, 5) * noise
        noise_y = rng.uniform(-5, 5) * noise
        points.append((x, y, 1.0 if (x + noise_x) * (y + noise_y) >= 0 else -1.0))
    return points


GENERATORS: dict[str, Callable[[int, float, SeedRandom], list[Point]]] = {
    "circle": classify_circle, "xor": classify_xor, "gauss": classify_two_gauss, "spiral": classify_spiral,
    "reg-plane": regress_plane, "reg-gauss": regress_gaussian,
}


def shuffle(items: list[Any], rng: SeedRandom) -> None:
    """dataset.ts ``shuffle``: Fisher-Yates in place, from the end."""
    counter = len(items)
    while counter > 0:
        index = math.floor(rng.random() * counter)
        counter -= 1
        items[counter], items[index] = items[index], items[counter]


# ----------------------------------------------------------------------------------------------------------------
# input features (src/playground.ts INPUTS)

#: name -> (label shown, the Playground's state key, the function of (x1, x2) arrays)
FEATURES: dict[str, tuple[str, str, Callable[[np.ndarray, np.ndarray], np.ndarray]]] = {
    "x1": ("x₁", "x", lambda x, y: x),
    "x2": ("x₂", "y", lambda x, y: y),
    "x1_squared": ("x₁²", "xSquared", lambda x, y: x * x),
    "x2_squared": ("x₂²", "ySquared", lambda x, y: y * y),
    "x1_x2": ("x₁x₂", "xTimesY", lambda x, y: x * y),
    "sin_x1": ("sin(x₁)", "sinX", lambda x, y: np.sin(x)),
    "sin_x2": ("sin(x₂)", "sinY", lambda x, y: np.sin(y)),
}
FEATURE_NAMES = tuple(FEATURES)
_FEATURE_ALIASES = {
    **{key.lower(): name for name, (_, key, _) in FEATURES.items()},  # the Playground's keys: x, y, xSquared...
    **{label: name for name, (label, _, _) in FEATURES.items()},  # what the page shows: x₁, x₁², sin(x₁)...
    "x1^2": "x1_squared", "x2^2": "x2_squared", "x1**2": "x1_squared", "x2**2": "x2_squared", "x1x2": "x1_x2",
    "x1*x2": "x1_x2", "sin(x1)": "sin_x1", "sin(x2)": "sin_x2", "sinx1": "sin_x1", "sinx2": "sin_x2",
}


def _feature_key(name: str) -> str:
    key = "".join(name.split()).lower()
    return _FEATURE_ALIASES.get(key, _FEATURE_ALIASES.get(name.strip(), key))


def check_features(value: Any, argument: str = "features") -> tuple[str, ...]:
    """The feature names, each once, in the Playground's input order; `InputError` for none or an unknown one.

    Accepts our names (``x1_squared``), the Playground's (``xSquared``) and the page's (``x₁²``, ``x1^2``), as a
    list or a comma-separated string.
    """
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not value:
        raise InputError(argument, value, f"a non-empty list of features from {list(FEATURE_NAMES)}")
    names = {validate.choice(argument, item, FEATURE_NAMES, normalise=_feature_key) for item in value}
    return tuple(name for name in FEATURE_NAMES if name in names)


def feature_matrix(points: np.ndarray, features: Sequence[str]) -> np.ndarray:
    """``(n, 2)`` points -> ``(n, len(features))`` input columns (float64), in the order given."""
    x, y = points[:, 0], points[:, 1]
    return np.stack([FEATURES[name][2](x, y) for name in features], axis=1).astype(np.float64)


# ----------------------------------------------------------------------------------------------------------------
# a data set


@dataclass(frozen=True)
class Scaling:
    """How raw CSV values map to what the network sees: ``x_scaled = (x - x_shift) * x_scale`` per feature, and for
    regression ``target_scaled = (t - target_shift) * target_scale``; ``classes`` name the labels -1 and +1.
    The identity (the Playground's own data) is the default."""

    x_shift: tuple[float, float] = (0.0, 0.0)
    x_scale: tuple[float, float] = (1.0, 1.0)
    target_shift: float = 0.0
    target_scale: float = 1.0
    classes: tuple[str, str] | None = None
    columns: tuple[str, str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"x_shift": list(self.x_shift), "x_scale": list(self.x_scale), "target_shift": self.target_shift,
                "target_scale": self.target_scale, "classes": list(self.classes) if self.classes else None,
                "columns": list(self.columns) if self.columns else None}

    @classmethod
    def from_dict(cls, value: dict[str, Any] | None) -> Scaling:
        if not value:
            return cls()
        return cls(tuple(value["x_shift"]), tuple(value["x_scale"]), float(value["target_shift"]),
                   float(value["target_scale"]), tuple(value["classes"]) if value.get("classes") else None,
                   tuple(value["columns"]) if value.get("columns") else None)

    def points(self, raw: np.ndarray) -> np.ndarray:
        return (raw - np.asarray(self.x_shift)) * np.asarray(self.x_scale)

    def target(self, scaled: np.ndarray) -> np.ndarray:
        """A regression output back in the CSV's units."""
        return scaled / self.target_scale + self.target_shift

    @property
    def is_identity(self) -> bool:
        return self == Scaling(classes=self.classes, columns=self.columns)


@dataclass
class PlaygroundData:
    """Training and test points (as the network sees them: scaled for a CSV), their labels, and where they came from.

    Attributes:
        problem (`str`): ``classification`` (labels -1 / +1) or ``regression`` (targets, in [-1, 1] as generated).
        train_x, test_x (`np.ndarray`): ``(n, 2)`` float64 points.
        train_y, test_y (`np.ndarray`): ``(n,)`` float64 labels or targets.
        source (`str`): the data set's name, or the CSV file's name.
        scaling (`Scaling`): raw CSV values -> these (identity for the Playground's data sets).
    """

    problem: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    source: str
    scaling: Scaling = field(default_factory=Scaling)

    @property
    def size(self) -> int:
        return len(self.train_x) + len(self.test_x)


def split(points: list[Point], train_ratio: float, rng: SeedRandom, problem: str, source: str,
          scaling: Scaling | None = None) -> PlaygroundData:
    """generateData: shuffle `points` with `rng`, the first ``floor(n * ratio / 100)`` train and the rest test."""
    items = list(points)
    shuffle(items, rng)
    cut = math.floor(len(items) * train_ratio / 100)
    if cut < 1 or cut >= len(items):
        raise InputError("train_ratio", train_ratio, f"a ratio leaving at least one training and one test point of "
                                                     f"{len(items)}", "Use more points or a ratio nearer 50.")
    array = np.asarray(items, dtype=np.float64).reshape(len(items), 3)
    return PlaygroundData(problem, array[:cut, :2].copy(), array[:cut, 2].copy(), array[cut:, :2].copy(),
                          array[cut:, 2].copy(), source, scaling or Scaling())


def make_data(dataset: str, noise: float = 0.0, train_ratio: float = 50.0, seed: int | str = 0,
              num_samples: int | None = None, rng: SeedRandom | None = None) -> PlaygroundData:
    """The Playground's data set `dataset` with `noise` (0 to 50, percent) split at `train_ratio` percent, seeded.

    Args:
        dataset (`str`): ``circle``, ``xor``, ``gauss``, ``spiral`` (classification) or ``reg-plane``,
            ``reg-gauss`` (regression).
        noise (`float`, defaults to 0): the page's noise slider, 0 to 50.
        train_ratio (`float`, defaults to 50): percent of the points that train (10 to 90); the rest test.
        seed (`int` or `str`, defaults to 0): the page's ``#seed=``; ignored when `rng` is given.
        num_samples (`int`, *optional*): points (4 to 20,000); default the Playground's 500 / 1200.
        rng (`SeedRandom`, *optional*): draw from this stream (the trainer goes on to draw the weights from it).
    """
    dataset = validate.choice("dataset", dataset, DATASETS, normalise=lambda s: s.strip().lower())
    noise = validate.number("noise", noise, low=0, high=MAX_NOISE, hint="The Playground's noise slider: 0 to 50.")
    train_ratio = validate.number("train_ratio", train_ratio, low=MIN_RATIO, high=MAX_RATIO,
                                  hint="Percent of the points used for training.")
    problem = problem_of(dataset)
    n = NUM_SAMPLES[problem] if num_samples is None else validate.integer("num_samples", num_samples,
                                                                            low=MIN_POINTS, high=MAX_POINTS)
    rng = rng or SeedRandom(str(seed))
    points = GENERATORS[dataset](n, noise / 100, rng)
    return split(points, train_ratio, rng, problem, dataset)


# ----------------------------------------------------------------------------------------------------------------
# CSV points


class CsvDataError(InputError):
    """A CSV of points that cannot be used: names the file and the line (`path`, `line`: 0 when it is the whole file).

    >>> raise CsvDataError("points.csv", 7, "'abc' is not a number")
    Traceback (most recent call last):
    pipelines.playground_data.CsvDataError: `data` must be ... ; got 'points.csv:7: ...'
    """

    ALLOWED = "a CSV of points: two numeric feature columns and a label (two classes) or a numeric target"

    def __init__(self, path: str, line: int, problem: str, hint: str | None = None):
        self.path, self.line, self.problem = path, line, problem
        where = f"{path}:{line}" if line else path
        super().__init__("data", f"{where}: {problem}", self.ALLOWED, hint)


def _number(text: str) -> float | None:
    try:
        value = float(text.strip().replace("\u2212", "-"))
    except ValueError:
        return None
    return value


def read_csv(source: str | os.PathLike | bytes, problem: str | None = None, name: str | None = None
             ) -> tuple[list[Point], str, Scaling]:
    """Points from a CSV: ``x1, x2, label`` per row; returns ``(points, problem, scaling)`` with the points scaled.

    Lenient where it can be: a header row or none (a first row that is not three numbers is a header; its names are
    kept); comma, semicolon or tab; a UTF-8 BOM; blank lines and ``#`` comments skipped; decimal points only. The
    label makes the problem unless `problem` says it: two distinct values are classes (the smaller, or the first in
    sort order, is -1), more numeric values a regression target. Refused with `CsvDataError` (file and line): not
    UTF-8, a row without three columns, a feature that is not a finite number, fewer than `MIN_POINTS` rows, one class
    only, a non-numeric regression target, a constant feature or target, more than `MAX_POINTS` rows or
    `MAX_CSV_BYTES`.

    Features are scaled linearly into [-5, 5] each (the pictures show [-6, 6]); a regression target into [-1, 1]
    (the Playground's targets, and the output's range); the `Scaling` records both.

    Args:
        source: a path, or the file's bytes (then `name` names it in messages).
        problem (`str`, *optional*): ``classification`` or ``regression``; default from the labels.
    """
    if problem is not None:
        problem = validate.choice("problem", problem, PROBLEMS)
    if isinstance(source, (bytes, bytearray)):
        name, raw = name or "data.csv", bytes(source)
    else:
        if not isinstance(source, (str, os.PathLike)) or not str(source).strip():
            raise InputError("data", source, "a CSV file's path (or its bytes)")
        path = Path(source).expanduser()
        name = name or path.name
        if not path.is_file():
            raise CsvDataError(name, 0, "no such file")
        if path.stat().st_size > MAX_CSV_BYTES:
            raise CsvDataError(name, 0, f"{path.stat().st_size:,} bytes, more than {MAX_CSV_BYTES:,}")
        raw = path.read_bytes()
    if len(raw) > MAX_CSV_BYTES:
        raise CsvDataError(name, 0, f"{len(raw):,} bytes, more than {MAX_CSV_BYTES:,}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise CsvDataError(name, line, "bytes that are not UTF-8 text", "Save the file as UTF-8 CSV.") from None
    if "\x00" in text:
        raise CsvDataError(name, text[: text.index("\x00")].count("\n") + 1, "a NUL byte: a binary file, not CSV")
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise CsvDataError(name, 0, "no rows", "Write one point per line: x1,x2,label.")
    sample = "\n".join(line for _, line in lines[:20])
    delimiter = max(",;\t", key=sample.count) if any(c in sample for c in ",;\t") else ","
    rows = [(number, [cell.strip() for cell in row])
            for (number, line), row in zip(lines, csv.reader(io.StringIO("\n".join(line for _, line in lines)),
                                                             delimiter=delimiter), strict=False)]
    columns = None
    first_number, first = rows[0]
    if len(first) >= 2 and (_number(first[0]) is None or _number(first[1]) is None):
        if len(first) != 3:
            raise CsvDataError(name, first_number, f"a header of {len(first)} columns",
                               "Give three columns: two features and a label (x1,x2,label).")
        columns = (first[0], first[1], first[2])
        rows = rows[1:]
    if len(rows) > MAX_POINTS:
        raise CsvDataError(name, rows[MAX_POINTS][0], f"more than {MAX_POINTS:,} points")
    xs: list[tuple[float, float]] = []
    labels: list[str] = []
    numbers: list[int] = []
    for number, row in rows:
        if len(row) != 3:
            raise CsvDataError(name, number, f"{len(row)} column{'s' if len(row) != 1 else ''} "
                                             f"({delimiter!r}-separated)",
                               "Each row needs three: x1, x2 and the label or target.")
        pair = []
        for column, cell in zip(("x1", "x2"), row[:2], strict=True):
            value = _number(cell)
            if value is None or not math.isfinite(value) or abs(value) > 1e12:
                what = "empty" if not cell else f"{cell[:30]!r} is not a finite number"
                raise CsvDataError(name, number, f"{column} {what}" if not cell else what,
                                   "Features must be plain numbers with a decimal point.")
            pair.append(value)
        if not row[2]:
            raise CsvDataError(name, number, "an empty label")
        xs.append((pair[0], pair[1]))
        labels.append(row[2])
        numbers.append(number)
    if len(xs) < MIN_POINTS:
        raise CsvDataError(name, 0, f"{len(xs)} point{'s' if len(xs) != 1 else ''}",
                           f"At least {MIN_POINTS} are needed (some to train, some to test).")
    distinct = sorted(set(labels), key=lambda s: (_number(s) is None, _number(s) or 0.0, s))
    numeric = [_number(s) for s in labels]
    if problem is None:
        problem = CLASSIFICATION if len(distinct) == 2 or any(v is None for v in numeric) else REGRESSION
    points_raw = np.asarray(xs, dtype=np.float64)
    low, high = points_raw.min(axis=0), points_raw.max(axis=0)
    for index, column in enumerate(("x1", "x2")):
        if high[index] == low[index]:
            raise CsvDataError(name, 0, f"feature {column} is the same ({low[index]:g}) in every row")
    x_scale = (2 * CSV_SPAN) / (high - low)
    x_shift = (high + low) / 2
    if problem == CLASSIFICATION:
        if len(distinct) != 2:
            shown = ", ".join(map(repr, distinct[:5])) + (", ..." if len(distinct) > 5 else "")
            raise CsvDataError(name, 0, f"{len(distinct)} distinct label{'s' if len(distinct) != 1 else ''} ({shown})",
                               "Classification needs exactly two classes (e.g. -1 / 1, 0 / 1, cat / dog).")
        targets = [1.0 if label == distinct[1] else -1.0 for label in labels]
        scaling = Scaling(tuple(x_shift), tuple(x_scale), classes=(distinct[0], distinct[1]), columns=columns)
    else:
        for number, label, value in zip(numbers, labels, numeric, strict=True):
            if value is None or not math.isfinite(value) or abs(value) > 1e12:
                raise CsvDataError(name, number, f"target {label[:30]!r} is not a finite number",
                                   "A regression target must be a number.")
        values = np.asarray(numeric, dtype=np.float64)
        if values.max() == values.min():
            raise CsvDataError(name, 0, f"the target is the same ({values[0]:g}) in every row")
        target_shift = float(values.max() + values.min()) / 2
        target_scale = 2.0 / float(values.max() - values.min())
        targets = list((values - target_shift) * target_scale)
        scaling = Scaling(tuple(x_shift), tuple(x_scale), target_shift, target_scale, columns=columns)
    scaled = scaling.points(points_raw)
    return [(float(a), float(b), float(t)) for (a, b), t in zip(scaled, targets, strict=True)], problem, scaling


def csv_data(source: str | os.PathLike | bytes, train_ratio: float = 50.0, seed: int | str = 0,
             problem: str | None = None, name: str | None = None, rng: SeedRandom | None = None) -> PlaygroundData:
    """`read_csv`, then the Playground's shuffle and split (seeded as `make_data`)."""
    train_ratio = validate.number("train_ratio", train_ratio, low=MIN_RATIO, high=MAX_RATIO)
    points, problem, scaling = read_csv(source, problem=problem, name=name)
    label = name or (Path(source).name if not isinstance(source, (bytes, bytearray)) else "data.csv")
    return split(points, train_ratio, rng or SeedRandom(str(seed)), problem, label, scaling)
