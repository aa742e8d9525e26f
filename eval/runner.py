"""Run the Polish suite with lm-eval and score it as the Open PL LLM Leaderboard does.

>>> from eval.runner import run
>>> report = run("speakleash/Bielik-1.5B-v3.0-Instruct", num_fewshot=[0, 5], batch_size="auto")
>>> report.rows[1].average          # the 5-shot Average, comparable with the published rows

The engine is lm-eval's own `simple_evaluate` over mmhub's task configs (``eval/tasks``, loaded with
``TaskManager(include_path=...)``), on lm-eval's HFLM (or its vLLM model); mmhub adds the model loading, the
response cache, the scoring (`eval.leaderboard`) and the output files.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import importlib.util
import json
import logging
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval import TASKS_DIR, leaderboard
from pipelines import TASKS, TINY_NAMES
from pipelines.errors import InputError, MmhubError, ModelLoadError

logger = logging.getLogger(__name__)

BACKENDS = ("hf", "vllm", "openai")


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
            ``polish_mc``, ``polish_generate``, or single tasks such as ``polemo2_in``.
        num_fewshot (`list[int]`, defaults to ``[5]``): n-shot settings, run one after the other on the same model.
        limit (`int` or `float`, *optional*): the first N docs of each task (or a fraction): smoke runs only.
        batch_size (`int` or ``"auto"``, defaults to 1), max_batch_size (`int`, defaults to 64): lm-eval's.
        device, dtype (`str`, *optional*): default CUDA + bfloat16 when present, else CPU + float32.
        revision, trust_remote_code: passed to ``from_pretrained`` (remote code stays off unless asked for).
        apply_chat_template (`bool`), fewshot_as_multiturn (`bool`): the leaderboard's ``,chat`` / ``,multiturn``.
        backend (`str`, defaults to ``"hf"``): ``"hf"`` (transformers), ``"vllm"`` (lm-eval's vLLM model, GPU) or
            ``"openai"``: `model` served at `endpoint` by an OpenAI-compatible server (see `eval.remote`; there
            `batch_size` is the number of concurrent requests).
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
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)
    shots = [num_fewshot] if isinstance(num_fewshot, int) else list(num_fewshot)
    _validate(tasks, shots, limit, batch_size, backend, data_dir)
    _validate_endpoint(backend, endpoint, max_length, device, dtype, revision)
    manager = task_manager(data_dir)
    _check_tasks(tasks, manager)

    if backend == "openai":
        lm, model_id, params_b, fingerprint = _load_endpoint(model, endpoint, api_key, manager, tasks,
                                                             apply_chat_template, batch_size, max_length)
    else:
        lm, model_id, params_b, fingerprint = _load_model(model, backend, batch_size, max_batch_size, device, dtype,
                                                          revision, trust_remote_code)
    out = Path(output_dir) if output_dir is not None else None
    cache = None
    if out is not None and use_cache:
        (out / "cache").mkdir(parents=True, exist_ok=True)
        cache = str(out / "cache" / f"{_slug(model_id)}-{fingerprint}")

    import lm_eval

    rows, results, adjusted = [], {}, {}
    for n in shots:
        loaded = _load_tasks(manager, tasks)
        adjusted.update(_fit_generation(loaded["tasks"], lm.max_length))
        logger.info("%s: %d tasks, %d-shot", model_id, len(loaded["tasks"]), n)
        output = lm_eval.simple_evaluate(
            model=lm, tasks=list(loaded["tasks"].values()), num_fewshot=n, limit=limit, use_cache=cache,
            apply_chat_template=apply_chat_template, fewshot_as_multiturn=fewshot_as_multiturn,
            task_manager=manager, log_samples=log_samples,
        )
        results[n] = output
        rows.append(leaderboard.Row.from_scores(model_id, n, leaderboard.scores_from_results(output["results"]),
                                                params_b))

    public = leaderboard.published_rows() if published else []
    markdown = leaderboard.table(rows, public)
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
        settings = {"model": model_id, "tasks": tasks, "num_fewshot": shots, "limit": limit, "backend": backend,
                    "endpoint": endpoint,
                    "apply_chat_template": apply_chat_template, "fewshot_as_multiturn": fewshot_as_multiturn,
                    "data_dir": str(data_dir) if data_dir else None, "adjusted": adjusted}
        files["json"] = str(leaderboard.write_json(rows, public, folder / "leaderboard.json", settings=settings))
        if plot:
            files["plot"] = str(leaderboard.plot(rows, folder / "leaderboard.png"))
    return Report(model_id, rows, {n: o["results"] for n, o in results.items()}, markdown, files, adjusted,
                  time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------------- validation

def _validate(tasks, shots, limit, batch_size, backend, data_dir) -> None:
    if not tasks or not all(isinstance(t, str) and t for t in tasks):
        raise InputError("tasks", tasks, "a non-empty list of task or group names, e.g. ['polish']")
    if not shots or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shots):
        raise InputError("num_fewshot", shots, "integers >= 0 (the leaderboard uses 0 and 5)")
    if len(set(shots)) != len(shots):
        raise InputError("num_fewshot", shots, "distinct n-shot settings")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit <= 0):
        raise InputError("limit", limit, "None, a number of docs >= 1, or a fraction in (0, 1)")
    if not (isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size >= 1) and not (
            isinstance(batch_size, str) and re.fullmatch(r"auto(:\d+)?", batch_size)):
        raise InputError("batch_size", batch_size, "an integer >= 1, 'auto' or 'auto:N'")
    if backend not in BACKENDS:
        raise InputError("backend", backend, f"one of {list(BACKENDS)}")
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raise InputError("data_dir", str(data_dir), "an existing folder of <hub id>/<split>.jsonl files",
                         "mmhub ships one: eval/fixtures.")


def _validate_endpoint(backend, endpoint, max_length, device, dtype, revision) -> None:
    if backend != "openai":
        for name, value in (("endpoint", endpoint), ("max_length", max_length)):
            if value is not None:
                raise InputError(name, value, "given with backend='openai' only")
        return
    if endpoint is None:
        raise InputError("endpoint", None, "the server's base URL with backend='openai', e.g. http://host:8000/v1")
    from pipelines import validate

    validate.url("endpoint", endpoint)
    validate.optional_integer("max_length", max_length, low=16, high=10_000_000)
    for name, value in (("device", device), ("dtype", dtype), ("revision", revision)):
        if value is not None:
            raise InputError(name, value, "None with backend='openai'", "The server loaded the weights: set it there.")


def _check_tasks(tasks: Sequence[str], manager) -> None:
    known = manager.all_tasks
    for name in tasks:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            raise InputError("tasks", name, "a Polish task or group (polish, polish_mc, polish_generate, ...)",
                             f"Did you mean {close[0]!r}?" if close else f"Known: {', '.join(sorted(known))}.")


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

def _load_model(model, backend, batch_size, max_batch_size, device, dtype, revision, trust_remote_code):
    """(lm-eval LM, model id, parameters in billions or None, cache fingerprint)."""
    if not isinstance(model, str):
        if not (hasattr(model, "model") and hasattr(model, "tokenizer")):
            raise InputError("model", model, "a Hub id, a local folder, 'tiny' or a text-generation pipeline")
        if backend != "hf":
            raise InputError("backend", backend, "'hf' when model is a loaded pipeline",
                             "vLLM loads the weights itself: pass the model id or folder instead.")
        model_id = str(getattr(model, "model_id", None) or model.model.name_or_path)
        return _hflm(model.model, model.tokenizer, batch_size, max_batch_size), model_id, \
            _params(model.model), _fingerprint(model_id, model.model.config, model.model.dtype)
    model_id = model.strip()
    path = model_id
    if model_id in TINY_NAMES:
        from pipelines import tiny

        variants = TASKS["text-generation"].tiny_variants
        if model_id not in variants:
            raise InputError("model", model_id, f"one of {list(variants)} (tiny test models), a Hub id or a folder")
        path = str(tiny.build("text-generation", model_id))
    if backend == "vllm":
        return _vllm(path, model_id, batch_size, max_batch_size, dtype, revision, trust_remote_code)

    import transformers

    from pipelines.base import resolve_device, resolve_dtype, translating_load_errors

    resolved = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, resolved)
    with translating_load_errors(path, "text-generation"):
        hf_model = transformers.AutoModelForCausalLM.from_pretrained(
            path, revision=revision, dtype=torch_dtype, trust_remote_code=trust_remote_code)
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, revision=revision,
                                                               trust_remote_code=trust_remote_code)
    hf_model.to(resolved).eval()
    return _hflm(hf_model, tokenizer, batch_size, max_batch_size), model_id, _params(hf_model), \
        _fingerprint(path, hf_model.config, torch_dtype, revision)


def _load_endpoint(model, endpoint, api_key, manager, tasks, chat, batch_size, max_length):
    """lm-eval's API model for `model` on `endpoint` (`eval.remote`); the tasks tell whether log-probs are needed."""
    from eval.remote import DEFAULT_CONCURRENCY, openai_lm

    if not isinstance(model, str) or not model.strip():
        raise InputError("model", model, "the served model's name with backend='openai'")
    name = model.strip()
    if name in TINY_NAMES:
        from pipelines import tiny

        name = str(tiny.build("text-generation", name))  # a test server serves the tiny model by its folder
    kinds = {task.get_config("output_type") for task in _load_tasks(manager, tasks)["tasks"].values()}
    concurrency = batch_size if isinstance(batch_size, int) else DEFAULT_CONCURRENCY
    needs_loglikelihood = bool(kinds - {"generate_until"})
    lm, model_id, fingerprint = openai_lm(endpoint, name, api_key, needs_loglikelihood=needs_loglikelihood,
                                          chat=chat, concurrency=concurrency, max_length=max_length)
    return lm, model.strip() if model.strip() in TINY_NAMES else model_id, None, fingerprint


def _hflm(hf_model, tokenizer, batch_size, max_batch_size):
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=hf_model, tokenizer=tokenizer, batch_size=batch_size, max_batch_size=max_batch_size)


def _vllm(path, model_id, batch_size, max_batch_size, dtype, revision, trust_remote_code):
    if importlib.util.find_spec("vllm") is None:
        raise ModelLoadError(model_id, "missing_dependency", "--backend vllm needs vLLM (a CUDA GPU): "
                                                             "pip install vllm, or use --backend hf")
    from lm_eval.models.vllm_causallms import VLLM

    from pipelines.base import translating_load_errors

    with translating_load_errors(path, "text-generation"):
        lm = VLLM(pretrained=path, dtype=dtype or "auto", revision=revision, trust_remote_code=trust_remote_code,
                  batch_size=batch_size, max_batch_size=max_batch_size)
    return lm, model_id, None, _fingerprint(path, None, dtype, revision, "vllm")


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
