"""The tabbed app: every Space in this package as one tab (`python -m spaces`, what `make run` starts).

A Space is any module here that defines ``SPACE = SpaceSpec(...)``; adding one file adds one tab.

>>> from spaces.app import build_app, discover_spaces
>>> [s.name for s in discover_spaces()]
['text_generation', 'sentiment', 'image_generation', 'style_transfer', 'separation', 'voice_cloning', 'music', 'song',
 'video', 'playground', 'digit_recognition', 'activation_maximisation', 'deep_dream', 'autoencoder', 'gan',
 'leaderboard', 'metric_learning', 'reinforcement_learning']
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from pathlib import Path

import gradio as gr

from .common import Context, SpaceSpec
from .launcher import build_blocks
from .options import NOT_SPACES

logger = logging.getLogger(__name__)


def discover_spaces() -> list[SpaceSpec]:
    """The Spaces of this package in tab order: each module that defines ``SPACE``."""
    package = __name__.rpartition(".")[0]
    specs = []
    for module_info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module_info.name in NOT_SPACES or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{module_info.name}")
        spec = getattr(module, "SPACE", None)
        if isinstance(spec, SpaceSpec):
            specs.append(spec)
    return sorted(specs, key=lambda s: (s.order, s.name))


def space(name: str) -> SpaceSpec:
    """The Space called `name` (its module name; dashes allowed: ``text-generation``), or KeyError listing them."""
    key = name.replace("-", "_")
    specs = {s.name: s for s in discover_spaces()}
    by_task = {task.replace("-", "_"): s for s in specs.values() for task in s.tasks}
    found = specs.get(key) or by_task.get(key)
    if found is None:
        raise KeyError(f"no Space {name!r}; known: {', '.join(specs)}")
    return found


def build_app(ctx: Context | None = None) -> gr.Blocks:
    """All Spaces as tabs."""
    return build_blocks(discover_spaces(), ctx or Context(), title="mmhub")
