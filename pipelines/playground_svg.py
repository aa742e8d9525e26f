"""Draw a `PlaygroundFrame` as the Playground's page does, in one self-contained HTML/SVG fragment (fast: two PNGs).

What is drawn follows the page (github.com/tensorflow/playground, commit 02469bd):

- colours: orange ``#f59322`` (-1), grey ``#e8eaeb`` (0), blue ``#0877bd`` (+1); pictures use 31 shades (heatmap.ts
  ``NUM_SHADES = 30``: ``d3.scale.quantize`` over [-1, 1]) at opacity 160/255, links and biases the continuous scale
  (playground.ts ``colorScale``, clamped);
- a link's width grows with its weight's size, from 1 to 10 pixels for |w| from 0 to 5 (``linkWidthScale``); the
  page's dashes (``stroke-dasharray: 9 1``); a link that L1 has set to zero for good is drawn faint and dotted
  (the page just shows it at width 1);
- each neuron's small map, its bias as a small square at its lower left; the output over [-6, 6]² with the training
  points (white rim) and, when asked, the test points (black rim); the loss curves (training grey ``#777``, test
  black) and the epoch as ``000,123``.

Each call encodes two PNGs (the output picture, and every neuron's map in one sprite sheet the SVG crops with
``viewBox``) and writes the rest as SVG text; a 4x8 network renders in a few milliseconds.

>>> from pipelines.playground import Playground
>>> from pipelines.playground_svg import render_html
>>> trainer = Playground(dataset="spiral", seed=0)
>>> html = render_html(trainer.frame(), trainer.data)
>>> open("frame.html", "w").write(html)
"""

from __future__ import annotations

import base64
import html as html_lib
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.playground_data import DOMAIN, FEATURES

ORANGE, GREY, BLUE = (0xF5, 0x93, 0x22), (0xE8, 0xEA, 0xEB), (0x08, 0x77, 0xBD)
NUM_SHADES = 30
ALPHA = 160
SURFACE_SIZE = 300  # the page's heat map: 300 px
NODE = 36  # a neuron's box (the page: 30 px)
BIAS = 6
MAX_CURVE_POINTS = 300

TEXTS = {
    "en": {"features": "Features", "hidden": "Hidden layer {n}", "layer": "Layer {n}", "neurons": "{n} neurons",
           "neuron": "1 neuron",
           "output": "Output", "epoch": "Epoch", "train_loss": "Training loss", "test_loss": "Test loss",
           "train_accuracy": "training accuracy", "test_accuracy": "Test accuracy", "weight": "weight",
           "bias": "bias", "dead": "set to 0 for good by L1"},
    "pl": {"features": "Cechy", "hidden": "Warstwa ukryta {n}", "layer": "Warstwa {n}", "neurons": "neurony: {n}",
           "neuron": "1 neuron",
           "output": "Wyjście", "epoch": "Epoka", "train_loss": "Strata treningowa", "test_loss": "Strata testowa",
           "train_accuracy": "dokładność treningowa", "test_accuracy": "Dokładność testowa", "weight": "waga",
           "bias": "obciążenie", "dead": "wyzerowana na stałe przez L1"},
}


def _rgb(t: float) -> tuple[int, int, int]:
    """The page's colour for ``t`` in [0, 1] (0 orange, 0.5 grey, 1 blue), as d3 interpolates and rounds RGB."""
    low, high, u = (ORANGE, GREY, t / 0.5) if t <= 0.5 else (GREY, BLUE, (t - 0.5) / 0.5)
    return tuple(int(round(a * (1 - u) + b * u)) for a, b in zip(low, high, strict=True))  # type: ignore[return-value]


#: heatmap.ts: ``d3.range(0, 1 + 1e-9, 1 / NUM_SHADES)`` colours, 31 of them, with the canvas' alpha
SHADES = np.array([(*_rgb(i / NUM_SHADES), ALPHA) for i in range(NUM_SHADES + 1)], dtype=np.uint8)


def shade(values: np.ndarray, discretize: bool = False) -> np.ndarray:
    """Values -> RGBA uint8 (``values.shape + (4,)``): ``d3.scale.quantize().domain([-1, 1])`` into `SHADES`;
    `discretize` first maps each value to -1 / +1 (the page's "Discretize output", ``value >= 0``)."""
    v = np.where(values >= 0, 1.0, -1.0) if discretize else np.nan_to_num(values, nan=0.0)
    index = np.clip(np.floor((v + 1.0) / 2.0 * (NUM_SHADES + 1)), 0, NUM_SHADES).astype(np.intp)
    return SHADES[index]


def colour(value: float) -> str:
    """playground.ts ``colorScale``: the continuous orange-grey-blue scale over [-1, 1], clamped, as ``#rrggbb``."""
    t = (min(1.0, max(-1.0, float(value))) + 1.0) / 2.0 if np.isfinite(value) else 0.5
    r, g, b = _rgb(t)
    return f"#{r:02x}{g:02x}{b:02x}"


def link_width(weight: float) -> float:
    """playground.ts ``linkWidthScale``: 1 to 10 px for |w| from 0 to 5, clamped."""
    t = min(1.0, abs(float(weight)) / 5.0) if np.isfinite(weight) else 0.0
    return 1.0 * (1 - t) + 10.0 * t


def png_data_uri(rgba: np.ndarray) -> str:
    """An ``(h, w, 4)`` uint8 picture as a ``data:image/png;base64,...`` URI (fast zlib level)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _sprite(maps: list[np.ndarray], discretize: bool) -> tuple[str, int]:
    """Every node's map side by side, each padded by one pixel of its own edge (so that the browser's smoothing at
    a crop's border does not bleed in the neighbour), as one PNG; returns its URI and the cell width."""
    flat = np.concatenate(maps, axis=0)  # (nodes, m, m)
    padded = np.pad(flat, ((0, 0), (1, 1), (1, 1)), mode="edge")
    cell = padded.shape[1]
    strip = padded.transpose(1, 0, 2).reshape(cell, -1)  # (m + 2, nodes * (m + 2))
    return png_data_uri(shade(strip, discretize)), cell


@dataclass
class RenderOptions:
    """What to draw: test points too, discretized output, language, and the SVG ids' prefix (several on a page)."""

    show_test: bool = False
    discretize: bool = False
    lang: str = "en"
    prefix: str = "pg"
    texts: dict[str, str] = field(default_factory=dict)

    def t(self, key: str, **values: Any) -> str:
        text = self.texts.get(key) or TEXTS.get(self.lang, TEXTS["en"]).get(key) or TEXTS["en"][key]
        return text.format(**values) if values else text


class PointsCache:
    """The points' SVG depends only on the data and the options: kept between frames of one trainer."""

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._data: Any = None
        self._svg = ""

    def get(self, data: Any, show_test: bool) -> str:
        key = (id(data), show_test)
        if self._key != key or self._data is not data:
            self._key, self._data, self._svg = key, data, points_svg(data, show_test)
        return self._svg


def _to_pixels(points: np.ndarray) -> np.ndarray:
    return (points + DOMAIN) / (2 * DOMAIN) * SURFACE_SIZE


def points_svg(data: Any, show_test: bool) -> str:
    """The training points (white rim) and, with `show_test`, the test points (black rim), as SVG circles; points
    outside the square are left out (heatmap.ts ``updateCircles``)."""
    parts = []
    sets = [("train", data.train_x, data.train_y)] + ([("test", data.test_x, data.test_y)] if show_test else [])
    for kind, points, labels in sets:
        inside = (np.abs(points) <= DOMAIN).all(axis=1)
        pixels = _to_pixels(points[inside])
        colours = SHADES[np.clip(np.floor((np.asarray(labels)[inside] + 1.0) / 2.0 * (NUM_SHADES + 1)), 0,
                                 NUM_SHADES).astype(np.intp)]
        rim = 'stroke="white" stroke-opacity="0.8"' if kind == "train" else 'stroke="black" stroke-opacity="0.6"'
        circles = "".join(f'<circle cx="{x:.1f}" cy="{SURFACE_SIZE - y:.1f}" r="3" fill="#{c[0]:02x}{c[1]:02x}'
                          f'{c[2]:02x}"/>' for (x, y), c in zip(pixels, colours, strict=True))
        parts.append(f'<g class="{kind}" {rim} stroke-width="1" fill-opacity="0.9">{circles}</g>')
    return "".join(parts)


def epoch_text(epoch: int) -> str:
    """The page's epoch counter: six digits, thousands separated (``000,123``)."""
    return f"{epoch:06d}"[:-3] + "," + f"{epoch:06d}"[-3:] if epoch < 10**6 else f"{epoch:,}"


def _curve_svg(history: list[tuple[int, float, float]], width: int = SURFACE_SIZE, height: int = 70) -> str:
    if len(history) > MAX_CURVE_POINTS:
        keep = np.unique(np.linspace(0, len(history) - 1, MAX_CURVE_POINTS).round().astype(int))
        history = [history[i] for i in keep]
    values = np.asarray(history, dtype=np.float64).reshape(-1, 3)
    finite = values[:, 1:][np.isfinite(values[:, 1:])]
    top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    last = values[-1, 0] if values[-1, 0] > 0 else 1.0
    lines = []
    for column, stroke in ((1, "#777"), (2, "black")):
        xs = values[:, 0] / last * (width - 2) + 1
        ys = height - 2 - np.nan_to_num(values[:, column], nan=top, posinf=top) / top * (height - 4)
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
        lines.append(f'<polyline points="{pts}" fill="none" stroke="{stroke}" stroke-width="1.5"/>')
    return (f'<svg class="pg-curve" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f'<rect width="{width}" height="{height}" fill="#f7f7f7"/>{"".join(lines)}</svg>')


def network_svg(frame: Any, options: RenderOptions, sprite: str, cell: int) -> str:
    """The network: the features, each hidden layer and the output as columns of small maps, with the links."""
    sizes = [len(frame.features), *frame.hidden, 1]
    column_gap = 92 if len(sizes) <= 5 else 74
    row_gap = NODE + 14
    top, left = 38, 46
    width = left + (len(sizes) - 1) * column_gap + NODE + 8
    height = top + max(sizes) * row_gap + 4
    m = cell - 2
    positions = [[(left + c * column_gap, top + r * row_gap) for r in range(n)] for c, n in enumerate(sizes)]
    links, nodes, heads = [], [], []
    for c, n in enumerate(sizes):
        x0 = positions[c][0][0] + NODE / 2
        if c == 0:
            head = options.t("features")
        elif c == len(sizes) - 1:
            head = options.t("output")
        else:  # "Hidden layer 2" is wider than a column when there are many
            head = options.t("hidden" if len(sizes) <= 5 else "layer", n=c)
        sub = "" if c in (0, len(sizes) - 1) else options.t("neuron") if n == 1 else options.t("neurons", n=n)
        heads.append(f'<text x="{x0:.0f}" y="12" text-anchor="middle" class="pg-head">{html_lib.escape(head)}</text>'
                     + (f'<text x="{x0:.0f}" y="26" text-anchor="middle" class="pg-sub">{sub}</text>' if sub else ""))
    for layer, (weights, dead) in enumerate(zip(frame.weights, frame.dead, strict=True)):
        for j, (x2, y2) in enumerate(positions[layer + 1]):
            for i, (x1, y1) in enumerate(positions[layer]):
                w = float(weights[j, i])
                sx, sy, ex, ey = x1 + NODE, y1 + NODE / 2, x2, y2 + NODE / 2
                mid = (sx + ex) / 2
                style = ('stroke-dasharray="1 3" stroke-opacity="0.5"' if dead[j, i] else 'stroke-dasharray="9 1"')
                note = f"{options.t('weight')} {w:.3f}" + (f" ({options.t('dead')})" if dead[j, i] else "")
                links.append(f'<path d="M{sx:.0f},{sy:.0f}C{mid:.0f},{sy:.0f} {mid:.0f},{ey:.0f} {ex:.0f},{ey:.0f}" '
                             f'stroke="{colour(w)}" stroke-width="{link_width(w):.2f}" {style}>'
                             f'<title>{note}</title></path>')
    k = 0
    for c, column in enumerate(positions):
        for r, (x, y) in enumerate(column):
            crop = f'{k * cell + 1} 1 {m} {m}'
            nodes.append(f'<svg x="{x}" y="{y}" width="{NODE}" height="{NODE}" viewBox="{crop}" '
                         f'preserveAspectRatio="none"><use href="#{options.prefix}-sprite"/></svg>'
                         f'<rect x="{x}" y="{y}" width="{NODE}" height="{NODE}" fill="none" stroke="#bbb"/>')
            if c == 0:
                label = FEATURES[frame.features[r]][0]
                nodes.append(f'<text x="{x - 6}" y="{y + NODE / 2 + 4:.0f}" text-anchor="end" class="pg-feature">'
                             f'{label}</text>')
            else:
                b = float(frame.biases[c - 1][r])
                nodes.append(f'<rect x="{x - BIAS - 1}" y="{y + NODE - BIAS}" width="{BIAS}" height="{BIAS}" '
                             f'fill="{colour(b)}" stroke="#999" stroke-width="0.5"><title>{options.t("bias")} '
                             f'{b:.3f}</title></rect>')
            k += 1
    n_cells = sum(sizes)
    return (f'<svg class="pg-network" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg"><defs><image id="{options.prefix}-sprite" href="{sprite}" '
            f'width="{n_cells * cell}" height="{cell}" preserveAspectRatio="none"/></defs>'
            f'{"".join(heads)}<g fill="none">{"".join(links)}</g>{"".join(nodes)}</svg>')


def surface_svg(frame: Any, data: Any, options: RenderOptions, points: str | None = None) -> str:
    """The output over [-6, 6]² with the points on it, and the axes' ticks."""
    uri = png_data_uri(shade(frame.surface, options.discretize))
    size, pad = SURFACE_SIZE, 8
    where = lambda v: (v + DOMAIN) / (2 * DOMAIN) * size  # noqa: E731
    ticks = "".join(
        f'<text x="{pad + where(v):.0f}" y="{pad + size + 13}" text-anchor="middle">{v}</text>'
        f'<text x="{pad + size + 4}" y="{pad + size - where(v) + 4:.0f}">{v}</text>' for v in (-6, -4, -2, 0, 2, 4, 6))
    points = points if points is not None else points_svg(data, options.show_test)
    width, height = size + 2 * pad + 16, size + 2 * pad + 10
    return (f'<svg class="pg-surface" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg"><g transform="translate({pad},{pad})"><image href="{uri}" '
            f'width="{size}" height="{size}" preserveAspectRatio="none"/>{points}</g><g class="pg-tick">{ticks}</g>'
            f'</svg>')


STYLE = (
    "<style>.mmhub-pg{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start;font-family:sans-serif;"
    "color:#333}.mmhub-pg .pg-head{font-size:12px;font-weight:600;fill:#555}.mmhub-pg .pg-sub{font-size:10px;"
    "fill:#888}.mmhub-pg .pg-feature{font-size:12px;fill:#333}.mmhub-pg .pg-tick{font-size:10px;fill:#777}"
    ".mmhub-pg .pg-stats{font-size:13px;line-height:1.5}.mmhub-pg .pg-epoch{font-size:26px;font-weight:300;"
    "letter-spacing:1px}.mmhub-pg .pg-train{color:#777}.mmhub-pg .pg-test{color:#000}"
    ".mmhub-pg svg{max-width:100%;height:auto}</style>"
)


def render_html(frame: Any, data: Any, options: RenderOptions | None = None, points: PointsCache | None = None
                ) -> str:
    """The whole picture of `frame` as one HTML fragment: the epoch, the network with every neuron's map and the
    weights, the losses (numbers and curves) and the output with the points. `points` reuses the points' SVG
    between frames of the same data."""
    options = options or RenderOptions()
    sprite, cell = _sprite(frame.neuron_maps, options.discretize)
    points_fragment = points.get(data, options.show_test) if points is not None else None
    accuracy = ""
    if frame.train_accuracy is not None:
        accuracy = (f'<span class="pg-test">{options.t("test_accuracy")} {frame.test_accuracy:.1%}</span> · '
                    f'<span class="pg-train">{options.t("train_accuracy")} {frame.train_accuracy:.1%}</span>')
    stats = (f'<div class="pg-stats"><div>{options.t("epoch")} <span class="pg-epoch" id="{options.prefix}-epoch">'
             f'{epoch_text(frame.epoch)}</span></div>'
             f'<div><span class="pg-test">{options.t("test_loss")} <b id="{options.prefix}-test-loss">'
             f'{frame.test_loss:.3f}</b></span> · <span class="pg-train">{options.t("train_loss")} '
             f'<b id="{options.prefix}-train-loss">{frame.train_loss:.3f}</b></span></div>'
             f'<div>{accuracy}</div></div>')
    return (f'{STYLE}<div class="mmhub-pg" data-epoch="{frame.epoch}">'
            f'<div>{network_svg(frame, options, sprite, cell)}</div>'
            f'<div>{stats}{_curve_svg(frame.history)}<br>{surface_svg(frame, data, options, points_fragment)}</div>'
            f'</div>')
