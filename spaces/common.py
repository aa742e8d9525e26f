"""What every Space shares: the bounded model cache, the model-field policy, input checks, error translation,
the PL/EN strings (with plural forms) and the tiny banner; the tab groups (`GROUPS`); and how a tab runs work:

- `run_controls` + `RunControls.click`: a Run button, a Stop button (disabled while nothing runs), one status line
  with the progress in words, a steady clock and an estimate of the time left; the handler gets a `Run`
  (``run.steps``, ``run.stream``, ``run.pipeline``, ``run.finish``) and yields its outputs (`KEEP`: only the status
  changed). Errors go to the status line in a person's words (`person_message`, `ERRORS`, `Refusal`); the API
  endpoint of the same name keeps the pipeline's own message.
- `seed_input` / `parse_seed` / `draw_seed`: −1 draws a new seed, shown with the result.
- `status_html` / `on_status_line`: the same status line and errors in words for a tab with controls of its own
  (the Playground's play / pause / step, the leaderboard's filters).
- `chart_frame`: a plot refreshed during a run that keeps every colour; `page_assets`: the css, head script and
  gradio i18n a page of the app needs (``launch(**page_assets(lang))`` or ``gr.mount_gradio_app(...,
  **page_assets(lang))``).

Space modules import this relatively (``from .common import ...``) so that `python -m spaces export` can copy
them into a Space folder under another package name (a folder named ``spaces`` would shadow Hugging Face's
ZeroGPU package, which gradio imports).
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import functools
import gc
import html
import inspect
import logging
import os
import queue
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
from gradio_client.exceptions import AppError

from pipelines import TASKS, TINY_NAMES, InputError, load, validate
from pipelines.errors import Cancelled, MmhubError, ModelLoadError

from .options import LANGUAGES

logger = logging.getLogger(__name__)

# UI strings: English and Polish. A Space may add its own keys with `Context.t(key)`; missing Polish falls back.
STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "tiny_banner": "⚠️ **Tiny stand-in models** (`--models tiny`): the app runs offline on small random "
                       "models, so the product tabs' outputs are **noise**; the Inside-a-network models are trained "
                       "briefly and show real (if rough) shapes. Start without `--models tiny` to use the real "
                       "models.",
        "loading": "Loading model {model}…",
        "loaded": "Model {model} loaded.",
        "model": "Model",
        "model_info": "Default model, the registry's alternatives, or type any Hub id or local folder.",
        "non_commercial": "not for commercial use",
        "not_available": "The {task} pipeline is not installed in this copy of mmhub yet.",
        "run": "Run",
        "seed": "Seed (−1 = random)",
        "seed_used": "Seed used",
        "settings": "Settings",
        "examples": "Examples",
        "local_models_off": "{model!r} is a local folder, and this server loads no local folders. Pick a model "
                            "from the list or type a Hub id (owner/name); the operator can allow folders with "
                            "--allow-local-models DIR.",
        "local_model_outside": "{model!r} is not inside a folder this server allows for local models (symlinks and "
                               "'..' resolved). Use a folder under an --allow-local-models directory, a model from "
                               "the list, or a Hub id (owner/name).",
        "bad_model_id": "{model!r} is not a model id: type a Hub id such as 'owner/name' ({reason}), or pick a "
                        "model from the list.",
        "unexpected": "Unexpected error in {where} ({error}). The app is still running and the details are in "
                      "the server log; please report it.",
        "stand_in": "stand-in",
        "waiting": "Waiting for its turn…",
        "starting": "Starting…",
        "working": "Working…",
        "stop": "Stop",
        "stopping": "Stopping…",
        "done": "Done in {elapsed}",
        "stopped": "Stopped after {elapsed}",
        "left": "about {} left",
        "seed_note": "seed {seed}",
        "error_title": "Error",
        "warning_title": "Warning",
        "info_title": "Note",
        "went_wrong": "Something went wrong ({error}). The app is still running, and the details are in the server "
                      "log: please report it.",
    },
    "pl": {
        "tiny_banner": "⚠️ **Małe modele zastępcze** (`--models tiny`): aplikacja działa offline na małych losowych "
                       "modelach, więc wyniki zakładek produktowych to **szum**; modele z grupy „Wnętrze sieci” są "
                       "krótko wytrenowane i pokazują prawdziwe (choć zgrubne) kształty. Uruchom bez "
                       "`--models tiny`, aby użyć prawdziwych modeli.",
        "loading": "Wczytywanie modelu {model}…",
        "loaded": "Model {model} wczytany.",
        "model": "Model",
        "model_info": "Model domyślny, alternatywy z rejestru albo dowolny identyfikator z Hub lub folder lokalny.",
        "non_commercial": "nie do użytku komercyjnego",
        "not_available": "Potok {task} nie jest jeszcze zainstalowany w tej kopii mmhub.",
        "run": "Uruchom",
        "seed": "Ziarno (−1 = losowe)",
        "seed_used": "Użyte ziarno",
        "settings": "Ustawienia",
        "examples": "Przykłady",
        "local_models_off": "{model!r} to folder lokalny, a ten serwer nie wczytuje folderów lokalnych. Wybierz model "
                            "z listy albo wpisz identyfikator z Hub (właściciel/nazwa); operator może zezwolić na "
                            "foldery opcją --allow-local-models DIR.",
        "local_model_outside": "{model!r} nie leży w folderze, z którego ten serwer wczytuje modele lokalne (po "
                               "rozwinięciu dowiązań i '..'). Użyj folderu w katalogu z --allow-local-models, modelu "
                               "z listy albo identyfikatora z Hub (właściciel/nazwa).",
        "bad_model_id": "{model!r} nie jest identyfikatorem modelu: wpisz identyfikator z Hub, np. 'właściciel/nazwa' "
                        "({reason}), albo wybierz model z listy.",
        "unexpected": "Nieoczekiwany błąd w {where} ({error}). Aplikacja działa dalej, szczegóły są w logu serwera; "
                      "prosimy o zgłoszenie.",
        "stand_in": "model zastępczy",
        "waiting": "Czeka na swoją kolej…",
        "starting": "Rozpoczynanie…",
        "working": "Praca trwa…",
        "stop": "Zatrzymaj",
        "stopping": "Zatrzymywanie…",
        "done": "Gotowe w {elapsed}",
        "stopped": "Zatrzymano po {elapsed}",
        "left": "jeszcze ok. {}",
        "seed_note": "ziarno {seed}",
        "error_title": "Błąd",
        "warning_title": "Uwaga",
        "info_title": "Informacja",
        "went_wrong": "Coś poszło nie tak ({error}). Aplikacja działa dalej, a szczegóły są w logu serwera: prosimy o "
                      "zgłoszenie.",
    },
}


#: Tab groups of the app: a Space with ``group=<key>`` becomes a sub-tab of that group's tab, which sits where
#: its first member (by `SpaceSpec.order`) would. The lecture's look inside a network: the digit CNN with its
#: layers, activation maximisation, Deep Dream, autoencoders, GANs.
GROUPS: dict[str, dict[str, str]] = {
    "inside": {"en": "Inside a network", "pl": "Wnętrze sieci", "emoji": "🔬"},
    # The product tabs by medium, so that a phone (400 px) shows every group instead of hiding 7 of 9 tabs behind
    # gradio's "…" menu. A new Space picks one (``SpaceSpec(group="audio")``) or adds its own here.
    "text": {"en": "Text", "pl": "Tekst", "emoji": "✍️"},
    "images": {"en": "Images", "pl": "Obrazy", "emoji": "🎨"},
    "audio": {"en": "Audio", "pl": "Dźwięk", "emoji": "🔊"},
    "video": {"en": "Video", "pl": "Wideo", "emoji": "🎬"},
    # the lecture's four basic tasks of AI: classification and regression (the Playground), clustering, RL
    "basics": {"en": "Basics", "pl": "Podstawy", "emoji": "🧭"},
}


# -- plural forms ----------------------------------------------------------------------------------------------


def plural_index(lang: str, count: int) -> int:
    """Which plural form `count` takes: English 0 (one) or 1 (other); Polish 0 (one: 1), 1 (few: 2-4, 22-24, ...,
    not 12-14) or 2 (many: 0, 5-21, 25-31, ...), as CLDR's plural rules for Polish say."""
    count = abs(int(count))
    if lang == "pl":
        if count == 1:
            return 0
        return 1 if count % 10 in (2, 3, 4) and count % 100 not in (12, 13, 14) else 2
    return 0 if count == 1 else 1


def plural(lang: str, count: int, forms: Sequence[str]) -> str:
    """The form of `forms` for `count` in `lang` (`plural_index`; the last form when fewer forms are given).

    >>> [plural("pl", n, ["wiadomość", "wiadomości", "wiadomości"]) for n in (1, 2, 5, 22)]
    ['wiadomość', 'wiadomości', 'wiadomości', 'wiadomości']
    >>> plural("pl", 5, ["najstarszą", "najstarsze", "najstarszych"]), plural("en", 1, ["message", "messages"])
    ('najstarszych', 'message')
    """
    return forms[min(plural_index(lang, count), len(forms) - 1)]


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


#: Held while a model loads. Two `from_pretrained` calls in two threads at once break each other in transformers 5
#: (measured: tiny MusicGen and ACE-Step loaded together fail with "Cannot copy out of meta tensor" or a missing
#: lazy attribute); the API's job workers, its requests and the tabs load through this cache concurrently.
_LOADING = threading.Lock()


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

    def peek(self, task: str, model: str) -> Any | None:
        """The cached pipeline for `(task, model)`, or None; never loads and does not count as a use."""
        item = self._items.get((task, model))
        return item[0] if item is not None else None

    def loaded(self) -> list[tuple[str, str, int]]:
        """``(task, model, bytes of weights)`` of each loaded pipeline, least recently used first."""
        with self._lock:
            return [(task, model, size) for (task, model), (_, size) in self._items.items()]

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
            with _LOADING:  # one load at a time: transformers' loading is not thread-safe (two at once: meta tensors)
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
    """What a Space's `build` needs: the UI language, the model set (None = real models, "tiny"), the cache, and
    the directories under which the model field may load local folders (``--allow-local-models``; none by default).
    """

    lang: str = "en"
    models: str | None = None
    cache: ModelCache = field(default_factory=ModelCache)
    local_model_dirs: Sequence[str | os.PathLike] = ()
    llm: Any = None  # an `llm_endpoint.LLMEndpoint`: the Chat tab's model runs on that server
    # Folders the app itself writes models into (the GAN trained live with tiny models): the model field takes
    # exactly these, whatever `local_model_dirs` says; no other path is opened by them.
    own_models: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.lang not in LANGUAGES:
            raise InputError("lang", self.lang, f"one of {list(LANGUAGES)}")
        if self.models not in (None, "tiny"):
            raise InputError("models", self.models, "'tiny' or None (the real models)")
        dirs = []
        for folder in self.local_model_dirs:
            path = Path(folder).expanduser()
            if not path.is_dir():
                raise InputError("local_model_dirs", str(folder), "existing directories")
            dirs.append(path.resolve())
        self.local_model_dirs = tuple(dirs)

    @property
    def tiny(self) -> bool:
        return self.models == "tiny"

    def own_model(self, folder: str | os.PathLike) -> str:
        """Let the model field load `folder`, a model this app writes itself (exactly that path); returns it."""
        name = str(folder)
        self.own_models.add(name)
        return name

    def t(self, key: str, texts: dict[str, dict[str, str]] | None = None, **values: Any) -> str:
        """The UI string `key` in this context's language (a Space's own `texts` first), formatted with `values`.

        With a ``count`` value, a string written as plural forms separated by ``|`` gives the form for that count
        (`plural`): English ``"one|other"``, Polish ``"one|few|many"``.
        """
        for table in (texts or {}, STRINGS):
            if key in table.get(self.lang, {}) or key in table.get("en", {}):
                lang = self.lang if key in table.get(self.lang, {}) else "en"
                text = table[lang][key]
                if "count" in values:
                    text = plural(lang, values["count"], text.split("|"))
                return text.format(**values) if values else text
        raise KeyError(f"no UI string {key!r}")

    def default_model(self, task: str, tiny_variant: str = "tiny") -> str:
        if self.llm is not None and task == "text-generation":
            return self.llm.model or ""  # "": the server's only model
        return tiny_variant if self.tiny else TASKS[task].default.id

    def model_choices(self, task: str, tiny_variant: str = "tiny") -> list[tuple[str, str]]:
        """(label, value) pairs for the model dropdown: tiny variants when offline, then the registry's models."""
        if self.llm is not None and task == "text-generation":
            return [(self.llm.label(), self.llm.model or "")]
        spec = TASKS[task]
        choices = [(f"{v} ({self.t('stand_in')})", v) for v in spec.tiny_variants if self.tiny]
        if self.tiny:  # the chosen variant first
            choices.sort(key=lambda c: c[1] != tiny_variant)
        for info in spec.models:
            label = f"{info.id} · {info.note}" if info.note else info.id
            if not info.commercial_use:
                label += f" · ⚠ {self.t('non_commercial')}: {info.licence}"
            choices.append((label, info.id))
        return choices

    def model_dropdown(self, task: str, tiny_variant: str = "tiny", **kwargs: Any) -> gr.Dropdown:
        """The model picker: default, alternatives, and a free field for a Hub id (or an allowed local folder);
        `kwargs` go to `gr.Dropdown` (``elem_id``...)."""
        return gr.Dropdown(self.model_choices(task, tiny_variant), value=self.default_model(task, tiny_variant),
                           label=self.t("model"), info=self.t("model_info"), allow_custom_value=True, **kwargs)

    def check_model(self, task: str, model: Any, tiny_variant: str = "tiny") -> str:
        """What the model field may load for `task`, or `gr.Error` / `InputError` saying why not.

        Empty means the default; a reserved tiny name or one of the registry's models is taken as it is; a local
        path (or a name that exists as a folder here) only when it lies under one of `local_model_dirs` once
        symlinks and ``..`` are resolved (the resolved path is returned); anything else must be a well-formed Hub
        id, which the loader then finds or refuses (`ModelLoadError`: not found, offline, wrong task).
        """
        if model is None or isinstance(model, str) and not model.strip():
            return self.default_model(task, tiny_variant)
        name = validate.text("model", model).strip()
        if name in TINY_NAMES or TASKS[task].model_info(name) is not None or name in self.own_models:
            return name
        if self.llm is not None and task == "text-generation":
            return name  # a name the LLM server knows (or refuses): nothing of this machine is loaded
        return self.check_source(name)

    def check_source(self, name: str) -> str:
        """A local folder under one of `local_model_dirs` (returned resolved), or a well-formed Hub id; else
        `gr.Error` saying why not. For the model field and for any other field naming weights (a LoRA)."""
        from pipelines.base import is_local_path

        shown = name if len(name) <= 80 else name[:77] + "..."
        expanded = os.path.expanduser(name)
        if "\x00" not in name and (is_local_path(name) or os.path.lexists(expanded)):
            try:
                resolved = Path(expanded).resolve()
            except (OSError, RuntimeError):  # a symlink loop, an unreadable parent
                resolved = None
            if resolved is not None and any(resolved.is_relative_to(folder) for folder in self.local_model_dirs):
                return str(resolved)
            logger.warning("refused local model path %r (resolves to %s)", name, resolved)
            raise gr.Error(self.t("local_model_outside" if self.local_model_dirs else "local_models_off",
                                  model=shown), print_exception=False)
        from huggingface_hub.errors import HFValidationError
        from huggingface_hub.utils import validate_repo_id

        try:
            validate_repo_id(name)
        except HFValidationError as err:
            reason = re.split(r"\.\s|:\s'", str(err))[0]  # the rule, without the echo of the id
            raise gr.Error(self.t("bad_model_id", model=shown, reason=reason), print_exception=False) from None
        return name

    def pipeline(self, task: str, model: Any, progress: Any = None, tiny_variant: str = "tiny") -> Any:
        """The cached pipeline; a "loading model…" progress while it loads; refusals and load failures as `gr.Error`
        (raised from `check_model`, or `ModelLoadError` for `user_errors` to show)."""
        model = self.check_model(task, model, tiny_variant)

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
            if model in TINY_NAMES:
                raise gr.Error(self.t("not_available", task=task) + f" ({err.args[0] if err.args else err})") from err
            raise

    def banner(self) -> gr.Markdown | None:
        """The "tiny model: output is noise" banner, when the app runs tiny models."""
        return gr.Markdown(self.t("tiny_banner"), elem_classes=["mmhub-tiny-banner"]) if self.tiny else None


# -- input checks for handlers -------------------------------------------------------------------------------------


def require(value: Any, argument: str, allowed: str) -> Any:
    """`value` unless it is missing (None, or blank text): then `InputError(argument, ...)` saying what is needed."""
    if value is None or isinstance(value, str) and not value.strip():
        raise InputError(argument, value, allowed)
    return value


def whole(argument: str, value: Any, low: int, high: int) -> int:
    """An integer from a slider or number box: ``20.0`` is 20; NaN, 2.5, text, bool or out of range: `InputError`."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return validate.integer(argument, value, low=low, high=high)


def number(argument: str, value: Any, low: float, high: float, low_open: bool = False) -> float:
    """A finite float in ``[low, high]`` from a slider (`pipelines.validate.number`)."""
    return validate.number(argument, value, low=low, high=high, low_open=low_open)


#: The Seed field's "draw a new one" value (as in most diffusion UIs): the field shows it instead of a seed, and a
#: fresh seed is drawn for every run (the tab then shows the seed used, so a good result can be made again).
RANDOM_SEED = -1


def seed_input(ctx: Context, **kwargs: Any) -> gr.Number:
    """The Seed field of every seeded tab: −1 (the default) is random, any other value from 0 up repeats a run.

    A `gr.Number` left empty is sent as 0 by the browser, so "empty = random" could not work: −1 is explicit.
    Neither ``precision`` nor ``minimum`` is set: gradio would round 1.5 silently and refuse −2 in its own words;
    `parse_seed` refuses both, naming the seed (and the tab's status line says it in a person's words).
    """
    return gr.Number(RANDOM_SEED, label=ctx.t("seed"), step=1, **kwargs)


def parse_seed(value: Any) -> int | None:
    """A seed from a `gr.Number`: −1, None or empty mean random (None); else an integer from 0 to 2**63 - 1
    (`InputError` otherwise)."""
    if value is None or value == "" or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                        and value == RANDOM_SEED):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return validate.integer("seed", value, low=0, high=validate.SEED_MAX, hint=f"{RANDOM_SEED} draws a random seed.")


def draw_seed(value: Any) -> int:
    """The seed a run uses: the field's value, or a fresh random one for −1 / None / empty (`parse_seed`).

    Drawn here rather than in the pipeline when the tab shows the seed but the pipeline does not report it (a
    streamed chat reply): the number shown is the number used.

    >>> draw_seed(7), 0 <= draw_seed(-1) < 2**31
    (7, True)
    """
    return validate.seed(parse_seed(value))


def read_image(value: Any, argument: str) -> Any:
    """An uploaded image (`image_input` gives a PIL image, or the path of a file gradio could not read) as an RGB
    PIL image; missing, corrupt, too large or not an image: `InputError` naming `argument`."""
    from pipelines.images import load_image

    require(value, argument, "an image (upload one)")
    return load_image(value, argument)


def image_input(**kwargs: Any) -> gr.Image:
    """A `gr.Image` whose unreadable upload (corrupt, or not an image) reaches the handler as its file path, so that
    the handler's check (`read_image`) names the problem; gradio's own preprocessing would fail first, with its
    generic "Error".

    The instance's `preprocess` is wrapped rather than subclassed: gradio writes a ``.pyi`` stub beside any module
    that defines a component subclass (``gradio.component_meta.create_or_modify_pyi``).
    """
    image = gr.Image(**kwargs)
    preprocess = image.preprocess

    def lenient_preprocess(payload: Any) -> Any:
        try:
            return preprocess(payload)
        except gr.Error:
            raise
        except Exception as err:  # noqa: BLE001 - any decoder failure: the handler reports it
            logger.info("image upload not decoded by gradio (%s: %s); the handler checks it", type(err).__name__, err)
            return str(payload.path) if getattr(payload, "path", None) else None

    image.preprocess = lenient_preprocess  # type: ignore[method-assign]
    return image


# -- handlers: errors and streaming ----------------------------------------------------------------------------------


def _short(err: BaseException, limit: int = 200) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    text = f"{type(err).__name__}: {text}" if not text.startswith(type(err).__name__) else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unexpected_error(where: str, err: BaseException) -> gr.Error:
    """The `gr.Error` shown for a bug or a library failure: a short reason, the traceback in the server log."""
    logger.error("unexpected error in %s", where, exc_info=err)
    return gr.Error(STRINGS["en"]["unexpected"].format(where=where, error=_short(err)), print_exception=False)


def user_errors(fn: Callable) -> Callable:
    """Every failure of a handler as a `gr.Error` with a specific message; the app keeps serving.

    `InputError`, `ModelLoadError` (and other mmhub errors) show their own message; a `gr.Error` passes through;
    anything else is a bug or a library failure: logged with its traceback, shown as "Unexpected error in ...".
    Works for generator handlers too.
    """
    where = fn.__name__.replace("_", " ")

    def translate(err: Exception) -> gr.Error:
        if isinstance(err, gr.Error):
            return err
        if isinstance(err, MmhubError):
            logger.info("%s: %s", type(err).__name__, err)
            return gr.Error(str(err), print_exception=False)
        return unexpected_error(where, err)

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except Exception as err:
                raise translate(err) from err

        return generator_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            raise translate(err) from err

    return wrapper


# What each input component accepts, for the message of a value gradio could not preprocess.
_EXPECTED = {"number": "a number", "slider": "a number in the slider's range", "checkbox": "true or false",
             "textbox": "text", "dropdown": "one of the listed choices", "image": "an uploaded image file",
             "audio": "an uploaded audio file", "file": "an uploaded file", "chatbot": "a chat history"}


def input_error_message(blocks: Sequence[Any], values: Sequence[Any], err: BaseException) -> str:
    """A short message naming the input (by its label) whose value gradio could not preprocess."""
    if len(values) < len(blocks):
        return f"The request has {len(values)} input values; this endpoint takes {len(blocks)}."
    match = re.search(r"component at index (\d+)", str(err))  # gradio's ComponentProcessingError names it so
    index = int(match.group(1)) if match else None
    if index is None:  # a FileData / ImageData payload that does not validate
        for i, (block, value) in enumerate(zip(blocks, values, strict=False)):
            data_model = getattr(block, "data_model", None)
            if data_model is not None and value is not None:
                try:
                    data_model.model_validate(value)
                except Exception:  # noqa: BLE001 - only looking for the culprit
                    index = i
                    break
    cause = err.__cause__ or err
    if index is None or index >= len(blocks):
        return f"Invalid input: {_short(cause)}"
    block = blocks[index]
    kind = block.get_block_name()
    label = str(getattr(block, "label", None) or kind)
    value = repr(values[index])
    value = value if len(value) <= 80 else value[:77] + "..."
    return (f"Invalid value for '{label}': got {value}; expected {_EXPECTED.get(kind, 'a valid value')} "
            f"({_short(cause, 120)}).")


class SpaceBlocks(gr.Blocks):
    """`gr.Blocks` that never answers with gradio's generic "Error" (shown when ``show_error`` is off, the default):

    - a value gradio cannot preprocess (a text for a number, NaN for an integer box, a malformed file payload) is
      refused with a message naming the input (`input_error_message`);
    - an exception anywhere in an event function, gradio's own wrappers included (ChatInterface's), is logged with
      its traceback and shown as "Unexpected error in ..." (`unexpected_error`).

    `gr.Error` (and gradio's other `AppError` messages) pass through unchanged.
    """

    async def preprocess_data(self, block_fn: Any, inputs: list[Any], state: Any, explicit_call: bool = False) -> Any:
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except AppError:
            raise
        except Exception as err:  # noqa: BLE001 - every preprocessing failure becomes a message
            message = input_error_message(block_fn.inputs, inputs, err)
            logger.info("refused a request to %s: %s", block_fn.name, message)
            raise gr.Error(message, print_exception=False) from err

    async def call_function(self, block_fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().call_function(block_fn, *args, **kwargs)
        except AppError:
            raise
        except Exception as err:  # noqa: BLE001 - shown as a clear message, traceback in the log
            fn = self.fns[block_fn] if isinstance(block_fn, int) else block_fn
            raise unexpected_error(getattr(fn, "api_name", None) or getattr(fn, "name", None) or "a request",
                                   err) from err


def refuse_missing(component: Any, argument: str, allowed: str) -> Any:
    """Make `component` refuse a missing value (None) as `InputError(argument)` before any event function runs.

    For inputs that gradio's own wrappers touch before the handler (the ChatInterface message), so that an API call
    without a message gets the message's error rather than a crash in the wrapper. The instance's `preprocess` is
    wrapped (see `image_input` for why not a subclass).
    """
    preprocess = component.preprocess

    def checked_preprocess(payload: Any) -> Any:
        if payload is None:
            raise gr.Error(str(InputError(argument, None, allowed)), print_exception=False)
        return preprocess(payload)

    component.preprocess = checked_preprocess
    return component


_DONE = object()


@contextlib.contextmanager
def request_folder(prefix: str) -> Iterator[Path]:
    """A temporary folder for the files one request hands to gradio (a preview WAV, a GIF, an MP4), removed when
    the request's handler ends.

    Use it in a generator handler, around its yields: gradio copies every file an output names into its own cache
    (``processing_utils.save_file_to_cache``) before it resumes the generator, so the folder may go once the
    generator finishes (or is closed: a cancelled request), and the copies in gradio's cache are the outputs.
    Without it every request left its files in the system's temporary folder for good.
    """
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_with_updates(fn: Callable[[Callable[..., Any], threading.Event], Any],
                     stop: threading.Event | None = None) -> Iterator[tuple[str, Any]]:
    """Run `fn(report, stop)` in a thread; yield ``("update", args)`` for each `report(*args)`, then ``("result", r)``.

    For pipelines whose progress callback carries intermediate results (style transfer's images), so that a
    generator handler can show them while the work goes on. An exception in `fn` is raised here. The thread
    runs in a copy of the caller's context, so `gr.Progress` (which finds its event through context variables)
    still works from it.

    `stop` is set when this generator ends for any reason, in particular when it is closed before the result
    (gradio closes a handler's generator when the client cancels or disconnects): `fn`'s progress callback returns
    ``not stop.is_set()``, so that the pipeline stops at its next step instead of running on for nobody. A `stop`
    event may be given (a tab's Stop button sets it: `Run.stop_event`); one is made otherwise.
    """
    updates: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}
    stop = stop if stop is not None else threading.Event()

    def report(*args: Any) -> None:
        if not stop.is_set():  # nobody reads the queue any more
            updates.put(args)

    def work() -> None:
        try:
            outcome["result"] = fn(report, stop)
        except BaseException as err:  # re-raised in the consumer's thread
            outcome["error"] = err
        finally:
            updates.put(_DONE)

    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(work,), daemon=True, name="mmhub-space-work")
    thread.start()
    try:
        while (item := updates.get()) is not _DONE:
            yield "update", item
        thread.join()
    except BaseException:
        stop.set()  # closed early (cancel, disconnect: GeneratorExit) or failed: the worker stops at its next report
        raise
    if "error" in outcome:
        raise outcome["error"]
    yield "result", outcome["result"]


def step_progress(progress: gr.Progress, describe: Callable[[int, int, dict[str, Any]], str]):
    """A pipeline ``progress(step, total, info)`` callback that drives `progress` (a `gr.Progress`) with the text
    ``describe(step, total, info)``."""

    def report(step: int, total: int, info: dict[str, Any]) -> None:
        progress((step, total), desc=describe(step, total, info))

    return report


# -- a person's words for a refused request ------------------------------------------------------------------------

#: Messages for refused inputs, in a person's words, by `InputError.argument`: ``<argument>:missing`` when the value
#: is missing or blank, else ``<argument>``. A Space passes its own table of the same shape to `run_controls`
#: (``errors=``; its keys win), and may add keys of its own for `Refusal`. ``{label}`` is the input's label.
ERRORS: dict[str, dict[str, str]] = {
    "en": {
        "image:missing": "Upload a picture first.",
        "image": "This file is not a picture that can be read: upload a PNG, JPEG or WebP file (at least 8 pixels "
                 "on a side).",
        "content:missing": "Upload a content picture first (the photo to repaint).",
        "content": "The content picture could not be read: upload a PNG, JPEG or WebP file.",
        "style:missing": "Upload a style picture first (the painting whose style to copy).",
        "style": "The style picture could not be read: upload a PNG, JPEG or WebP file.",
        "audio:missing": "Upload or record some music first.",
        "audio": "This file could not be used: upload a WAV, FLAC, MP3 or OGG file with sound in it.",
        "reference:missing": "Record or upload a reference voice first (3 to 30 seconds of speech).",
        "reference": "The reference voice could not be used: it needs 3 to 30 seconds of clear speech (WAV, FLAC, "
                     "MP3 or OGG).",
        "speech:missing": "Record or upload the speech to re-voice first.",
        "speech": "The speech could not be used: upload 1 to 60 seconds of speech (WAV, FLAC, MP3 or OGG).",
        "melody": "The melody could not be used: upload a WAV, FLAC, MP3 or OGG file, and pick a melody model "
                  "(facebook/musicgen-melody) to follow it.",
        "text:missing": "Type some text first.",
        "prompt:missing": "Describe what you want first.",
        "message:missing": "Write a message first.",
        "seed": "Seed: type −1 for a random one, or a whole number from 0 up.",
        "language": "Pick a language from the list (type a name or a code to search).",
        "model": "Pick a model from the list, or type a Hub id such as owner/name.",
        "invalid": "“{label}” must be {allowed}.",
        "invalid_unknown": "“{label}”: this value cannot be used.",
        "model_not_found": "There is no model “{model}” on the Hugging Face Hub or in the folders this app may "
                           "read: pick one from the list.",
        "model_offline": "“{model}” is not downloaded yet and the Hugging Face Hub cannot be reached from here: pick "
                         "a model that is already downloaded.",
        "model_wrong_task": "“{model}” is a model for another task: pick one from the list.",
        "model_missing_dependency": "“{model}” needs a Python package this server does not have ({detail}).",
        "model_incompatible": "“{model}” loaded, but not in a form this tab can use: pick one from the list.",
        "model_unauthorized": "The model server refused the API key for “{model}”.",
    },
    "pl": {
        "image:missing": "Najpierw wgraj obrazek.",
        "image": "Tego pliku nie da się odczytać jako obrazka: wgraj plik PNG, JPEG lub WebP (co najmniej 8 pikseli "
                 "na bok).",
        "content:missing": "Najpierw wgraj obraz treści (zdjęcie do przemalowania).",
        "content": "Nie da się odczytać obrazu treści: wgraj plik PNG, JPEG lub WebP.",
        "style:missing": "Najpierw wgraj obraz stylu (obraz, którego styl ma zostać przeniesiony).",
        "style": "Nie da się odczytać obrazu stylu: wgraj plik PNG, JPEG lub WebP.",
        "audio:missing": "Najpierw wgraj lub nagraj muzykę.",
        "audio": "Tego pliku nie da się użyć: wgraj plik WAV, FLAC, MP3 lub OGG, w którym słychać dźwięk.",
        "reference:missing": "Najpierw nagraj lub wgraj głos wzorcowy (od 3 do 30 sekund mowy).",
        "reference": "Nie da się użyć głosu wzorcowego: potrzeba od 3 do 30 sekund wyraźnej mowy (WAV, FLAC, MP3 "
                     "lub OGG).",
        "speech:missing": "Najpierw nagraj lub wgraj nagranie do przegłosowania.",
        "speech": "Nie da się użyć nagrania: wgraj od 1 do 60 sekund mowy (WAV, FLAC, MP3 lub OGG).",
        "melody": "Nie da się użyć melodii: wgraj plik WAV, FLAC, MP3 lub OGG i wybierz model z melodią "
                  "(facebook/musicgen-melody).",
        "text:missing": "Najpierw wpisz tekst.",
        "prompt:missing": "Najpierw opisz, czego chcesz.",
        "message:missing": "Najpierw napisz wiadomość.",
        "seed": "Ziarno: wpisz −1, aby losować, albo liczbę całkowitą od 0 wzwyż.",
        "language": "Wybierz język z listy (wpisz nazwę lub kod, aby wyszukać).",
        "model": "Wybierz model z listy albo wpisz identyfikator z Hub, np. właściciel/nazwa.",
        "invalid": "„{label}”: dozwolone: {allowed}.",
        "invalid_unknown": "„{label}”: tej wartości nie można użyć.",
        "model_not_found": "Nie ma modelu „{model}” na Hugging Face Hub ani w folderach, które ta aplikacja może "
                           "czytać: wybierz model z listy.",
        "model_offline": "Model „{model}” nie jest jeszcze pobrany, a Hugging Face Hub jest stąd niedostępny: wybierz "
                         "model, który jest już pobrany.",
        "model_wrong_task": "„{model}” to model do innego zadania: wybierz model z listy.",
        "model_missing_dependency": "Model „{model}” potrzebuje pakietu Pythona, którego ten serwer nie ma "
                                    "({detail}).",
        "model_incompatible": "Model „{model}” się wczytał, ale w postaci, której ta zakładka nie umie użyć: wybierz "
                              "model z listy.",
        "model_unauthorized": "Serwer modelu odrzucił klucz API dla „{model}”.",
    },
}

# What `pipelines.validate` allows, in Polish (the English is the InputError's own `allowed`).
_ALLOWED_PL = (
    (re.compile(r"^an integer from (\S+) to (\S+)$"), "liczba całkowita od {0} do {1}"),
    (re.compile(r"^an integer from (\S+) to (\S+) for (.+)$"), "liczba całkowita od {0} do {1} dla {2}"),
    (re.compile(r"^a number from (\S+) to (\S+)$"), "liczba od {0} do {1}"),
    (re.compile(r"^a number in ([(\[]\S+, \S+[)\]])$"), "liczba z przedziału {0}"),
    (re.compile(r"^non-empty text$"), "niepusty tekst"),
    (re.compile(r"^a string$"), "tekst"),
    (re.compile(r"^True or False$"), "prawda albo fałsz"),
    (re.compile(r"^at most (\d+) characters$"), "najwyżej {0} znaków"),
    (re.compile(r"^one of \[(.*)\]$"), "jedna z wartości: {0}"),
)


class Refusal(MmhubError):
    """A request a Space refuses with a message of its own: `key` names it in the Space's `errors` table (and
    `ERRORS`), `values` fill it in. The API gets the English message; the page, the UI language's."""

    def __init__(self, key: str, texts: dict[str, dict[str, str]] | None = None, **values: Any):
        self.key, self.values = key, values
        table = {**ERRORS["en"], **(texts or {}).get("en", {})}
        super().__init__(table[key].format(**values) if key in table else key)


def allowed_words(lang: str, allowed: str) -> str | None:
    """`InputError.allowed` in `lang` (None when a Polish wording of it is not known)."""
    if lang == "en":
        return allowed
    for pattern, words in _ALLOWED_PL:
        match = pattern.match(allowed)
        if match:
            return words.format(*match.groups())
    return None


def person_message(ctx: Context, err: BaseException, errors: dict[str, dict[str, str]] | None = None,
                   labels: dict[str, str] | None = None) -> str:
    """What a person reads when a request fails: task words in the UI language, no argument names, types, shapes or
    paths (those stay in the server log and in the API's messages).

    `errors` is the Space's table (see `ERRORS`); `labels` maps an argument to its input's label. A `gr.Error` (the
    Space's own, already in the UI language) is shown as it is; anything unexpected as the "unexpected" line.
    """
    table = {lang: {**ERRORS.get(lang, {}), **(errors or {}).get(lang, {})} for lang in ("en", ctx.lang)}

    def words(key: str, **values: Any) -> str | None:
        if key in table[ctx.lang] or key in table["en"]:
            return ctx.t(key, table, **values)
        return None

    if isinstance(err, Refusal):
        return words(err.key, **err.values) or str(err)
    if isinstance(err, InputError):
        value = err.value
        missing = value is None or isinstance(value, str) and not value.strip() or value == []
        label = (labels or {}).get(err.argument) or err.argument.replace("_", " ")
        for key in ([f"{err.argument}:missing"] if missing else []) + [err.argument]:
            found = words(key, label=label, allowed=err.allowed)
            if found:
                return found
        allowed = allowed_words(ctx.lang, err.allowed)
        return words("invalid", label=label, allowed=allowed) if allowed else words("invalid_unknown", label=label)
    if isinstance(err, ModelLoadError):
        detail = re.search(r"pip install [^\s;)]+(?: [^\s;)]+)*", str(err))
        return words(f"model_{err.reason}", model=err.model, detail=detail.group(0) if detail else err.reason) \
            or str(err)
    if isinstance(err, (gr.Error, MmhubError)):
        return str(getattr(err, "message", None) or err)
    return ctx.t("went_wrong", error=_short(err))


# -- a run: Run and Stop buttons, one status line per tab ------------------------------------------------------------

#: What a handler yields when only its status line changed (progress, a stage): every output keeps its value.
KEEP = object()
STATUS_EVERY = 0.5  # seconds: the status line is refreshed at most this often while the work reports progress
_STATUS = object()


def clock(seconds: float) -> str:
    """``0:07``, ``12:34``, ``1:02:03``: an elapsed time or an estimate, in any language."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Run:
    """One run of a tab's handler: its Stop signal, its progress in a person's words, and its status line.

    A handler made for `RunControls.click` takes it as the keyword argument ``run``:

    - ``run.steps(describe)`` is a pipeline's ``progress(step, total, info)`` callback: it records the progress
      (``describe(step, total, info)``: the words), and returns False once Stop was pressed, which makes the
      pipeline stop at its next step and return what it made so far;
    - ``run.stream(work)`` runs ``work(report)`` in a thread (`run_with_updates`) and yields ``("update", args)``
      for each ``report(*args)``, ``("status", None)`` when the status line is due for a refresh (yield `KEEP`
      then), and ``("result", value)``;
    - ``yield from run.pipeline(task, model)`` loads a model, saying so on the status line;
    - ``run.finish(words, seed=..., stopped=...)`` sets what the status line says once the run ends (the seed used;
      whether the work ended early, when it says so: a Stop pressed after its last step stopped nothing);
    - ``run.stopped`` is True once Stop was pressed; ``run.browser`` tells the page (person's words) from an API
      call.
    """

    def __init__(self, ctx: Context, stop: threading.Event | None = None, progress: Any = None,
                 browser: bool = False):
        self.ctx, self.browser, self._progress = ctx, browser, progress
        self.stop_event = stop if stop is not None else threading.Event()
        self.started = time.monotonic()
        self.words = ctx.t("starting")
        self.fraction: float | None = None
        self._first: tuple[float, float] | None = None  # (time, fraction) of the first progress report
        self._wake: Callable[[], None] | None = None
        self._woken = 0.0
        self.state = "running"  # then "done", "stopped" or "error"
        self.result_words: str | None = None
        self.seed: int | None = None
        self.ended_early: bool | None = None  # as the work reports it (`finish`); None: Stop decides
        self.error: str | None = None

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()

    def say(self, words: str) -> None:
        """A stage without a fraction ("Saving…")."""
        self.words = words
        self._poke()

    def report(self, done: float, total: float, words: str) -> bool:
        """Progress in a person's words (``done`` of ``total``); False once Stop was pressed."""
        self.words = words
        if total:
            self.fraction = min(max(float(done) / float(total), 0.0), 1.0)
            if self._first is None:
                self._first = (time.monotonic(), self.fraction)
        if self._progress is not None:  # gradio_client sees it as the job's progress
            try:
                self._progress((done, total) if total else None, desc=words)
            except Exception:  # noqa: BLE001 - outside an event (a direct call), gr.Progress has nowhere to go
                logger.debug("no gr.Progress to report to", exc_info=True)
        self._poke()
        return not self.stopped

    def steps(self, describe: Callable[[int, int, dict[str, Any]], str]) -> Callable[[int, int, dict], bool]:
        """A pipeline ``progress(step, total, info)`` callback that reports ``describe(step, total, info)``."""
        return lambda step, total, info: self.report(step, total, describe(step, total, info or {}))

    def finish(self, words: str | None = None, seed: int | None = None, stopped: bool | None = None) -> None:
        """What the status line adds when the run ends: a result in a few words, the seed used, and whether the
        work ended early (``stopped``, as its result says) when the work knows: a run that completed before a late
        Stop reached it ends "done", not "stopped"."""
        self.result_words, self.seed, self.ended_early = words, seed, stopped

    def pipeline(self, task: str, model: Any, tiny_variant: str = "tiny") -> Iterator[Any]:
        """``pipe = yield from run.pipeline(task, model)``: `Context.pipeline`, the status line saying "Loading
        model …" first when it is not loaded yet."""
        name = self.ctx.check_model(task, model, tiny_variant)
        if (TASKS[task].name, name) not in self.ctx.cache:
            self.say(self.ctx.t("loading", model=name))
            yield KEEP
        return self.ctx.pipeline(task, name, tiny_variant=tiny_variant)

    def loading(self, load: Callable[[], Any], model: str) -> Iterator[Any]:
        """``pipe = yield from run.loading(lambda: ..., name)``: any loader, "Loading model …" on the status line."""
        self.say(self.ctx.t("loading", model=model))
        yield KEEP
        return load()

    def stream(self, work: Callable[[Callable[..., None]], Any]) -> Iterator[tuple[str, Any]]:
        """`run_with_updates` stopped by this run's Stop, with ``("status", None)`` items for the status line."""

        def threaded(report: Callable[..., None], stop: threading.Event) -> Any:
            self._wake = lambda: report(_STATUS)
            return work(report)

        try:
            for kind, value in run_with_updates(threaded, stop=self.stop_event):
                if kind == "update" and len(value) == 1 and value[0] is _STATUS:
                    yield "status", None
                else:
                    yield kind, value
        finally:
            self._wake = None

    def _poke(self) -> None:
        now = time.monotonic()
        if self._wake is not None and now - self._woken >= STATUS_EVERY:
            self._woken = now
            self._wake()

    def eta(self) -> float | None:
        """Seconds left at the pace since the first progress report (loading the model does not count)."""
        if self._first is None or self.fraction is None:
            return None
        start, first = self._first
        spent, done = time.monotonic() - start, self.fraction - first
        if done <= 0 or spent < 1.0:
            return None
        return spent / done * (1 - self.fraction)

    def html(self) -> str:
        """The status line: words, a steady elapsed clock and an estimate of the time left while it runs (ticked
        by the page's script, `page_assets`); the outcome when it has ended."""
        t = self.ctx.t
        elapsed = time.monotonic() - self.started
        if self.state == "error":
            return (f'<div class="mmhub-run" data-state="error" role="alert">⚠️ {html.escape(self.error or "")}'
                    "</div>")
        if self.state in ("done", "stopped"):
            parts = [t(self.state, elapsed=clock(elapsed))]
            if self.result_words:
                parts.append(self.result_words)
            if self.seed is not None:
                parts.append(t("seed_note", seed=self.seed))
            icon = "✅" if self.state == "done" else "⏹️"
            text = html.escape(" · ".join(parts))
            return f'<div class="mmhub-run" data-state="{self.state}" role="status">{icon} {text}</div>'
        eta = self.eta()
        left = t("left")
        shown = clock(elapsed) + (f" · {left.replace('{}', clock(eta))}" if eta is not None else "")
        eta_attributes = f' data-eta="{eta:.1f}" data-left="{html.escape(left)}"' if eta is not None else ""
        bar = (f'<progress value="{self.fraction:.3f}" max="1"></progress>' if self.fraction is not None
               else "<progress></progress>")
        return (f'<div class="mmhub-run" data-state="running" role="status" aria-live="polite">'
                f'<span class="mmhub-run-words">⏳ {html.escape(self.words)}</span> '
                f'<span class="mmhub-clock" data-elapsed="{elapsed:.1f}"{eta_attributes}>{shown}</span>{bar}</div>')


def waiting_html(ctx: Context) -> str:
    """The status line between a click and the start of the run (the tab's queue may be busy)."""
    return f'<div class="mmhub-run" data-state="waiting" role="status">⏳ {html.escape(ctx.t("waiting"))}</div>'


def status_html(words: str, state: str = "done") -> str:
    """A status line with the look of a run's (`Run.html`), for a tab whose work does not go through `run_controls`
    (the Playground's own play / pause / step, a view that follows its filters): `words` (``**bold**`` is bold, a
    blank line breaks the line) in `state`: ``done``, ``running``, ``stopped`` or ``error`` (said with ⚠️)."""
    text = html.escape(words)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text).replace("\n\n", "<br>")
    if state == "error":
        return f'<div class="mmhub-run" data-state="error" role="alert">⚠️ {text}</div>'
    live = ' aria-live="polite"' if state == "running" else ""
    return f'<div class="mmhub-run" data-state="{state}" role="status"{live}>{text}</div>'


def on_status_line(ctx: Context, fn: Callable[..., Any], outputs: int, status: int = -1,
                   errors: dict[str, dict[str, str]] | None = None, labels: dict[str, str] | None = None,
                   also: dict[int, Any] | None = None) -> Callable[..., Any]:
    """`fn` for a page event (not an API endpoint) with `outputs` outputs, the one at index `status` a status line
    (`status_html`): a refusal or a failure is said on that line in a person's words (`person_message`, `errors`
    as for `run_controls`) while the other outputs keep their values (`also`: index -> value to set instead, e.g. a
    timer to switch off) — no "Error" badge, and the app keeps serving. The API endpoint of the same work keeps
    `user_errors` (the pipeline's own message). Generator functions too."""
    where = fn.__name__.replace("_", " ")

    def said(err: Exception) -> tuple[Any, ...]:
        if isinstance(err, (MmhubError, gr.Error)):
            logger.info("%s refused: %s", where, err)
        else:
            logger.error("unexpected error in %s", where, exc_info=err)
        values = [gr.skip() for _ in range(outputs)]
        for index, value in (also or {}).items():
            values[index] = value
        values[status] = status_html(person_message(ctx, err, errors, labels), "error")
        return tuple(values)

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from fn(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 - said on the status line
                yield said(err)

        return generator_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - said on the status line
            return said(err)

    return wrapper


class _Signals:
    """The Stop signal of each browser session's run of one tab (session hash -> event)."""

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def arm(self, key: str) -> threading.Event:
        with self._lock:
            self._events[key] = event = threading.Event()
            return event

    def take(self, key: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(key, threading.Event())

    def stop(self, key: str) -> bool:
        with self._lock:
            event = self._events.get(key)
        if event is not None:
            event.set()
        return event is not None

    def release(self, key: str, event: threading.Event) -> None:
        """A run that took `event` has ended. A pressed Stop stays (until the next click arms a new event): a run the
        page dispatches later for the same click (``trigger_mode="always_last"``: the latest of several triggers,
        e.g. the live picture's) takes it and stops at once, as the person asked."""
        with self._lock:
            if self._events.get(key) is event and not event.is_set():
                del self._events[key]


def _session(request: Any) -> str:
    return str(getattr(request, "session_hash", None) or id(request))


def _input_parameters(fn: Callable) -> list[inspect.Parameter]:
    """`fn`'s parameters that take the event's inputs (all but ``run``), positional for gradio. (No `gr.EventData`:
    the handler runs in a ``.then`` step, which gradio gives no event data.)"""
    return [p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=inspect.Parameter.empty)
            for p in inspect.signature(fn).parameters.values()
            if p.name != "run" and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _split_specials(values: tuple[Any, ...]) -> tuple[list[Any], Any, Any]:
    """The inputs, the `gr.Request` and the `gr.Progress` gradio appended (either may be absent: a direct call)."""
    values, request, progress = list(values), None, None
    while values and isinstance(values[-1], (gr.Progress, gr.Request)):
        if isinstance(values[-1], gr.Progress):
            progress = values.pop()
        else:
            request = values.pop()
    return values, request, progress


@dataclass
class RunControls:
    """A tab's Run button, its Stop button (disabled while nothing runs) and its status line.

    Made by `run_controls`; `click` wires a handler to them. The page's events show progress, errors and the
    outcome on the status line only (``show_progress_on`` it, gradio's own overlay hidden by `CSS`): the results
    shown so far stay visible and are never replaced by an "Error" badge. The API endpoint (`api_name`) is a twin
    event on a hidden button with the same inputs and outputs (no status line), whose errors are raised as the
    pipeline states them (`user_errors`), as before.
    """

    ctx: Context
    run: gr.Button
    stop: gr.Button
    status: gr.HTML
    errors: dict[str, dict[str, str]] | None = None
    signals: _Signals = field(default_factory=_Signals)

    def click(self, fn: Callable[..., Any], inputs: Sequence[Any] | Any, outputs: Sequence[Any] | Any, *,
              api_name: str | None, triggers: Sequence[Any] = (), run_button: bool = True,
              **queue_options: Any) -> Any:
        """Wire `fn` (a function or a generator taking the inputs and ``run=``) to Run (unless `run_button` is
        False) and `triggers` (e.g. a textbox's submit, an upload), and to the API endpoint `api_name` (None: the
        page only, e.g. for a click on a picture). `queue_options`: the Space's ``SPACE.queue`` (and e.g.
        ``trigger_mode`` for the page's run).

        Returns the page's run (the event that calls `fn` for the browser), for a ``.then`` step after it or for
        ``cancels=[...]``."""
        inputs, outputs = [list(c) if isinstance(c, (list, tuple)) else [c] for c in (inputs, outputs)]
        parameters = _input_parameters(fn)
        labels = {p.name: str(getattr(c, "label", None) or "") for p, c in zip(parameters, inputs, strict=False)}
        if api_name is not None:
            api_button = gr.Button(visible=False, elem_classes=["mmhub-api"])
            api_button.click(self._api(fn, parameters), inputs, outputs, api_name=api_name, **queue_options)
        armed = gr.on([self.run.click] * run_button + list(triggers), self._arm, None,
                      [self.run, self.stop, self.status], queue=False, api_visibility="private",
                      show_progress="hidden")
        browser = armed.then(self._browser(fn, parameters, len(outputs), labels), inputs, [*outputs, self.status],
                             api_visibility="private", show_progress_on=[self.status], **queue_options)
        browser.then(self._disarm, None, [self.run, self.stop], queue=False, api_visibility="private",
                     show_progress="hidden")
        return browser

    # -- the events ------------------------------------------------------------------------------------------------

    def _arm(self, request: gr.Request) -> tuple[Any, Any, str]:
        self.signals.arm(_session(request))
        return (gr.update(interactive=False), gr.update(interactive=True, value=self.ctx.t("stop")),
                waiting_html(self.ctx))

    def _disarm(self) -> tuple[Any, Any]:
        return gr.update(interactive=True), gr.update(interactive=False, value=self.ctx.t("stop"))

    def _stop(self, request: gr.Request) -> Any:
        self.signals.stop(_session(request))
        return gr.update(interactive=False, value=self.ctx.t("stopping"))

    def _api(self, fn: Callable[..., Any], parameters: list[inspect.Parameter]) -> Callable[..., Any]:
        ctx = self.ctx
        if inspect.isgeneratorfunction(fn):

            def api(*values: Any) -> Iterator[Any]:
                inputs, _, progress = _split_specials(values)
                stream = fn(*inputs, run=Run(ctx, progress=progress))
                try:
                    for item in stream:
                        if item is not KEEP:
                            yield item
                finally:
                    stream.close()
        else:

            def api(*values: Any) -> Any:
                inputs, _, progress = _split_specials(values)
                return fn(*inputs, run=Run(ctx, progress=progress))

        api.__name__ = api.__qualname__ = fn.__name__
        api.__doc__ = fn.__doc__
        progress = inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress())
        api.__signature__ = inspect.Signature([*parameters, progress])  # type: ignore[attr-defined]
        api.__annotations__ = {}
        return user_errors(api)

    def _browser(self, fn: Callable[..., Any], parameters: list[inspect.Parameter], count: int,
                 labels: dict[str, str]) -> Callable[..., Iterator[tuple]]:
        ctx, errors, signals = self.ctx, self.errors, self.signals
        streams = inspect.isgeneratorfunction(fn)
        where = fn.__name__.replace("_", " ")

        def browser(*values: Any) -> Iterator[tuple]:
            inputs, request, progress = _split_specials(values)
            key = _session(request)
            stop = signals.take(key)  # armed by the click (a press of Stop while queued is kept)
            run = Run(ctx, stop, progress, browser=True)
            keep = tuple(gr.skip() for _ in range(count))
            stream = None
            try:
                yield (*keep, run.html())
                result = fn(*inputs, run=run)
                stream = result if streams else iter([result])
                for item in stream:
                    if item is KEEP:
                        yield (*keep, run.html())
                        continue
                    item = (item,) if count == 1 else tuple(item)
                    yield (*item, run.html())
                ended_early = run.stopped if run.ended_early is None else run.ended_early
                run.state = "stopped" if ended_early else "done"
            except Cancelled:
                run.state = "stopped"
            except Exception as err:  # noqa: BLE001 - every failure becomes the status line, the app keeps serving
                if isinstance(err, (MmhubError, gr.Error)):
                    logger.info("%s refused: %s", where, err)
                else:
                    logger.error("unexpected error in %s", where, exc_info=err)
                run.state, run.error = "error", person_message(ctx, err, errors, labels)
            finally:
                if streams and stream is not None:
                    stream.close()
                signals.release(key, stop)
            yield (*keep, run.html())

        browser.__name__ = browser.__qualname__ = f"{fn.__name__}_in_page"
        extra = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                   annotation=gr.Request),
                 inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress())]
        browser.__signature__ = inspect.Signature([*parameters, *extra])  # type: ignore[attr-defined]
        browser.__annotations__ = {"request": gr.Request}
        return browser


def run_controls(ctx: Context, label: str, *, elem_id: str, stop: bool = False,
                 errors: dict[str, dict[str, str]] | None = None, variant: str = "primary") -> RunControls:
    """The Run button (`label`, ``elem_id``), a Stop button when the work can be stopped (``<prefix>-stop``,
    disabled while nothing runs), and the status line under them (``<prefix>-status``), where ``<prefix>`` is
    `elem_id` without its ``-run``. `errors` is the Space's table of messages (see `ERRORS`).

    Adopt it in a Space::

        controls = run_controls(ctx, t("generate"), elem_id="music-run", stop=True, errors=ERROR_TEXTS)
        controls.click(compose, [prompt, seed], [player, seed_used], api_name="music", **SPACE.queue)

    where ``compose(prompt, seed, *, run)`` yields its outputs (`KEEP` when only the progress changed) and
    reports progress through ``run.steps(...)`` / ``run.stream(...)`` (`Run`).
    """
    prefix = elem_id.removesuffix("-run")
    with gr.Row(elem_classes=["mmhub-controls"]):
        run = gr.Button(label, variant=variant, elem_id=elem_id, scale=3)
        stop_button = gr.Button(ctx.t("stop"), variant="stop", interactive=False, visible=stop,
                                elem_id=f"{prefix}-stop", scale=1)
    status = gr.HTML("", elem_id=f"{prefix}-status", elem_classes=["mmhub-status"], padding=False)
    controls = RunControls(ctx, run, stop_button, status, errors)
    if stop:
        stop_button.click(controls._stop, None, stop_button, queue=False, api_visibility="private",
                          show_progress="hidden")
    return controls


# -- plots that grow while a run goes on ------------------------------------------------------------------------------


def chart_frame(rows: Sequence[Sequence[Any]], columns: Sequence[str], color: str | None = None,
                categories: Sequence[str] = ()) -> Any:
    """A DataFrame for a `gr.LinePlot` refreshed while a run goes on, with every colour category from the first
    refresh on.

    Gradio draws a plot's colour scale once, from the categories of the first value it shows; a later value only
    replaces the data (gradio's js/nativeplot rebuilds its Vega view only when a setting such as the title, x or
    the colour map changes), so a category that first appears later is never drawn: DeepDream's chart showed
    octaves 1-2 of 4. Each of `categories` without data yet gets one row with no y value (no line, a legend entry)
    in the `color` column. Start each run's plot from None (no value: gradio drops the old view).
    """
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=list(columns))
    if color is not None:
        missing = [c for c in categories if c not in set(frame[color])]
        if missing:
            x, y = columns[0], columns[1]
            pad = pd.DataFrame({x: [frame[x].iloc[0] if len(frame) else 0] * len(missing),
                                y: [float("nan")] * len(missing), color: missing})
            frame = pd.concat([frame, pad[list(columns)]], ignore_index=True)
        frame[color] = frame[color].astype(str)
    return frame


# -- the page: styles, the status clock, the UI language ----------------------------------------------------------

CSS = """
.mmhub-tiny-banner { border: 2px solid #f59e0b; border-radius: 8px; padding: 0 12px; }
.mmhub-status [data-testid="status-tracker"] { display: none !important; }
.mmhub-status .pending { opacity: 1 !important; }
.mmhub-run { display: flex; flex-wrap: wrap; align-items: baseline; gap: 2px 12px; padding: 2px 4px; }
.mmhub-run progress { flex-basis: 100%; width: 100%; height: 6px; accent-color: var(--color-accent); }
.mmhub-run[data-state="error"] { color: var(--error-text-color, #b91c1c); font-weight: 600; }
.mmhub-clock { font-variant-numeric: tabular-nums; opacity: 0.75; }
"""

#: Gradio's own words that its Polish dictionary (gradio 6.31, ``templates/frontend/assets/pl-*.js``) lacks: the
#: English ones (its ``en`` dictionary) fall through into a Polish page. Given to gradio's i18n (`page_assets`).
GRADIO_PL = {
    "audio.recording_error": "Nie udało się rozpocząć nagrywania z mikrofonu.",
    "chatbot.complete": "Gotowe", "chatbot.copy_message": "Kopiuj wiadomość",
    "chatbot.copied_message": "Skopiowano wiadomość",
    "chat_interface.new_chat": "Nowa rozmowa", "chat_interface.message_placeholder": "Napisz wiadomość…",
    "chat_interface.additional_inputs": "Dodatkowe ustawienia", "chat_interface.chatbot": "Czat",
    "chat_interface.conversation": "Rozmowa",
    "common.download_all": "Pobierz wszystko", "common.runs": "Przebiegi",
    "common.runs_description": "Przebiegi zapisane w tej przeglądarce", "common.back_to_app": "Aplikacja",
    "common.back_to_app_description": "Wróć do aplikacji", "common.progress": "Postęp", "common.record": "Nagrywaj",
    "common.stop_recording": "Zatrzymaj nagrywanie", "common.screen_studio": "Studio ekranu",
    "common.share_gradio_tab": "[Udostępnianie] Karta Gradio", "common.run": "Uruchom",
    "dataframe.import_empty_file": "Upuszczony plik jest pusty.",
    "dataframe.import_no_column_names": "Upuszczony plik nie ma nazw kolumn.",
    "dataframe.import_ragged_row": "Wiersz {line} pliku ma {fields} pól, a nagłówek {columns}.",
    "dataframe.import_static_columns": "Nie można importować do tabeli z kolumnami tylko do odczytu.",
    "dataframe.import_fixed_columns": "Ta tabela ma dokładnie {expected} kolumn, a plik {actual}.",
    "dataframe.import_fixed_rows": "Ta tabela ma dokładnie {expected} wierszy, a plik {actual}.",
    "dataframe.filter": "Filtruj", "dataframe.clear_filter": "Wyczyść filtry",
    "image_editor.add_layer": "Dodaj warstwę", "image_editor.brush": "Pędzel",
    "image_editor.brush_size": "Rozmiar pędzla", "image_editor.clear_canvas": "Wyczyść płótno",
    "image_editor.color": "Kolor", "image_editor.confirm_crop": "Zatwierdź przycięcie",
    "image_editor.crop": "Przytnij",
    "image_editor.erase": "Gumka", "image_editor.eraser_size": "Rozmiar gumki",
    "image_editor.fit_to_screen": "Dopasuj do ekranu", "image_editor.layer": "Warstwa",
    "image_editor.layers": "Warstwy", "image_editor.pan": "Przesuń", "image_editor.paste": "Wklej",
    "image_editor.redo": "Ponów", "image_editor.resize": "Zmień rozmiar", "image_editor.save_changes": "Zapisz zmiany",
    "image_editor.select_draw_tool": "wybierz pędzel, aby zacząć rysować", "image_editor.show_layers": "Pokaż warstwy",
    "image_editor.upload": "Wgraj", "image_editor.upload_image": "Wgraj obraz", "image_editor.webcam": "Kamera",
    "image_editor.zoom_in": "Powiększ", "image_editor.zoom_out": "Pomniejsz",
    "status.queue_position": "W kolejce: {position} z {size}",
}

_HEAD = """<script>
(() => {
  const lang = %(lang)s;
  const fmt = (s) => {
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor((s %% 3600) / 60), x = s %% 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(x).padStart(2, "0");
  };
  const tick = () => {
    if (document.documentElement.lang !== lang) document.documentElement.lang = lang;
    for (const el of document.querySelectorAll(".mmhub-clock")) {
      const elapsed = parseFloat(el.dataset.elapsed || "0");
      if (!el.dataset.t0) el.dataset.t0 = String(Date.now() - 1000 * elapsed);
      const seconds = (Date.now() - Number(el.dataset.t0)) / 1000;
      let text = fmt(seconds);
      const left = parseFloat(el.dataset.eta) - (seconds - elapsed);
      if (el.dataset.eta) text += " · " + el.dataset.left.replace("{}", fmt(left));
      if (el.textContent !== text) el.textContent = text;
    }
    for (const block of document.querySelectorAll(".mmhub-canvas")) {
      const name = (block.querySelector('[data-testid="block-label"]') || {}).textContent;
      if (!name) continue;
      for (const canvas of block.querySelectorAll("canvas")) {
        if (canvas.getAttribute("aria-label") !== name.trim()) {
          canvas.setAttribute("role", "img");
          canvas.setAttribute("aria-label", name.trim());
        }
      }
    }
  };
  setInterval(tick, 250);
  tick();
  // gradio words its own controls ("Drop Image Here", "Clear") in the browser's language: ask it for the UI's
  // (what its Settings menu does: changeLocale of its core module, found among the loaded scripts).
  const core = [...performance.getEntriesByType("resource").map((e) => e.name),
                ...[...document.querySelectorAll("script[src], link[href]")].map((e) => e.src || e.href)]
    .find((url) => /\\/assets\\/core-[^/]*\\.js$/.test(url));
  if (core) import(core).then((m) => m.changeLocale && m.changeLocale(lang)).catch(() => {});
})();
</script>"""


def page_assets(lang: str) -> dict[str, Any]:
    """The ``css``, ``head`` and ``i18n`` every page of the app needs (for `gr.Blocks.launch` or
    `gr.mount_gradio_app`: ``launch(**page_assets("pl"))``): the status line's look and clock, ``<html lang>`` and
    gradio's own words in the UI language `lang` (`GRADIO_PL` fills the gaps of gradio's Polish), and the
    accessible names of drawing canvases (elements with the class ``mmhub-canvas``: their label)."""
    import json

    if lang not in LANGUAGES:
        raise InputError("lang", lang, f"one of {list(LANGUAGES)}")
    return {"css": CSS, "head": _HEAD % {"lang": json.dumps(lang)}, "i18n": gr.I18n(pl=GRADIO_PL)}


def env_host() -> str:
    """The address to listen on: ``GRADIO_SERVER_NAME`` (set by Hugging Face Spaces), else loopback only."""
    return os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
