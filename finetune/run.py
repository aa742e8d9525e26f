"""What every training script shares: the run folders, resuming, atomic publishing, the CLI shell, the Hub push.

A run writes checkpoints to ``<output>.partial/checkpoints`` and assembles its finished folder (model, card,
``metrics.json``, ``training_curve.png``) in ``<output>.partial/output``; only a complete folder is moved to
``<output>``, so a killed run never leaves a half-written output, and ``--resume`` continues from the newest
complete checkpoint.

A run holds an OS lock on ``<output>.lock`` while it runs (`pipelines.run_guard.RunLock`: a second run on the same
folder is refused; a killed run's lock goes with its process), records a fingerprint of its local inputs (every
argument that names an existing file or folder: ``--train-file``, ``--dataset DIR``, ``--instance-dir``, a local
``--model``) in ``<output>.partial/inputs.json`` and refuses a ``--resume`` over changed ones; and an output folder
that is, or holds, one of those inputs is refused, ``--overwrite`` or not. `preflight` checks, before anything loads,
what would otherwise fail late: ``--cache-dir`` must be a folder, worker counts at most the CPUs, ``--push-to-hub``
needs the Hub and a token.

>>> from finetune.run import run_in_folders
>>> metrics = run_in_folders(args.output_dir, recorded_args, args.resume, args.overwrite,
...                          lambda folders, resume_from: train(args, folders, resume_from), args=args)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from pipelines.run_guard import RunLock, changes, check_not_input, fingerprints, local_inputs, lock_path
from pipelines.textfiles import JSONError, parse_json

logger = logging.getLogger(__name__)

T = TypeVar("T")


class UsageError(ValueError):
    """The arguments contradict each other, or the folders do not allow the run; the message says what to pass."""


class PushError(RuntimeError):
    """The run finished and its folder is saved, but uploading it to the Hub failed; the message says how to retry."""


@dataclass
class RunFolders:
    """``output`` (final); ``work`` = ``<output>.partial``, holding ``checkpoints/`` and the ``output/`` staging.

    A checkpoint is a ``checkpoint-<step>`` folder whose `marker` file (written last) parses as JSON: the
    Trainer's ``trainer_state.json`` by default.
    """

    output: Path
    marker: str = "trainer_state.json"

    @property
    def work(self) -> Path:
        return self.output.with_name(self.output.name + ".partial")

    @property
    def checkpoints(self) -> Path:
        return self.work / "checkpoints"

    @property
    def staging(self) -> Path:
        return self.work / "output"

    @property
    def run_args(self) -> Path:
        return self.work / "run_args.json"

    @property
    def inputs(self) -> Path:
        """The fingerprint of the run's local inputs (`pipelines.run_guard.fingerprints`)."""
        return self.work / "inputs.json"

    @property
    def lock(self) -> Path:
        return lock_path(self.output)

    def last_checkpoint(self, remove_incomplete: bool = False) -> str | None:
        """The newest *complete* checkpoint, or None.

        Checkpoints are written in place, so a kill during a save leaves a half-written newest folder; it is
        skipped (and, with `remove_incomplete`, deleted so that checkpoint rotation cannot count it).
        """
        if not self.checkpoints.is_dir():
            return None
        found = [(int(p.name.rsplit("-", 1)[1]), p) for p in self.checkpoints.glob("checkpoint-*")
                 if p.is_dir() and p.name.rsplit("-", 1)[1].isdigit()]
        for _, path in sorted(found, reverse=True):
            try:
                parse_json((path / self.marker).read_text())
                return str(path)
            except (OSError, ValueError):
                logger.warning("skipping the incomplete checkpoint %s (the run was stopped while saving it)", path)
                if remove_incomplete:
                    shutil.rmtree(path, ignore_errors=True)
        return None


def flag_name(field_name: str) -> str:
    """The command-line flag of an arguments-dataclass field (``max_steps`` -> ``--max-steps``), for messages."""
    return f"--{field_name.replace('_', '-')}"


def checkpoint_step(checkpoint: str | None) -> int | None:
    """The step of a ``checkpoint-<step>`` folder (the Trainer's best checkpoint), or None."""
    return int(checkpoint.rsplit("-", 1)[-1]) if checkpoint else None


def recorded_arguments(args: Any, resume_free: set[str]) -> dict[str, Any]:
    """The dataclass `args` as a dict, without the fields that may change between a run and its ``--resume``."""
    return {k: v for k, v in dataclasses.asdict(args).items() if k not in resume_free}


def card_hyperparameters(args: Any, resume_free: set[str], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The recorded arguments a model card lists: those that are set, without the output folder and `skip`."""
    return {k: v for k, v in recorded_arguments(args, resume_free).items()
            if v is not None and k != "output_dir" and k not in skip}


def prepare_folders(output_dir: str, recorded: dict[str, Any], resume: bool, overwrite: bool,
                    marker: str = "trainer_state.json") -> tuple[RunFolders, str | None]:
    """Check the output folder and an earlier run's checkpoints; return the folders and the checkpoint to resume.

    `recorded` are the arguments that define what is trained: a ``--resume`` must repeat them.
    """
    if resume and overwrite:
        raise UsageError("--resume and --overwrite contradict each other: pick one.")
    folders = RunFolders(Path(output_dir).expanduser().resolve(), marker)
    if "output_dir" in recorded:  # the same folder however it is spelt (relative, absolute, through a symlink)
        recorded = {**recorded, "output_dir": str(folders.output)}
    inputs = {flag_name(k): v for k, v in local_inputs(recorded, skip=_NOT_INPUTS).items()}
    check_not_input(folders.output, inputs, "--output-dir", also=[folders.work, folders.lock])
    if folders.output.exists() and not folders.output.is_dir():
        raise UsageError(f"--output-dir {folders.output} is a file; choose a folder path.")
    if folders.output.exists() and any(folders.output.iterdir()) and not overwrite:
        if resume:  # the output folder appears only when a run completes (checkpoints live beside it)
            raise FileExistsError(f"the output folder {folders.output} exists, so its run has finished (or it holds "
                                  f"other files): nothing to resume. Pass --overwrite (without --resume) to train "
                                  f"again, or choose another --output-dir.")
        raise FileExistsError(f"the output folder {folders.output} exists and is not empty; pass --overwrite to "
                              f"replace it, or choose another --output-dir.")
    last = folders.last_checkpoint(remove_incomplete=resume)
    now = fingerprints({k: v for k, v in inputs.items() if k not in _GROWN_BY_THE_RUN},
                       exclude=[folders.output, folders.work, folders.lock])
    if resume:
        if last is None:
            logger.warning("--resume: no checkpoint in %s yet; starting from the beginning.", folders.checkpoints)
        else:
            _check_same_run(folders, recorded, now)
    elif last is not None and not overwrite:
        raise FileExistsError(f"an earlier run left checkpoints in {folders.checkpoints} (last: "
                              f"{Path(last).name}); pass --resume to continue it, or --overwrite to start over.")
    elif folders.work.exists():
        shutil.rmtree(folders.work)
    folders.checkpoints.mkdir(parents=True, exist_ok=True)
    folders.run_args.write_text(json.dumps(recorded, indent=1, sort_keys=True, default=str))
    folders.inputs.write_text(json.dumps(now, indent=1, sort_keys=True))
    return folders, last if resume else None


def _check_same_run(folders: RunFolders, recorded: dict[str, Any], inputs: dict[str, Any]) -> None:
    """`UsageError` when a ``--resume`` changes the recorded arguments, or its inputs changed since the run began."""
    if folders.run_args.exists():
        try:
            before = parse_json(folders.run_args.read_bytes())
        except (OSError, JSONError) as err:
            raise UsageError(f"--resume: the interrupted run's record {folders.run_args} is unreadable ({err}); pass "
                             f"--overwrite (without --resume) to start again.") from None
        if not isinstance(before, dict):
            raise UsageError(f"--resume: the interrupted run's record {folders.run_args} is not an object; pass "
                             f"--overwrite (without --resume) to start again.")
        if isinstance(before.get("output_dir"), str):  # recorded as typed by runs before the rule above
            before["output_dir"] = str(Path(before["output_dir"]).expanduser().resolve())
        changed = {k: (before.get(k), v) for k, v in recorded.items() if before.get(k) != v}
        if changed:
            detail = "; ".join(f"{flag_name(k)} was {a!r}, now {b!r}" for k, (a, b) in changed.items())
            raise UsageError(f"--resume must repeat the interrupted run's arguments: {detail}.")
    if not folders.inputs.exists():
        logger.warning("--resume: the interrupted run recorded no fingerprint of its inputs; not checking them")
        return
    try:
        before = parse_json(folders.inputs.read_bytes())
    except (OSError, JSONError):
        before = None
    changed = changes(before, inputs) if isinstance(before, dict) else ["its record (inputs.json) is unreadable"]
    if changed:
        raise UsageError(f"--resume: the inputs changed since the interrupted run: {'; '.join(changed)}. Resuming "
                         f"would train on a mix of the old and the new data: restore them, or pass --overwrite "
                         f"(without --resume) to start again.")


def run_in_folders(output_dir: str, recorded: dict[str, Any], resume: bool, overwrite: bool,
                   train: Callable[[RunFolders, str | None], T], marker: str = "trainer_state.json",
                   single_process: str | None = None, args: Any = None) -> T:
    """Prepare the folders (on the main process; the others wait), run ``train(folders, resume_from)``.

    A run that fails before its first checkpoint leaves no trace; one that fails later keeps its checkpoints for
    ``--resume``. Works in one process and under ``accelerate launch`` / ``torchrun``, except for a trainer that
    names itself in `single_process` (its loop is not distributed): launched as several processes, it refuses to
    start rather than have them all train and race for the same output folder. The main process holds the output's
    lock from before the folders are prepared until the run has published (or failed); with `args` (the trainer's
    arguments), `preflight` checks them first.
    """
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if single_process and world > 1:
        raise UsageError(f"{single_process} trains in one process; run it with python -m {single_process}, not under "
                         f"torchrun / accelerate launch (WORLD_SIZE={world}).")
    if args is not None:
        preflight(args)
    state = process_state()
    lock = RunLock(Path(output_dir).expanduser().resolve(), "--output-dir")
    try:
        if state.is_main_process:  # the other processes of a launch run under its lock (a launcher stops them all)
            lock.acquire()
            folders, resume_from = prepare_folders(output_dir, recorded, resume, overwrite, marker)
        state.wait_for_everyone()
        if not state.is_main_process:
            folders = RunFolders(Path(output_dir).expanduser().resolve(), marker)
            resume_from = folders.last_checkpoint() if resume else None
        try:
            return train(folders, resume_from)
        except BaseException:
            if state.is_main_process and folders.last_checkpoint() is None:
                shutil.rmtree(folders.work, ignore_errors=True)  # nothing worth resuming: leave no trace
            raise
    finally:
        lock.release()


#: Arguments that name what a run writes or where it uploads, never what it reads.
_NOT_INPUTS = {"output_dir", "hub_model_id", "cache_dir", "logging_dir"}
#: Inputs the run itself adds to (finetune.sd_lora generates the missing class images into --class-dir): guarded
#: against --overwrite like any input, but not fingerprinted, since a resume finds them grown by the run itself.
_GROWN_BY_THE_RUN = {"--class-dir"}


def preflight(args: Any) -> None:
    """Check, before any data or model loads, what would otherwise fail late (each a `UsageError` naming the flag):

    - ``--cache-dir`` names a folder (or one that can be created), not a file;
    - ``--dataloader-num-workers`` / ``--preprocessing-num-workers`` at most the CPUs this process may use (torch's
      ``DataLoader`` warns above that count, ``_check_worker_number_rationality``: more workers only add load);
    - ``--push-to-hub`` with the Hub switched on (not ``HF_HUB_OFFLINE=1``), a token, and a valid
      ``--hub-model-id``: otherwise the upload fails after the whole training.
    """
    cache_dir = getattr(args, "cache_dir", None)
    if cache_dir is not None:
        check_cache_dir(cache_dir)
    cpus = available_cpus()
    for name in ("dataloader_num_workers", "preprocessing_num_workers"):
        value = getattr(args, name, None)
        if isinstance(value, int) and value > cpus:
            raise UsageError(f"{flag_name(name)} {value}: this machine gives the run {cpus} CPU(s); use at most "
                             f"{cpus} worker processes (more only add load).")
    if getattr(args, "push_to_hub", False):
        check_hub_push(getattr(args, "hub_model_id", None))


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_cache_dir(value: Any) -> Path:
    """``--cache-dir`` as a folder path: an existing writable folder, or one that can be created there."""
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise UsageError(f"--cache-dir must be a folder path; got {value!r}.")
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UsageError(f"--cache-dir {value}: it is a file, not a folder; choose a folder for datasets' cache.")
        if not os.access(path, os.W_OK | os.X_OK):
            raise UsageError(f"--cache-dir {value}: the folder is not writable; choose another.")
        return path
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--cache-dir {value}: it cannot be created ({parent} is not a writable folder).")
    return path


def check_hub_push(repo_id: str | None) -> None:
    """`UsageError` before training when ``--push-to-hub`` cannot work: offline mode, no token, a bad repo id."""
    from huggingface_hub import constants, get_token
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if constants.is_offline_mode():
        raise UsageError("--push-to-hub: the Hugging Face Hub is switched off here (HF_HUB_OFFLINE=1), so the upload "
                         "would fail after training. Unset HF_HUB_OFFLINE, or train without --push-to-hub and upload "
                         "the folder later (hf upload REPO FOLDER).")
    if not get_token():
        raise UsageError("--push-to-hub needs a Hugging Face token: log in first (hf auth login) or set HF_TOKEN.")
    if repo_id is not None:
        try:
            validate_repo_id(repo_id)
        except HFValidationError as err:
            raise UsageError(f"--hub-model-id {repo_id!r} is not a Hub repository id ({err}).") from None


def process_state():
    """accelerate's `PartialState` of this process. Several processes on a machine without CUDA talk over gloo.

    accelerate picks its CPU backend (gloo) only when asked for the CPU (``state.py`` ``_prepare_backend``), and the
    Trainer asks only when ``ACCELERATE_USE_CPU`` is set (``training_args.py`` ``_setup_devices``). ``torchrun`` and
    ``accelerate launch --multi_gpu`` do not set it, so on a CPU machine every process would think it was alone and
    train on all the data, racing the others for the output folder; it is set here for them.
    """
    import torch
    from accelerate import PartialState

    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 and not torch.cuda.is_available():
        if os.environ.get("ACCELERATE_USE_CPU") is None:
            logger.info("%s processes without CUDA: distributed over gloo on the CPU", os.environ["WORLD_SIZE"])
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")
        return PartialState(cpu=True)
    return PartialState()


def publish(folders: RunFolders) -> None:
    """Move the finished staging folder to the output (replacing an old one only once the new one is complete),
    then drop the work folder."""
    output, old = folders.output, None
    if output.exists():
        old = output.with_name(f"{output.name}.old-{os.getpid()}")
        os.replace(output, old)
    os.replace(folders.staging, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(folders.work, ignore_errors=True)


def publish_and_push(folders: RunFolders, args: Any, message: str) -> None:
    """`publish`, then upload the output folder when ``args.push_to_hub`` (to ``args.hub_model_id``, private when
    ``args.hub_private``) with the commit `message`."""
    publish(folders)
    if args.push_to_hub:
        try:
            push_to_hub(folders.output, args.hub_model_id, args.hub_private, message)
        except Exception as err:  # the network, the token's rights, the Hub: the trained folder is safe either way
            raise PushError(f"trained and saved to {folders.output}, but the upload to the Hub failed "
                            f"({type(err).__name__}: {err}). Upload it later: hf upload "
                            f"{args.hub_model_id or folders.output.name} {folders.output}") from err


@contextmanager
def resume_hint(folders: RunFolders) -> Iterator[None]:
    """Log, when the run is interrupted (Ctrl-C, a progress callback), how to continue it; the interrupt goes on."""
    try:
        yield
    except KeyboardInterrupt:
        last = folders.last_checkpoint()
        logger.error("interrupted; %s", f"rerun with --resume to continue from {Path(last).name}" if last
                     else "no checkpoint was written yet")
        raise


def write_report(staging: Path, metrics: dict[str, Any], card: str, log_history: list[dict[str, Any]],
                 title: str) -> None:
    """``metrics.json``, ``training_curve.png`` and the ``README.md`` model card into the staging folder."""
    from finetune.report import plot_training_curve

    staging.mkdir(parents=True, exist_ok=True)
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    plot_training_curve(log_history, staging / "training_curve.png", title=title)
    (staging / "README.md").write_text(card)


def push_to_hub(folder: Path, repo_id: str | None, private: bool, message: str) -> str:
    """Upload a finished output folder to the Hub (``repo_id`` defaults to the folder's name); returns the repo."""
    from huggingface_hub import HfApi

    api = HfApi()
    repo = api.create_repo(repo_id or folder.name, private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo.repo_id, commit_message=message)
    logger.info("pushed to https://huggingface.co/%s", repo.repo_id)
    return repo.repo_id


def precision_flags(precision: str) -> dict[str, bool]:
    """TrainingArguments' ``fp16`` / ``bf16`` for ``auto`` / ``fp32`` / ``fp16`` / ``bf16`` on this machine."""
    import torch

    from pipelines.base import resolve_device, resolve_dtype

    if precision not in ("auto", "fp32", "fp16", "bf16"):
        raise UsageError(f"--precision must be auto, fp32, fp16 or bf16; got {precision!r}.")
    if precision == "auto":
        dtype = resolve_dtype(None, resolve_device(None))
    else:
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
        if dtype == torch.float16 and not torch.cuda.is_available():
            raise UsageError("--precision fp16 needs a CUDA GPU; use fp32 or bf16 on CPU.")
    return {"fp16": dtype == torch.float16, "bf16": dtype == torch.bfloat16}


def resolve_model(task: str, model: str, variant: str | None = None) -> str:
    """A Hub id or folder as given; a reserved tiny name (``"tiny"``...) -> the folder of that tiny model."""
    from pipelines import TINY_NAMES

    if model in TINY_NAMES:
        from pipelines import tiny

        return str(tiny.build(task, variant or model))
    return model


def _prog(dataclass_type: type) -> str:
    """``python -m finetune.X`` for the module defining `dataclass_type` (named by its spec when run as __main__)."""
    module = dataclass_type.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else module
    return f"python -m {module}"


def cli_main(argv: list[str] | None, dataclass_type: type, main: Callable[[Any], T], summary: Callable[[T, Any], str],
             description: str, expected: tuple[type[BaseException], ...] = (), prog: str | None = None) -> int:
    """The shell of every training CLI: parse `argv` into `dataclass_type` (`HfArgumentParser`), run ``main(args)``,
    print ``summary(result, args)``. Bad arguments, data or folders print one ``error: ...`` line and exit 2."""
    from transformers import HfArgumentParser

    from pipelines.errors import DataError, InputError, ModelLoadError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = HfArgumentParser(dataclass_type, description=description, prog=prog or _prog(dataclass_type))

    def one_line(message: str) -> NoReturn:  # argparse's own errors: one line, not the usage block
        raise UsageError(f"{message} (see {parser.prog} --help)")

    parser.error = one_line  # type: ignore[method-assign]
    try:
        try:
            (args,) = parser.parse_args_into_dataclasses(args=argv)
        except ValueError as err:  # HfArgumentParser's word for flags it does not know (argparse would exit 2)
            if isinstance(err, UsageError) or "not used by the HfArgumentParser" not in str(err):
                raise
            raise UsageError(f"unrecognized arguments: {str(err).split(': ', 1)[-1]} (see {parser.prog} --help)") \
                from None
        result = main(args)
    except (UsageError, FileExistsError, ModelLoadError, InputError, DataError, PushError, *expected) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if int(os.environ.get("RANK", "0") or 0) == 0:  # under torchrun / accelerate launch: the main process reports
        print(summary(result, args))
    return 0


def check_lora_targets(model: Any, targets: str | list[str] | None) -> None:
    """`UsageError` unless every name in `targets` (``--lora-target-modules``) names a module of `model`.

    peft matches a name against each module's full name, equal or as a ``.``-suffix (``tuners_utils.py``
    ``check_target_module_exists``); a name that matches nothing fails deep inside peft with a traceback. None and
    ``all-linear`` (peft's choice) are not checked. The message lists names peft can adapt (linear, convolution and
    embedding layers, GPT-2's Conv1D).
    """
    if targets is None or targets == "all-linear":
        return
    names = [name for name, _ in model.named_modules() if name]
    unknown = [t for t in targets if not any(n == t or n.endswith(f".{t}") for n in names)]
    if not unknown:
        return
    adaptable = ("Linear", "Conv1D", "Conv1d", "Conv2d", "Embedding")
    valid = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                    if name and type(module).__name__ in adaptable})
    shown = ", ".join(valid[:12]) + (", ..." if len(valid) > 12 else "")
    kind = getattr(getattr(model, "config", None), "model_type", None) or type(model).__name__
    raise UsageError(f"--lora-target-modules: no module named {', '.join(map(repr, unknown))} in this {kind} model; "
                     f"valid names include {shown} (or all-linear).")
