"""Run the Polish suite with lm-eval and score it as the Open PL LLM Leaderboard does.

>>> from eval.runner import run
>>> report = run("speakleash/Bielik-1.5B-v3.0-Instruct", num_fewshot=[0, 5], batch_size="auto")
>>> report.rows[1].average          # the 5-shot Average, comparable with the published rows

The engine is lm-eval's own `simple_evaluate` over mmhub's task configs (``eval/tasks``, loaded with
``TaskManager(include_path=...)``), on lm-eval's HFLM (or its vLLM model); mmhub adds the model loading (one
backend registry, `BACKEND_LOADERS`), option checks before anything loads (`validate`), the leaderboard harness'
``--limit`` subset (`shuffle_like_the_leaderboard`), quiet lm-eval logs, the response cache, the scoring
(`eval.leaderboard`) and the output files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import logging
import math
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from eval import TASKS_DIR, catalog, leaderboard
from pipelines import TASKS, TINY_NAMES
from pipelines.errors import InputError, MmhubError, ModelLoadError

logger = logging.getLogger(__name__)

MAX_FEWSHOT = 25  # the leaderboard runs 0 and 5; 25 is the most any common leaderboard uses (ARC 25-shot)
MAX_LIMIT = 10**9
MAX_BATCH = 4096
LIMIT_MODES = ("random", "first")
# FORK (speakleash/lm-evaluation-harness polish4_shuf, commit dac2087a "shuffle dataset if limit",
# lm_eval/evaluator.py `evaluate`): with a limit, each task's documents are `random.shuffle`d, task after task in
# evaluation order, from Python's global generator, which `simple_evaluate` seeded with random_seed=0; the first
# `limit` documents of the shuffled list are evaluated (in that order). mmhub draws from random.Random(0) in the
# same task order (`eval.catalog.expand`), which is the same stream.
LIMIT_SEED = 0


class DatasetLoadError(MmhubError, RuntimeError):
    """A task's dataset could not be loaded (offline and not cached, or a missing local file)."""


@dataclasses.dataclass
class Report:
    """What `run` returns: one leaderboard row per n-shot, lm-eval's raw results, the table and the files."""

    model: str
    rows: list[leaderboard.Row]
    results: dict[int, dict[str, Any]]
    markdown: str
    files: dict[str, str]
    adjusted: dict[str, str] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "rows": [r.to_dict() for r in self.rows], "results": self.results,
                "files": self.files, "adjusted": self.adjusted, "seconds": self.seconds}


def task_manager(data_dir: str | os.PathLike | None = None):
    """lm-eval's TaskManager over mmhub's Polish tasks only (`data_dir` reaches every task's loader as metadata)."""
    from lm_eval.tasks import TaskManager

    metadata = {"data_dir": str(Path(data_dir).expanduser().resolve())} if data_dir else None
    return TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata=metadata)


def run(
    model: Any,
    tasks: Sequence[str] | str = ("polish",),
    num_fewshot: Sequence[int] | int = (5,),
    *,
    limit: int | float | None = None,
    limit_mode: str = "random",
    batch_size: int | str = 1,
    max_batch_size: int = 64,
    device: str | None = None,
    dtype: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
    apply_chat_template: bool = False,
    fewshot_as_multiturn: bool = False,
    backend: str = "hf",
    output_dir: str | os.PathLike | None = "eval_results",
    data_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    log_samples: bool = False,
    published: bool = True,
    plot: bool = True,
    endpoint: str | None = None,
    api_key: str | None = None,
    max_length: int | None = None,
) -> Report:
    """Evaluate `model` on Polish tasks at each n-shot setting and score it as the leaderboard does.

    Args:
        model (`str` or pipeline): a Hub id, a local folder, ``"tiny"`` (offline test model), or a loaded mmhub
            text-generation pipeline (anything with ``.model`` and ``.tokenizer``).
        tasks (`list[str]`, defaults to ``["polish"]``): task or group names: ``polish`` (all 23 averaged tasks),
            ``polish_mc``, ``polish_generate``, ``polish_other`` (the leaderboard's 4 tasks outside every average),
            or single tasks such as ``polemo2_in``.
        num_fewshot (`list[int]`, defaults to ``[5]``): n-shot settings (0-25), run one after the other on the same
            model.
        limit (`int` or `float`, *optional*): evaluate N documents of each task (1 <= N <= 10**9), or a fraction in
            (0, 1) of them. Which ones: see `limit_mode`.
        limit_mode (`str`, defaults to ``"random"``): ``"random"`` draws the leaderboard harness' seeded random
            subset (each task's documents shuffled with seed 0, task after task in the harness' order, then the
            first N); ``"first"`` takes the first N documents in dataset order.
        batch_size (`int` or ``"auto"``, defaults to 1), max_batch_size (`int`, defaults to 64): lm-eval's.
        device, dtype (`str`, *optional*): default CUDA + bfloat16 when present, else CPU + float32.
        revision, trust_remote_code: passed to ``from_pretrained`` (remote code stays off unless asked for).
        apply_chat_template (`bool`), fewshot_as_multiturn (`bool`): the leaderboard's ``,chat`` / ``,multiturn``.
        backend (`str`, defaults to ``"hf"``): one of `BACKENDS`: ``"hf"`` (transformers), ``"vllm"`` (lm-eval's
            vLLM model, GPU) or ``"openai"``: `model` served at `endpoint` by an OpenAI-compatible server (see
            `eval.remote`; there `batch_size` is the number of concurrent requests).
        endpoint (`str`), api_key (`str`), max_length (`int`): the server's base URL, its key, and the served
            model's context (default: what the server reports, else 2048); ``backend="openai"`` only.
        output_dir (`str`, defaults to ``"eval_results"``): results, table, plot and the response cache go here;
            None writes nothing (and caches nothing).
        data_dir (`str`, *optional*): read every dataset from ``DIR/<hub id>/<split>.jsonl`` (e.g. ``eval/fixtures``)
            instead of the Hub.
        use_cache (`bool`, defaults to True): keep model responses in ``output_dir/cache`` (sqlite), so a run that
            was interrupted resumes where it stopped.
        log_samples (`bool`): also write every prompt and response into the results JSON.
        published (`bool`): rank the rows against the published leaderboard rows. plot (`bool`): write the PNG.
    """
    started = time.perf_counter()
    tasks = list(tasks) if isinstance(tasks, (list, tuple)) else [tasks]
    shots = list(num_fewshot) if isinstance(num_fewshot, (list, tuple)) else [num_fewshot]
    limit = validate(tasks=tasks, num_fewshot=shots, limit=limit, limit_mode=limit_mode, batch_size=batch_size,
                     max_batch_size=max_batch_size, backend=backend, data_dir=data_dir, output_dir=output_dir,
                     endpoint=endpoint, max_length=max_length, device=device, dtype=dtype, revision=revision,
                     apply_chat_template=apply_chat_template, fewshot_as_multiturn=fewshot_as_multiturn)
    manager = task_manager(data_dir)

    needs_loglikelihood = True
    if backend == "openai":  # multiple-choice tasks need the server's prompt log-probabilities: checked up front
        kinds = {task.get_config("output_type") for task in _load_tasks(manager, tasks)["tasks"].values()}
        needs_loglikelihood = bool(kinds - {"generate_until"})
    options = ModelOptions(batch_size, max_batch_size, device, dtype, revision, trust_remote_code, endpoint=endpoint,
                           api_key=api_key, max_length=max_length, chat=apply_chat_template,
                           needs_loglikelihood=needs_loglikelihood)
    loaded_model = load_model(model, backend, options)
    lm, model_id, params_b, fingerprint = (loaded_model.lm, loaded_model.model_id, loaded_model.params_b,
                                           loaded_model.fingerprint)
    out = Path(output_dir) if output_dir is not None else None
    cache = None
    if out is not None and use_cache:
        (out / "cache").mkdir(parents=True, exist_ok=True)
        cache = str(out / "cache" / f"{_slug(model_id)}-{fingerprint}")

    import lm_eval

    rows, results, adjusted = [], {}, {}
    for n in shots:
        with quiet_lm_eval():
            loaded = _load_tasks(manager, tasks)["tasks"]
            order = [name for name in catalog.expand(tasks) if name in loaded]  # the harness' evaluation order
            adjusted.update(_fit_generation(loaded, lm.max_length))
            if limit is not None and limit_mode == "random":
                shuffle_like_the_leaderboard([loaded[name] for name in order])
            logger.info("%s: %d tasks, %d-shot", model_id, len(loaded), n)
            output = lm_eval.simple_evaluate(
                model=lm, tasks=[loaded[name] for name in order], num_fewshot=n, limit=limit, use_cache=cache,
                apply_chat_template=apply_chat_template, fewshot_as_multiturn=fewshot_as_multiturn,
                task_manager=manager, log_samples=log_samples,
            )
        results[n] = output
        rows.append(leaderboard.Row.from_scores(model_id, n, leaderboard.scores_from_results(output["results"]),
                                                params_b))

    public = leaderboard.published_rows() if published else []
    markdown = leaderboard.table(rows, public, limited=limit is not None)
    files: dict[str, str] = {}
    if out is not None:
        folder = out / _slug(model_id)
        folder.mkdir(parents=True, exist_ok=True)
        for n, output in results.items():
            path = folder / f"results_{n}shot.json"
            path.write_text(json.dumps(output, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
            files[f"results_{n}shot"] = str(path)
        (folder / "leaderboard.md").write_text(markdown + "\n", encoding="utf-8")
        files["markdown"] = str(folder / "leaderboard.md")
        settings = {"model": model_id, "tasks": tasks, "num_fewshot": shots, "limit": limit,
                    "limit_mode": limit_mode if limit is not None else None, "backend": backend, "endpoint": endpoint,
                    "apply_chat_template": apply_chat_template, "fewshot_as_multiturn": fewshot_as_multiturn,
                    "data_dir": str(data_dir) if data_dir else None, "adjusted": adjusted}
        files["json"] = str(leaderboard.write_json(rows, public, folder / "leaderboard.json",
                                                          limited=limit is not None, settings=settings))
        if plot:
            files["plot"] = str(leaderboard.plot(rows, folder / "leaderboard.png"))
    return Report(model_id, rows, {n: o["results"] for n, o in results.items()}, markdown, files, adjusted,
                  time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------------- validation

def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate(*, tasks: Sequence[str] = ("polish",), num_fewshot: Sequence[int] = (5,), limit: Any = None,
             limit_mode: str = "random", batch_size: Any = 1, max_batch_size: Any = 64, backend: str = "hf",
             data_dir: Any = None, output_dir: Any = None, endpoint: Any = None, max_length: Any = None,
             device: Any = None, dtype: Any = None, revision: Any = None, apply_chat_template: Any = False,
             fewshot_as_multiturn: Any = False) -> int | float | None:
    """Check `run`'s options before anything loads; raise `InputError` naming the option. Returns the limit.

    Shared by `run` and ``python -m eval`` (which names the flags), so a bad option never costs a model load.
    """
    if not isinstance(tasks, (list, tuple)) or not tasks or not all(isinstance(t, str) and t for t in tasks):
        raise InputError("tasks", tasks, "a non-empty list of task or group names, e.g. ['polish']")
    for name, close in catalog.unknown(tasks):
        raise InputError("tasks", name, "a Polish task or group (polish, polish_mc, polish_generate, polish_other, "
                                        "or a task such as polemo2_in)",
                         f"Did you mean {close!r}?" if close else "`python -m eval --list-tasks` lists them.")
    if not isinstance(num_fewshot, (list, tuple)) or not num_fewshot or not all(
            _is_int(n) and 0 <= n <= MAX_FEWSHOT for n in num_fewshot):
        raise InputError("num_fewshot", list(num_fewshot), f"integers from 0 to {MAX_FEWSHOT} "
                                                           "(the leaderboard uses 0 and 5)")
    if len(set(num_fewshot)) != len(num_fewshot):
        raise InputError("num_fewshot", list(num_fewshot), "distinct n-shot settings")
    if limit is not None:
        if isinstance(limit, float) and math.isfinite(limit) and limit >= 1 and limit.is_integer():
            limit = int(limit)
        ok = (_is_int(limit) and 1 <= limit <= MAX_LIMIT) or (
            isinstance(limit, float) and math.isfinite(limit) and 0 < limit < 1)
        if not ok:
            raise InputError("limit", limit, f"a number of documents from 1 to {MAX_LIMIT}, or a fraction in (0, 1)")
    if limit_mode not in LIMIT_MODES:
        raise InputError("limit_mode", limit_mode, f"one of {list(LIMIT_MODES)}")
    if not (_is_int(batch_size) and 1 <= batch_size <= MAX_BATCH) and not (
            isinstance(batch_size, str) and re.fullmatch(r"auto(:[1-9]\d{0,3})?", batch_size)):
        raise InputError("batch_size", batch_size, f"an integer from 1 to {MAX_BATCH}, 'auto' or 'auto:N'")
    if not (_is_int(max_batch_size) and 1 <= max_batch_size <= MAX_BATCH):
        raise InputError("max_batch_size", max_batch_size, f"an integer from 1 to {MAX_BATCH}")
    if backend not in BACKENDS:
        raise InputError("backend", backend, f"one of {list(BACKENDS)}")
    _validate_endpoint(backend, endpoint, max_length, device, dtype, revision)
    # lm-eval's own CLI refuses this pair (lm_eval/config/evaluate_config.py: "When `fewshot_as_multiturn` is True,
    # `apply_chat_template` must be set."); `simple_evaluate` does not check it and would run plain prompts.
    if fewshot_as_multiturn and not apply_chat_template:
        raise InputError("fewshot_as_multiturn", True, "given with apply_chat_template only",
                         "Few-shot examples as chat turns need the chat template: add --apply-chat-template.")
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raise InputError("data_dir", str(data_dir), "an existing folder of <hub id>/<split>.jsonl files",
                         "mmhub ships one: eval/fixtures.")
    out = Path(output_dir).expanduser() if output_dir is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise InputError("output_dir", str(output_dir), "a folder (new or existing), not a file")
    return limit


def shuffle_like_the_leaderboard(tasks: Sequence[Any], seed: int = LIMIT_SEED) -> None:
    """Give each task its documents in the order the leaderboard's harness uses for ``--limit`` runs.

    `tasks` in evaluation order (`eval.catalog.expand`); one `random.Random(seed)` stream shuffles each task's
    documents in turn (see `LIMIT_SEED`); the run then takes the first N of each.
    """
    rng = random.Random(seed)
    for task in tasks:
        docs = list(task.eval_docs)
        rng.shuffle(docs)
        task.set_eval_docs(docs)


# lm-eval logs these once per task or once per request; in mmhub they are by design (our own datasets loaders, our
# num_fewshot, an already-loaded model), so they would only bury real warnings. Truncations are summed up instead.
_BY_DESIGN = ("Custom kwargs can be passed", "Overwriting default num_fewshot", "`pretrained` model kwarg is not",
              "Passed an already-initialized model")
# One warning per truncated request (hundreds on a 5-shot run of a small-context model), counted into one line:
# lm-eval 0.4.13 `models/huggingface.py` "Left truncation applied" (generate_until) and "Combined length of context"
# (loglikelihood), `models/utils.py` `maybe_truncate` "Context length (...) + max_gen_toks" (vLLM), and transformers'
# tokenizer "Token indices sequence length is longer than" (once per tokenizer; lm-eval truncates those prompts).
_TRUNCATIONS = ("Left truncation applied", "Combined length of context", "Context length (",
                "Token indices sequence length is longer than")
_LM_EVAL_LOGGERS = ("lm_eval.api.task", "lm_eval.evaluator", "lm_eval.models.huggingface", "lm_eval.utils",
                    "transformers.tokenization_utils_base")


class _LmEvalNoise(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.truncated = 0

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if text.startswith(_TRUNCATIONS):
            self.truncated += not text.startswith("Token indices")  # the tokenizer's is a notice, not a prompt
            return False
        return not any(message in text for message in _BY_DESIGN)


@contextlib.contextmanager
def quiet_lm_eval() -> Iterator[_LmEvalNoise]:
    """Drop lm-eval's by-design per-task warnings while lm-eval runs (library and CLI alike); restore afterwards.

    Left truncations (a prompt longer than the model's context, cut from the left as lm-eval does) are counted
    and reported once.
    """
    noise = _LmEvalNoise()
    loggers = [logging.getLogger(name) for name in _LM_EVAL_LOGGERS]
    for log in loggers:
        log.addFilter(noise)
    try:
        yield noise
    finally:
        for log in loggers:
            log.removeFilter(noise)
        if noise.truncated:
            logger.warning("%d prompt(s) longer than the model's context were cut from the left (lm-eval's left "
                           "truncation)", noise.truncated)


def _validate_endpoint(backend: str, endpoint: Any, max_length: Any, device: Any, dtype: Any, revision: Any) -> None:
    """The openai backend's options (`endpoint` a URL, `max_length` bounded, no local loading options); the other
    backends take none of them."""
    if backend != "openai":
        for name, value in (("endpoint", endpoint), ("max_length", max_length)):
            if value is not None:
                raise InputError(name, value, "given with backend='openai' only")
        return
    if endpoint is None:
        raise InputError("endpoint", None, "the server's base URL with backend='openai', e.g. http://host:8000/v1")
    from pipelines import validate as checks

    checks.url("endpoint", endpoint)
    checks.optional_integer("max_length", max_length, low=16, high=10_000_000)
    for name, value in (("device", device), ("dtype", dtype), ("revision", revision)):
        if value is not None:
            raise InputError(name, value, "None with backend='openai'", "The server loaded the weights: set it there.")


def _load_tasks(manager, tasks: Sequence[str]) -> dict[str, Any]:
    try:
        return manager.load(list(tasks))
    except Exception as err:  # datasets raises many types; name the fix
        text = str(err)
        offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = ("The Hub is offline here: pass data_dir (`--data-dir eval/fixtures` for the shipped fixtures, or a "
                "folder of real data as <hub id>/<split>.jsonl)." if offline or "connect" in text.lower() else
                "Check the dataset id and your network, or pass data_dir.")
        raise DatasetLoadError(f"Cannot load the datasets of {list(tasks)}: {type(err).__name__}: {text} {hint}") \
            from err


def _fit_generation(tasks: dict[str, Any], max_length: int) -> dict[str, str]:
    """Cap a task's max_gen_toks below the model's context (lm-eval asserts otherwise); report what changed.

    Only models with a context shorter than a task's generation budget are affected (eq_bench's 512 tokens on a
    128-position test model); real models keep the leaderboard's settings.
    """
    adjusted = {}
    for name, task in tasks.items():
        kwargs = task.get_config("generation_kwargs") or {}
        wanted = kwargs.get("max_gen_toks")
        if task.get_config("output_type") == "generate_until" and wanted and wanted >= max_length:
            capped = max(1, max_length // 2)
            task.set_config(key="generation_kwargs", value={**kwargs, "max_gen_toks": capped})
            adjusted[name] = f"max_gen_toks {wanted} -> {capped} (model context {max_length})"
            logger.warning("%s: %s", name, adjusted[name])
    return adjusted


# ---------------------------------------------------------------------------------------------------- models

@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """How to load a model, whatever the backend (each backend reads what it needs)."""

    batch_size: int | str = 1
    max_batch_size: int = 64
    device: str | None = None
    dtype: str | None = None
    revision: str | None = None
    trust_remote_code: bool = False
    # backend "openai": the server, its key, the served model's context, chat requests, and whether the tasks need
    # prompt log-probabilities (multiple choice)
    endpoint: str | None = None
    api_key: str | None = None
    max_length: int | None = None
    chat: bool = False
    needs_loglikelihood: bool = True


@dataclasses.dataclass
class LoadedModel:
    """An lm-eval `LM` ready for `simple_evaluate`, with what the report needs about it."""

    lm: Any
    model_id: str
    params_b: float | None
    fingerprint: str  # names the response cache: changes with the weights and the settings


def load_model(model: Any, backend: str, options: ModelOptions) -> LoadedModel:
    """Load `model` (a Hub id, a folder, a tiny name, or a loaded text-generation pipeline) with `backend`."""
    if not isinstance(model, str):
        if not (hasattr(model, "model") and hasattr(model, "tokenizer")):
            raise InputError("model", model, "a Hub id, a local folder, 'tiny' or a text-generation pipeline")
        if backend != "hf":
            raise InputError("backend", backend, "'hf' when model is a loaded pipeline",
                             f"The {backend} backend loads the weights itself: pass the model id or folder instead.")
        model_id = str(getattr(model, "model_id", None) or model.model.name_or_path)
        return LoadedModel(_hflm(model.model, model.tokenizer, options), model_id, _params(model.model),
                           _fingerprint(model_id, model.model.config, model.model.dtype))
    model_id = model.strip()
    if not model_id:
        raise InputError("model", model, "a Hub id, a local folder or 'tiny'")
    path = model_id
    if model_id in TINY_NAMES:
        from pipelines import tiny

        variants = TASKS["text-generation"].tiny_variants
        if model_id not in variants:
            raise InputError("model", model_id, f"one of {list(variants)} (tiny test models), a Hub id or a folder")
        path = str(tiny.build("text-generation", model_id))
    return BACKEND_LOADERS[backend](path, model_id, options)


def _load_hf(path: str, model_id: str, options: ModelOptions) -> LoadedModel:
    """transformers' AutoModelForCausalLM on mmhub's device / dtype defaults, wrapped in lm-eval's HFLM."""
    import transformers

    from pipelines.base import resolve_device, resolve_dtype, translating_load_errors

    resolved = resolve_device(options.device)
    torch_dtype = resolve_dtype(options.dtype, resolved)
    with translating_load_errors(path, "text-generation"):
        hf_model = transformers.AutoModelForCausalLM.from_pretrained(
            path, revision=options.revision, dtype=torch_dtype, trust_remote_code=options.trust_remote_code)
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, revision=options.revision,
                                                               trust_remote_code=options.trust_remote_code)
    hf_model.to(resolved).eval()
    return LoadedModel(_hflm(hf_model, tokenizer, options), model_id, _params(hf_model),
                       _fingerprint(path, hf_model.config, torch_dtype, options.revision))


def _load_endpoint(path: str, model_id: str, options: ModelOptions) -> LoadedModel:
    """lm-eval's API model for the model served at ``options.endpoint`` (`eval.remote`); a tiny name is served by
    its folder (as a test server loads it)."""
    from eval.remote import DEFAULT_CONCURRENCY, openai_lm

    concurrency = options.batch_size if isinstance(options.batch_size, int) else DEFAULT_CONCURRENCY
    lm, served_id, fingerprint = openai_lm(options.endpoint, path, options.api_key,
                                           needs_loglikelihood=options.needs_loglikelihood, chat=options.chat,
                                           concurrency=concurrency, max_length=options.max_length)
    return LoadedModel(lm, model_id if model_id in TINY_NAMES else served_id, None, fingerprint)


def _hflm(hf_model, tokenizer, options: ModelOptions):
    from lm_eval.models.huggingface import HFLM

    with quiet_lm_eval():
        return HFLM(pretrained=hf_model, tokenizer=tokenizer, batch_size=options.batch_size,
                    max_batch_size=options.max_batch_size)


def _load_vllm(path: str, model_id: str, options: ModelOptions) -> LoadedModel:
    """lm-eval's vLLM model (a CUDA GPU and the vllm package)."""
    if importlib.util.find_spec("vllm") is None:
        raise ModelLoadError(model_id, "missing_dependency", "--backend vllm needs vLLM (a CUDA GPU): "
                                                             "pip install vllm, or use --backend hf")
    from lm_eval.models.vllm_causallms import VLLM

    from pipelines.base import translating_load_errors

    with translating_load_errors(path, "text-generation"):
        lm = VLLM(pretrained=path, dtype=options.dtype or "auto", revision=options.revision,
                  trust_remote_code=options.trust_remote_code, batch_size=options.batch_size,
                  max_batch_size=options.max_batch_size)
    return LoadedModel(lm, model_id, None, _fingerprint(path, None, options.dtype, options.revision, "vllm"))


# The one place backends are chosen: name -> loader(path, model id, options). A new backend is one function here.
BACKEND_LOADERS: dict[str, Callable[[str, str, ModelOptions], LoadedModel]] = {
    "hf": _load_hf, "vllm": _load_vllm, "openai": _load_endpoint}
BACKENDS = tuple(BACKEND_LOADERS)


def _params(hf_model) -> float:
    return sum(p.numel() for p in hf_model.parameters()) / 1e9


def _fingerprint(path: str, config: Any, *parts: Any) -> str:
    """A short hash that changes with the weights (commit, or a local folder's file times) and the settings."""
    items = [path, getattr(config, "_commit_hash", None), *map(str, parts)]
    folder = Path(path).expanduser()
    if folder.is_dir():
        items += sorted(f"{f.name}:{f.stat().st_mtime_ns}" for f in folder.iterdir() if f.is_file())
    return hashlib.sha1("|".join(map(str, items)).encode()).hexdigest()[:10]


def _slug(model_id: str) -> str:
    name = model_id.rstrip("/")
    if os.path.isabs(name) or name.startswith("."):
        name = Path(name).name
    return re.sub(r"[^A-Za-z0-9._-]+", "__", name)
