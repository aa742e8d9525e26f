"""What every Space shares: the bounded model cache, the model-field policy, input checks, error translation,
the PL/EN strings and the tiny banner.

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
import inspect
import logging
import os
import queue
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
from gradio_client.exceptions import AppError

from pipelines import TASKS, TINY_NAMES, InputError, load, validate
from pipelines.errors import MmhubError

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
    },
}


#: Tab groups of the app: a Space with ``group=<key>`` becomes a sub-tab of that group's tab, which sits where
#: its first member (by `SpaceSpec.order`) would. The lecture's look inside a network: the digit CNN with its
#: layers, activation maximisation, Deep Dream, autoencoders, GANs.
GROUPS: dict[str, dict[str, str]] = {
    "inside": {"en": "Inside a network", "pl": "Wnętrze sieci", "emoji": "🔬"},
    "basics": {"en": "Basics", "pl": "Podstawy", "emoji": "🧭"},  # the lecture's four basic tasks of AI
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
        """The UI string `key` in this context's language (a Space's own `texts` first), formatted with `values`."""
        for table in (texts or {}, STRINGS):
            if key in table.get(self.lang, {}) or key in table.get("en", {}):
                text = table.get(self.lang, {}).get(key) or table["en"][key]
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
        choices = [(f"{v} (stand-in)", v) for v in spec.tiny_variants if self.tiny]
        if self.tiny:  # the chosen variant first
            choices.sort(key=lambda c: c[1] != tiny_variant)
        for info in spec.models:
            label = f"{info.id} · {info.note}" if info.note else info.id
            if not info.commercial_use:
                label += f" · ⚠ {self.t('non_commercial')}: {info.licence}"
            choices.append((label, info.id))
        return choices

    def model_dropdown(self, task: str, tiny_variant: str = "tiny") -> gr.Dropdown:
        """The model picker: default, alternatives, and a free field for a Hub id (or an allowed local folder)."""
        return gr.Dropdown(self.model_choices(task, tiny_variant), value=self.default_model(task, tiny_variant),
                           label=self.t("model"), info=self.t("model_info"), allow_custom_value=True)

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
    """
    return gr.Number(RANDOM_SEED, label=ctx.t("seed"), precision=0, minimum=RANDOM_SEED, **kwargs)


def parse_seed(value: Any) -> int | None:
    """A seed from a `gr.Number`: −1, None or empty mean random (None); else an integer from 0 to 2**63 - 1
    (`InputError` otherwise)."""
    if value is None or value == "" or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                        and value == RANDOM_SEED):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return validate.integer("seed", value, low=0, high=validate.SEED_MAX, hint=f"{RANDOM_SEED} draws a random seed.")


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


def run_with_updates(fn: Callable[[Callable[..., Any], threading.Event], Any]) -> Iterator[tuple[str, Any]]:
    """Run `fn(report, stop)` in a thread; yield ``("update", args)`` for each `report(*args)`, then ``("result", r)``.

    For pipelines whose progress callback carries intermediate results (style transfer's images), so that a
    generator handler can show them while the work goes on. An exception in `fn` is raised here. The thread
    runs in a copy of the caller's context, so `gr.Progress` (which finds its event through context variables)
    still works from it.

    `stop` is set when this generator ends for any reason, in particular when it is closed before the result
    (gradio closes a handler's generator when the client cancels or disconnects): `fn`'s progress callback returns
    ``not stop.is_set()``, so that the pipeline stops at its next step instead of running on for nobody.
    """
    updates: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}
    stop = threading.Event()

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
    finally:
        stop.set()  # closed early (cancel, disconnect) or failed: the worker stops at its next progress report
    if "error" in outcome:
        raise outcome["error"]
    yield "result", outcome["result"]


def step_progress(progress: gr.Progress, describe: Callable[[int, int, dict[str, Any]], str]):
    """A pipeline ``progress(step, total, info)`` callback that drives `progress` (a `gr.Progress`) with the text
    ``describe(step, total, info)``."""

    def report(step: int, total: int, info: dict[str, Any]) -> None:
        progress((step, total), desc=describe(step, total, info))

    return report


def env_host() -> str:
    """The address to listen on: ``GRADIO_SERVER_NAME`` (set by Hugging Face Spaces), else loopback only."""
    return os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
