"""Long jobs: one store and one runner for the API's job routes (``/v1/videos`` and its siblings, `job_routes`).

A job is created by a POST, answered at once as ``{id, status: "queued", progress: 0, ...}``, and run later by a
bounded pool of workers (``--job-workers``, default 2) on the app's shared model cache. Its state is polled with GET,
its output downloaded from ``.../content`` once ``completed``, and DELETE cancels it (a running job stops at its next
step: the pipelines' ``progress(step, total, info)`` callback returns False) and removes its files.

- **Progress**: the pipelines' callback sets ``progress`` (0-100) as the work goes; 100 only once the output is there.
- **A client that goes away** changes nothing: the job belongs to the server, not to the connection that made it.
- **Bounds**: at most ``--job-limit`` jobs queued or running per API key (default 4; past it, 429 with
  ``Retry-After``), and at most `MAX_STORED` jobs kept per key (finished ones included; DELETE or expiry frees them).
- **Expiry**: a finished job (completed or failed) and its files are removed ``--job-ttl`` seconds after it finished
  (default 3600; ``expires_at`` says when: the whole second at or after that). A sweep runs every
  ``min(ttl / 2, 60)`` s, and a job past its time is gone for GET at once.
- **Files**: each job is a folder ``<jobs dir>/<id>/`` with ``job.json`` (its state), its inputs and its outputs. The
  output is written under a temporary name and renamed into place, and ``job.json`` is replaced atomically: a reader
  (or a crash) never sees half a file. Without ``--jobs-dir`` the folder is a private temporary one, removed when the
  server stops; with ``--jobs-dir DIR`` jobs outlive a restart (one server per folder: it is locked).
- **Shutdown**: running jobs are stopped at their next step; with ``--jobs-dir`` they and the queued ones are kept
  (``queued``) and run again from the start at the next start; without, they fail cleanly with the error code
  ``server_shutdown``. No output is ever half-written.
- **Where the work runs**: an executor. `LocalExecutor` (``python -m spaces``) loads the model through the app's
  `ModelCache` and runs inside the task's API slot (`TaskLimits`: a job and a request never run one pipeline at
  once); on Ray Serve the ingress's executor streams the job to the task group's deployment (`spaces.api.ray_serve`).

>>> from spaces.api.jobs import JobSettings
>>> JobSettings().ttl, JobSettings().limit
(3600.0, 4)
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import math
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anyio

from pipelines.errors import Cancelled, InputError, MmhubError

from .errors import ApiError, from_exception
from .job_options import JobSettings

__all__ = ["Job", "JobRunner", "JobSettings", "JobStore", "LocalExecutor", "register_metrics"]

logger = logging.getLogger(__name__)

STATUSES = ("queued", "in_progress", "completed", "failed")
ACTIVE = ("queued", "in_progress")
MAX_STORED = 100  # jobs kept per key, finished ones included
MAX_QUEUED = 1000  # jobs queued or running in all (every key's --job-limit together)
STATE_FILE = "job.json"
PARTIAL = ".partial"  # the folder a running job writes into; its files are renamed into the job's folder at the end
ID_HEX = 32


class JobStopped(Exception):
    """A job's run was stopped: deleted by its owner, or the server is shutting down."""


@dataclass
class Job:
    """One job's state (``job.json``); `cancel` and `done` live in memory only."""

    id: str
    kind: str
    owner: str | None
    model: str
    params: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)  # field -> file name in the job's folder
    created_at: int = 0
    status: str = "queued"
    progress: int = 0
    started_at: int | None = None
    completed_at: int | None = None
    expires_at: int | None = None
    error: dict[str, Any] | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # variant -> file name in the job's folder
    result: dict[str, Any] = field(default_factory=dict)  # what the run reports (seed, size, duration, ...)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    deleted: bool = field(default=False, repr=False, compare=False)

    STATE_FIELDS = ("id", "kind", "owner", "model", "params", "inputs", "created_at", "status", "progress",
                    "started_at", "completed_at", "expires_at", "error", "outputs", "result")

    def state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.STATE_FIELDS}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Job:
        return cls(**{name: data[name] for name in cls.STATE_FIELDS if name in data})


def new_id(prefix: str) -> str:
    """``<prefix>_`` + 32 hex digits (OpenAI's ids look like ``video_68e...``)."""
    return f"{prefix}_{secrets.token_hex(ID_HEX // 2)}"


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to ``path`` through a temporary file in the same folder and an atomic rename."""
    handle, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def error_object(err: BaseException) -> dict[str, Any]:
    """A failed job's ``error`` (OpenAI's ``VideoCreateError``: code, message, param, type) for `err` (one made
    elsewhere, a Ray Serve replica's, is carried as ``err.error``)."""
    if isinstance(getattr(err, "error", None), dict):
        return err.error
    if isinstance(err, (ApiError, MmhubError)) or type(err).__name__ == "Error":
        try:
            api = from_exception(err)
        except TypeError:
            api = None
        if api is not None:
            return {"code": api.code or "invalid_value", "message": api.message, "param": api.param,
                    "type": api.type}
    return {"code": "internal_error", "message": f"The job failed unexpectedly ({type(err).__name__}); the details "
                                                 f"are in the server's log.", "param": None, "type": "server_error"}


# -- the store -------------------------------------------------------------------------------------------------------


class JobStore:
    """Jobs by id, each in its folder under `root`; thread-safe (workers update jobs from their threads)."""

    def __init__(self, settings: JobSettings):
        self.settings = settings
        self.persistent = settings.root is not None
        if self.persistent:
            self.root = Path(settings.root).expanduser().resolve()
            self.root.mkdir(parents=True, exist_ok=True)
        else:
            self.root = Path(tempfile.mkdtemp(prefix="mmhub-jobs-"))
        self._lock_file = lock_folder(self.root)
        self.jobs: dict[str, Job] = {}
        self._lock = threading.RLock()
        self.on_expired: Callable[[Job], None] = lambda job: None  # a metrics hook
        if self.persistent:
            self._load()

    # -- files

    def folder(self, job: Job) -> Path:
        return self.root / job.id

    def save(self, job: Job) -> None:
        """Write ``job.json`` (atomically); a deleted job is not written back."""
        if job.deleted:
            return
        folder = self.folder(job)
        if folder.is_dir():
            write_atomically(folder / STATE_FILE, json.dumps(job.state(), indent=1).encode())

    def _load(self) -> None:
        for state_file in sorted(self.root.glob(f"*/{STATE_FILE}")):
            try:
                job = Job.from_state(json.loads(state_file.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError) as err:
                logger.warning("skipping %s: not a job's state (%s)", state_file, err)
                continue
            if job.id != state_file.parent.name:
                logger.warning("skipping %s: its id is %r", state_file, job.id)
                continue
            if job.status in ACTIVE:  # queued, or stopped while running: run again from the start
                job.status, job.progress, job.started_at = "queued", 0, None
                shutil.rmtree(state_file.parent / PARTIAL, ignore_errors=True)
            self.jobs[job.id] = job
        self.expire()
        logger.info("jobs folder %s: %d jobs kept from an earlier run", self.root, len(self.jobs))

    # -- jobs

    def add(self, kind: str, prefix: str, owner: str | None, model: str, params: dict[str, Any],
            files: dict[str, tuple[bytes, str]]) -> Job:
        """A new queued job of `kind` with its input `files` ({field: (bytes, suffix)}), or a 429 when its owner has
        `JobSettings.limit` jobs queued or running (or `MAX_STORED` kept), or the server `MAX_QUEUED`."""
        with self._lock:
            self.expire()
            mine = [j for j in self.jobs.values() if j.owner == owner]
            active = [j for j in mine if j.status in ACTIVE]
            if len(active) >= self.settings.limit:
                raise ApiError(429, f"You have {len(active)} jobs queued or running, the most this server runs per "
                                    f"API key (--job-limit {self.settings.limit}); wait for one to finish or "
                                    f"DELETE one.", code="too_many_jobs", headers={"Retry-After": "5"})
            if len(mine) >= MAX_STORED:
                raise ApiError(429, f"You have {len(mine)} jobs kept here, the most per API key ({MAX_STORED}); "
                                    f"DELETE finished ones (they also expire {self.settings.ttl:g} s after they "
                                    f"finish).", code="too_many_jobs", headers={"Retry-After": "60"})
            if sum(j.status in ACTIVE for j in self.jobs.values()) >= MAX_QUEUED:
                raise ApiError(429, f"The server has {MAX_QUEUED} jobs waiting; retry later.", code="too_many_jobs",
                               headers={"Retry-After": "30"})
            job = Job(id=new_id(prefix), kind=kind, owner=owner, model=model, params=params,
                      created_at=int(time.time()))
            folder = self.folder(job)
            folder.mkdir()
            for name, (data, suffix) in files.items():
                file_name = f"input-{name}{suffix}"
                write_atomically(folder / file_name, data)
                job.inputs[name] = file_name
            self.save(job)
            self.jobs[job.id] = job
            return job

    def get(self, job_id: str, owner: str | None, kind: str | None = None) -> Job | None:
        """The job `job_id` of `owner` (of `kind`), unless it expired; None otherwise."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or job.owner != owner or (kind is not None and job.kind != kind):
                return None
            if job.expires_at is not None and job.expires_at <= time.time():
                self._remove(job)
                return None
            return job

    def list(self, owner: str | None, kind: str) -> list[Job]:
        with self._lock:
            self.expire()
            return sorted((j for j in self.jobs.values() if j.owner == owner and j.kind == kind),
                          key=lambda j: (j.created_at, j.id))

    def delete(self, job: Job) -> None:
        """Forget `job`; a running job is told to stop and its folder goes when its worker lets go of it."""
        with self._lock:
            job.deleted = True
            job.cancel.set()
            self.jobs.pop(job.id, None)
            running = job.status == "in_progress" and not job.done.is_set()
        if not running:
            shutil.rmtree(self.folder(job), ignore_errors=True)

    def _remove(self, job: Job) -> None:
        self.jobs.pop(job.id, None)
        job.deleted = True
        shutil.rmtree(self.folder(job), ignore_errors=True)
        logger.info("job %s expired: its files are removed", job.id)
        self.on_expired(job)

    def expire(self, now: float | None = None) -> int:
        """Remove the finished jobs past ``expires_at``; how many went."""
        now = time.time() if now is None else now
        with self._lock:
            gone = [j for j in self.jobs.values() if j.expires_at is not None and j.expires_at <= now]
            for job in gone:
                self._remove(job)
        return len(gone)

    def counts(self) -> dict[tuple[str, str], int]:
        """{(kind, status): jobs}."""
        with self._lock:
            counts: dict[tuple[str, str], int] = {}
            for job in self.jobs.values():
                counts[job.kind, job.status] = counts.get((job.kind, job.status), 0) + 1
            return counts

    def finish(self, job: Job, status: str, error: dict[str, Any] | None = None) -> None:
        """Mark `job` completed or failed, with its expiry."""
        with self._lock:
            now = time.time()
            job.status, job.error = status, error
            job.completed_at = int(now)
            job.expires_at = math.ceil(now + self.settings.ttl)  # whole seconds (as OpenAI's times), never early
            if status == "completed":
                job.progress = 100
            self.save(job)

    def close(self) -> None:
        """Release the folder (and remove it when it was a temporary one)."""
        with contextlib.suppress(OSError):
            self._lock_file.close()
        if not self.persistent:
            shutil.rmtree(self.root, ignore_errors=True)


def lock_folder(root: Path) -> Any:
    """Hold an exclusive lock on ``root/.lock`` for as long as the returned file is open; `InputError` naming
    ``--jobs-dir`` when another server holds it."""
    handle = open(root / ".lock", "a+")  # noqa: SIM115 - held open for the server's lifetime
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise InputError("--jobs-dir", str(root), "a folder no other mmhub server is using",
                         "Another server keeps its jobs there; give this one its own --jobs-dir.") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


# -- where jobs run ------------------------------------------------------------------------------------------------


Progress = Callable[[int, int, dict[str, Any]], bool]


class Executor(Protocol):
    """Runs a job's work somewhere: `slot` is held while it runs; `execute` writes the outputs into `out`."""

    def slot(self, task: str) -> contextlib.AbstractAsyncContextManager[None]: ...

    def execute(self, kind: Any, job: Job, inputs: dict[str, Path], out: Path, progress: Progress) -> dict[str, Any]:
        ...


@contextlib.asynccontextmanager
async def waiting_slot(limits: Any, task: str) -> AsyncIterator[None]:
    """A slot of `task` in the API's `TaskLimits`, waiting (instead of a 429) while its waiting room is full."""
    while True:
        try:
            ticket = await limits.acquire(task)
            break
        except ApiError as err:
            if err.status != 429:
                raise
            await asyncio.sleep(min(30.0, float(err.headers.get("Retry-After", "1"))))
    try:
        yield
    finally:
        ticket.release()


class LocalExecutor:
    """In this process: the app's model cache, the task's API slot, the job's worker thread."""

    def __init__(self, service: Any):
        self.service = service

    def slot(self, task: str) -> contextlib.AbstractAsyncContextManager[None]:
        return waiting_slot(self.service.limits, task)

    def execute(self, kind: Any, job: Job, inputs: dict[str, Path], out: Path, progress: Progress) -> dict[str, Any]:
        pipe = self.service.ctx.pipeline(kind.task, job.model, None, kind.tiny_variant)
        return kind.run(pipe, job.params, inputs, out, progress)


# -- the runner ------------------------------------------------------------------------------------------------------


class JobRunner:
    """Workers (asyncio tasks in the app's loop) taking queued jobs in order; each job's work runs in a thread."""

    def __init__(self, store: JobStore, kinds: dict[str, Any], executor: Executor, workers: int):
        self.store, self.kinds, self.executor, self.workers = store, kinds, executor, workers
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.stopping = threading.Event()
        self._tasks: list[asyncio.Task] = []
        self.finished: Callable[[str, str], None] = lambda kind, status: None  # a metrics hook

    def start(self) -> None:
        for job in sorted(self.store.jobs.values(), key=lambda j: (j.created_at, j.id)):
            if job.status == "queued":
                self.queue.put_nowait(job.id)
        self._tasks = [asyncio.ensure_future(self._work(n)) for n in range(self.workers)]
        self._tasks.append(asyncio.ensure_future(self._sweep()))

    def submit(self, job: Job) -> None:
        self.queue.put_nowait(job.id)

    async def _work(self, number: int) -> None:
        while not self.stopping.is_set():
            job_id = await self.queue.get()
            job = self.store.jobs.get(job_id)
            if job is None or job.status != "queued" or self.stopping.is_set():
                continue
            kind = self.kinds[job.kind]
            try:
                async with self.executor.slot(kind.task):
                    if job.deleted or self.stopping.is_set():
                        continue
                    await anyio.to_thread.run_sync(self.run, job)
            except Exception:  # noqa: BLE001 - a worker never dies of one job
                logger.exception("job %s: unexpected error in worker %d", job_id, number)

    async def _sweep(self) -> None:
        every = max(0.5, min(self.store.settings.ttl / 2, 60.0))
        while not self.stopping.is_set():
            await asyncio.sleep(every)
            await anyio.to_thread.run_sync(self.store.expire)

    def progress_for(self, job: Job) -> Progress:
        def progress(step: int, total: int, info: dict[str, Any] | None = None) -> bool:
            if job.cancel.is_set() or self.stopping.is_set():
                return False
            if total:
                job.progress = max(job.progress, min(99, int(100 * step / total)))
            return True

        return progress

    def run(self, job: Job) -> None:
        """One job, start to end, in a worker thread: its state, the work, the outputs renamed into place."""
        kind = self.kinds[job.kind]
        folder = self.store.folder(job)
        partial = folder / PARTIAL
        try:
            job.status, job.started_at, job.progress = "in_progress", int(time.time()), 0
            self.store.save(job)
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            inputs = {name: folder / file_name for name, file_name in job.inputs.items()}
            progress = self.progress_for(job)
            result = self.executor.execute(kind, job, inputs, partial, progress)
            if job.cancel.is_set() or self.stopping.is_set():
                raise JobStopped
            outputs = {}
            for variant, file_name in kind.outputs(result).items():
                os.replace(partial / file_name, folder / file_name)  # the finished file appears whole, or not at all
                outputs[variant] = file_name
            job.outputs, job.result = outputs, {k: v for k, v in result.items() if not k.startswith("_")}
            self.store.finish(job, "completed")
            self.finished(job.kind, "completed")
            logger.info("job %s completed", job.id)
        except (JobStopped, Cancelled) as err:
            self._stopped(job, err)
        except Exception as err:  # noqa: BLE001 - the job fails, the server keeps serving
            if error_object(err)["code"] == "internal_error":
                logger.exception("job %s failed unexpectedly", job.id)
            self._failed(job, err)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
            if job.deleted:
                shutil.rmtree(folder, ignore_errors=True)
            job.done.set()

    def _failed(self, job: Job, err: BaseException) -> None:
        if job.cancel.is_set() or self.stopping.is_set():
            self._stopped(job, err)
            return
        error = error_object(err)
        logger.info("job %s failed: %s", job.id, error["message"])
        self.store.finish(job, "failed", error)
        self.finished(job.kind, "failed")

    def _stopped(self, job: Job, err: BaseException) -> None:
        if job.deleted:
            logger.info("job %s cancelled", job.id)
            self.finished(job.kind, "cancelled")
        elif self.stopping.is_set():
            self._shut(job)
        else:  # a pipeline that stopped on its own (it should not): a failure, said so
            self.store.finish(job, "failed", {"code": "cancelled", "message": f"The work stopped early: {err}",
                                              "param": None, "type": "server_error"})
            self.finished(job.kind, "failed")

    def _shut(self, job: Job) -> None:
        """`job` at shutdown: kept as queued (``--jobs-dir``), or failed with ``server_shutdown``."""
        if self.store.persistent:
            job.status, job.progress, job.started_at = "queued", 0, None
            self.store.save(job)
            logger.info("job %s kept for the next start (queued)", job.id)
        else:
            self.store.finish(job, "failed", {"code": "server_shutdown", "message": "The server stopped before this "
                                              "job finished; create it again.", "param": None,
                                              "type": "server_error"})

    def stop(self, timeout: float) -> None:
        """Stop: running jobs end at their next step (waited for up to `timeout` s), queued ones are kept or
        failed (`_shut`); no worker takes another job."""
        self.stopping.set()
        running = [j for j in list(self.store.jobs.values()) if j.status == "in_progress"]
        for job in running:
            job.cancel.set()
        deadline = time.monotonic() + timeout
        for job in running:
            if not job.done.wait(max(0.0, deadline - time.monotonic())):
                logger.warning("job %s did not stop within %.0f s; its output is not kept", job.id, timeout)
        for job in list(self.store.jobs.values()):
            if job.status == "queued":
                self._shut(job)
        for task in self._tasks:
            task.cancel()


# -- metrics ---------------------------------------------------------------------------------------------------------


def register_metrics(registry: Any, store: JobStore, kinds: Iterable[str], runner: JobRunner) -> None:
    """``mmhub_jobs{kind,status}`` (jobs kept now, per status) and ``mmhub_jobs_finished_total{kind,status}``
    (completed, failed, cancelled, and expired: removed after ``--job-ttl``) on the API's Prometheus registry."""
    from prometheus_client import Counter
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector

    names = list(kinds)

    class JobCounts(Collector):
        def collect(self) -> Iterable[Any]:
            gauge = GaugeMetricFamily("mmhub_jobs", "Jobs kept now, per kind and status", labels=["kind", "status"])
            counts = store.counts()
            for kind in names:
                for status in STATUSES:
                    gauge.add_metric([kind, status], counts.get((kind, status), 0))
            yield gauge

    registry.register(JobCounts())
    finished = Counter("mmhub_jobs_finished", "Jobs that ended, per kind and how", ["kind", "status"],
                       registry=registry)
    runner.finished = lambda kind, status: finished.labels(kind, status).inc()
    store.on_expired = lambda job: finished.labels(job.kind, "expired").inc()
