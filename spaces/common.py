"""What every Space shares: the bounded model cache, error translation, the PL/EN strings and the tiny banner.

Space modules import this relatively (``from .common import ...``) so that `python -m spaces export` can copy
them into a Space folder under another package name (a folder named ``spaces`` would shadow Hugging Face's
ZeroGPU package, which gradio imports).
"""

from __future__ import annotations

import collections
import contextvars
import functools
import gc
import inspect
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from pipelines import TASKS, InputError, ModelLoadError, load

logger = logging.getLogger(__name__)

LANGUAGES = ("en", "pl")

# UI strings: English and Polish. A Space may add its own keys with `Context.t(key)`; missing Polish falls back.
STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "tiny_banner": "⚠️ **Tiny random models** (`--models tiny`): the app runs offline and every output is "
                       "**noise**. Start without `--models tiny` to use the real models.",
        "loading": "Loading model {model}…",
        "loaded": "Model {model} loaded.",
        "model": "Model",
        "model_info": "Default model, the registry's alternatives, or type any Hub id or local folder.",
        "non_commercial": "not for commercial use",
        "not_available": "The {task} pipeline is not installed in this copy of mmhub yet.",
        "run": "Run",
        "seed": "Seed (empty = random)",
        "seed_used": "Seed used",
        "settings": "Settings",
        "examples": "Examples",
    },
    "pl": {
        "tiny_banner": "⚠️ **Małe losowe modele** (`--models tiny`): aplikacja działa offline, a każdy wynik to "
                       "**szum**. Uruchom bez `--models tiny`, aby użyć prawdziwych modeli.",
        "loading": "Wczytywanie modelu {model}…",
        "loaded": "Model {model} wczytany.",
        "model": "Model",
        "model_info": "Model domyślny, alternatywy z rejestru albo dowolny identyfikator z Hub lub folder lokalny.",
        "non_commercial": "nie do użytku komercyjnego",
        "not_available": "Potok {task} nie jest jeszcze zainstalowany w tej kopii mmhub.",
        "run": "Uruchom",
        "seed": "Ziarno (puste = losowe)",
        "seed_used": "Użyte ziarno",
        "settings": "Ustawienia",
        "examples": "Przykłady",
    },
}


#: Tab groups of the app: a Space with ``group=<key>`` becomes a sub-tab of that group's tab, which sits where
#: its first member (by `SpaceSpec.order`) would. The lecture's look inside a network: the digit CNN with its
#: layers, activation maximisation, Deep Dream, autoencoders, GANs.
GROUPS: dict[str, dict[str, str]] = {
    "inside": {"en": "Inside a network", "pl": "Wnętrze sieci", "emoji": "🔬"},
}


# -- the model cache -------------------------------------------------------------------------------------------


def model_bytes(obj: Any, _depth: int = 0) -> int:
    """Bytes of the torch weights an object holds (its modules, a diffusers pipeline's components, one level down)."""
    import torch

    if isinstance(obj, torch.nn.Module):
        tensors = list(obj.parameters()) + list(obj.buffers())
        return sum(t.numel() * t.element_size() for t in tensors)
    if _depth >= 2:
        return 0
    values = obj.values() if isinstance(obj, dict) else getattr(obj, "__dict__", {}).values()
    seen: set[int] = set()
    total = 0
    for value in values:
        if id(value) not in seen and not isinstance(value, (str, bytes, int, float)):
            seen.add(id(value))
            total += model_bytes(value, _depth + 1)
    return total


class ModelCache:
    """Loaded pipelines, least recently used first out, bounded by count and by the bytes of their weights.

    One model at most is loaded at a time per (task, model) key; two tabs asking for the same model share it.
    """

    def __init__(self, max_models: int = 2, max_bytes: int | None = None,
                 loader: Callable[..., Any] = load):
        if max_models < 1:
            raise InputError("max_models", max_models, "an integer >= 1")
        if max_bytes is None:
            import psutil

            max_bytes = psutil.virtual_memory().total // 2
        self.max_models, self.max_bytes, self._loader = max_models, max_bytes, loader
        self._items: collections.OrderedDict[tuple[str, str], tuple[Any, int]] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, str], threading.Lock] = collections.defaultdict(threading.Lock)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self._items.values())

    def get(self, task: str, model: str, on_load: Callable[[], None] | None = None) -> Any:
        """The pipeline for `(task, model)`, loading it (and calling `on_load` first) when it is not cached."""
        key = (task, model)
        with self._key_locks[key]:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key][0]
                self._evict(room_for=1)
            if on_load is not None:
                on_load()
            logger.info("loading %s model %s", task, model)
            pipeline = self._loader(task, model=model)
            size = model_bytes(pipeline)
            with self._lock:
                self._items[key] = (pipeline, size)
                self._evict(room_for=0)
            return pipeline

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
        _release_memory()

    def discard(self, task: str, model: str) -> None:
        """Forget `(task, model)` (e.g. a locally trained model that was just retrained), if cached."""
        with self._lock:
            self._items.pop((task, model), None)

    def _evict(self, room_for: int) -> None:
        evicted = False
        while self._items and (len(self._items) + room_for > self.max_models
                               or (len(self._items) > 1 and self.total_bytes > self.max_bytes)):
            key, (_, size) = self._items.popitem(last=False)
            logger.info("evicting %s model %s (%.1f MB)", key[0], key[1], size / 2**20)
            evicted = True
        if evicted:
            _release_memory()


def _release_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


# -- a Space and the context it builds with ----------------------------------------------------------------------


@dataclass(frozen=True)
class SpaceSpec:
    """One Space: its module name, tab titles, the registry tasks it serves and how to build its UI.

    `build(ctx)` creates the components inside the current Blocks (a tab, or a standalone app). Every event
    of the Space shares one queue slot group: ``concurrency_id=name`` with `concurrency_limit` workers (heavy
    tabs 1: one request at a time). `requirements` are the pip names an exported Space folder installs.
    `group` (a key of `GROUPS`) puts the tab inside that group's tab in the app (a Space alone or exported is not
    affected); `packages` are repository packages besides ``pipelines`` that an exported Space needs (e.g.
    ``finetune`` for a "train it now" button).
    """

    name: str
    title: dict[str, str]
    tasks: tuple[str, ...]
    build: Callable[[Context], None]
    concurrency_limit: int = 1
    requirements: tuple[str, ...] = ("torch", "transformers", "safetensors", "huggingface-hub", "numpy")
    emoji: str = "🤗"
    description: str = ""
    order: int = 100
    group: str | None = None
    packages: tuple[str, ...] = ()

    @property
    def queue(self) -> dict[str, Any]:
        """Keyword arguments for every event listener of this Space."""
        return {"concurrency_limit": self.concurrency_limit, "concurrency_id": self.name}



@dataclass
class Context:
    """What a Space's `build` needs: the UI language, the model set (None = real models, "tiny"), the cache."""

    lang: str = "en"
    models: str | None = None
    cache: ModelCache = field(default_factory=ModelCache)

    def __post_init__(self) -> None:
        if self.lang not in LANGUAGES:
            raise InputError("lang", self.lang, f"one of {list(LANGUAGES)}")
        if self.models not in (None, "tiny"):
            raise InputError("models", self.models, "'tiny' or None (the real models)")

    @property
    def tiny(self) -> bool:
        return self.models == "tiny"

    def t(self, key: str, texts: dict[str, dict[str, str]] | None = None, **values: Any) -> str:
        """The UI string `key` in this context's language (a Space's own `texts` first), formatted with `values`."""
        for table in (texts or {}, STRINGS):
            if key in table.get(self.lang, {}) or key in table.get("en", {}):
                text = table.get(self.lang, {}).get(key) or table["en"][key]
                return text.format(**values) if values else text
        raise KeyError(f"no UI string {key!r}")

    def default_model(self, task: str, tiny_variant: str = "tiny") -> str:
        return tiny_variant if self.tiny else TASKS[task].default.id

    def model_choices(self, task: str, tiny_variant: str = "tiny") -> list[tuple[str, str]]:
        """(label, value) pairs for the model dropdown: tiny variants when offline, then the registry's models."""
        spec = TASKS[task]
        choices = [(f"{v} (noise)", v) for v in spec.tiny_variants if self.tiny]
        if self.tiny:  # the chosen variant first
            choices.sort(key=lambda c: c[1] != tiny_variant)
        for info in spec.models:
            label = f"{info.id} · {info.note}" if info.note else info.id
            if not info.commercial_use:
                label += f" · ⚠ {self.t('non_commercial')}: {info.licence}"
            choices.append((label, info.id))
        return choices

    def model_dropdown(self, task: str, tiny_variant: str = "tiny") -> gr.Dropdown:
        """The model picker: default, alternatives, and a free field for any Hub id or local path."""
        return gr.Dropdown(self.model_choices(task, tiny_variant), value=self.default_model(task, tiny_variant),
                           label=self.t("model"), info=self.t("model_info"), allow_custom_value=True)

    def pipeline(self, task: str, model: str | None, progress: Any = None) -> Any:
        """The cached pipeline; a "loading model…" progress while it loads; load failures as `gr.Error`."""
        model = (model or "").strip() or self.default_model(task)

        def on_load() -> None:
            if progress is not None:
                progress(0, desc=self.t("loading", model=model))

        try:
            return self.cache.get(TASKS[task].name, model, on_load=on_load)
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith("pipelines"):
                raise gr.Error(self.t("not_available", task=task)) from err
            raise
        except KeyError as err:  # no tiny model for this task in this copy of pipelines/tiny.py
            if model.startswith("tiny"):
                raise gr.Error(self.t("not_available", task=task) + f" ({err.args[0] if err.args else err})") from err
            raise

    def banner(self) -> gr.Markdown | None:
        """The "tiny model: output is noise" banner, when the app runs tiny models."""
        return gr.Markdown(self.t("tiny_banner"), elem_classes=["mmhub-tiny-banner"]) if self.tiny else None


# -- handlers: errors and streaming ----------------------------------------------------------------------------------


def user_errors(fn: Callable) -> Callable:
    """Show `InputError` and `ModelLoadError` as `gr.Error` (the app keeps serving); works for generators too."""

    def translate(err: Exception) -> gr.Error:
        logger.info("%s: %s", type(err).__name__, err)
        return gr.Error(str(err), print_exception=False)

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except (InputError, ModelLoadError) as err:
                raise translate(err) from err

        return generator_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (InputError, ModelLoadError) as err:
            raise translate(err) from err

    return wrapper


_DONE = object()


def run_with_updates(fn: Callable[[Callable[..., Any]], Any]) -> Iterator[tuple[str, Any]]:
    """Run `fn(report)` in a thread; yield ``("update", args)`` for each `report(*args)`, then ``("result", r)``.

    For pipelines whose progress callback carries intermediate results (style transfer's images), so that a
    generator handler can show them while the work goes on. An exception in `fn` is raised here. The thread
    runs in a copy of the caller's context, so `gr.Progress` (which finds its event through context variables)
    still works from it.
    """
    updates: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}

    def report(*args: Any) -> None:
        updates.put(args)

    def work() -> None:
        try:
            outcome["result"] = fn(report)
        except BaseException as err:  # re-raised in the consumer's thread
            outcome["error"] = err
        finally:
            updates.put(_DONE)

    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(work,), daemon=True, name="mmhub-space-work")
    thread.start()
    while (item := updates.get()) is not _DONE:
        yield "update", item
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    yield "result", outcome["result"]


def step_progress(progress: gr.Progress, describe: Callable[[int, int, dict[str, Any]], str]):
    """A pipeline ``progress(step, total, info)`` callback that drives `progress` (a `gr.Progress`) with the text
    ``describe(step, total, info)``."""

    def report(step: int, total: int, info: dict[str, Any]) -> None:
        progress((step, total), desc=describe(step, total, info))

    return report


def parse_seed(value: Any) -> int | None:
    """A seed from a `gr.Number`: None / empty means random; anything else goes to the pipeline as an int."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def env_host() -> str:
    """The address to listen on: ``GRADIO_SERVER_NAME`` (set by Hugging Face Spaces), else loopback only."""
    return os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
