"""What every API route shares: the app's `Context` (its model cache, its model-field policy), the limits, the
metrics, the voice library, and the way a pipeline call runs (a task slot, a worker thread, typed errors).

A route gets it with ``service: Service = Depends(get_service)``. A blocking pipeline call runs as
``await service.run(request, task, fn, *args)``; a streamed one as ``await service.stream(request, task, make)``.

>>> # inside a route:
>>> # clf = await service.pipeline(request, "sentiment", body.model)
>>> # result = await service.run(request, "sentiment", clf, texts)
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from fastapi import Request
from starlette.concurrency import iterate_in_threadpool

from pipelines import TASKS, TINY_NAMES
from pipelines.voices import VoiceLibrary

from ..common import Context
from .errors import ApiError, from_exception
from .limits import TaskLimits
from .metrics import Metrics

logger = logging.getLogger(__name__)


@dataclass
class ApiSettings:
    """The API's options (`spaces.api.options`): keys, the app's login, limits, the body cap, the voices folder."""

    api_keys: tuple[str, ...] = ()
    login: tuple[str, str] | None = None
    limits: dict[str, int] = field(default_factory=dict)
    queue: int = 16
    max_body_bytes: int = 200 * 2**20
    voices_dir: str | Path | None = None
    shutdown_timeout: float = 30.0
    jobs: Any = None  # `spaces.api.job_options.JobSettings` (service-jobs); None: the defaults


@dataclass
class Service:
    """The shared state of one API app (``app.state.service``)."""

    ctx: Context
    settings: ApiSettings
    metrics: Metrics
    limits: TaskLimits
    voices: VoiceLibrary
    extras: dict[str, Any] = field(default_factory=dict)  # what other routers keep (service-jobs: the job store)

    @classmethod
    def create(cls, ctx: Context, settings: ApiSettings | None = None) -> Service:
        settings = settings or ApiSettings()
        metrics = Metrics(loaded=functools.partial(loaded_models, ctx))
        return cls(ctx, settings, metrics, TaskLimits(settings.limits, settings.queue, metrics),
                   VoiceLibrary(settings.voices_dir))

    # -- models ----------------------------------------------------------------------------------------------------

    def check_model(self, task: str, model: Any, tiny_variant: str = "tiny") -> str:
        """The model the request may use for `task` (the app's policy: `Context.check_model`), or a 400 naming
        ``model``."""
        try:
            return self.ctx.check_model(task, model, tiny_variant)
        except Exception as err:  # noqa: BLE001 - gr.Error / InputError: the refusal, as a 400
            if type(err).__name__ == "Error" or isinstance(err, ValueError):
                raise from_exception(err, "model") from err
            raise

    async def pipeline(self, request: Request, task: str, model: Any, tiny_variant: str = "tiny") -> Any:
        """The cached pipeline for `task` (loaded once, shared with the app's tabs), in a worker thread."""
        name = self.check_model(task, model, tiny_variant)
        request.state.task = task
        request.state.model = name
        if name in TINY_NAMES and name not in TASKS[task].tiny_variants:
            raise ApiError(400, f"`model` {name!r} is a tiny stand-in of another task; for {task} use one of "
                                f"{list(TASKS[task].tiny_variants)}.", param="model", code="model_wrong_task")
        return await self._call(functools.partial(self.ctx.pipeline, task, name, None, tiny_variant))

    # -- calls -----------------------------------------------------------------------------------------------------

    async def run(self, request: Request, task: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in a worker thread, inside a slot of `task` (429 when the queue is full)."""
        request.state.task = task
        async with self.limits.slot(task):
            return await self._call(functools.partial(fn, *args, **kwargs))

    async def offload(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in a worker thread without a task slot (light work: encoding, the voice files)."""
        return await self._call(functools.partial(fn, *args, **kwargs))

    async def stream(self, request: Request, task: str, make: Callable[[], Iterator[Any]]) -> ThreadedStream:
        """An async iterator over ``make()`` (run in worker threads) holding a slot of `task` until it ends.

        The slot is taken before this returns, so that a full queue is still a 429 status, not a broken stream; the
        iterator is closed when the client goes away (the pipeline then stops generating). ``.source`` is what
        ``make()`` returned (a `TextStream` says how the generation ended)."""
        request.state.task = task
        ticket = await self.limits.acquire(task)
        try:
            chunks = await self._call(make)
        except BaseException:
            ticket.release()
            raise
        return ThreadedStream(chunks, ticket)

    @staticmethod
    async def _call(fn: Callable[[], Any]) -> Any:
        try:
            return await anyio.to_thread.run_sync(fn)
        except ApiError:
            raise
        except Exception as err:  # mmhub's typed errors (and the model field's gr.Error) become 4xx / 5xx
            try:
                raise from_exception(err) from err
            except TypeError:
                raise err from None


class ThreadedStream:
    """A blocking iterator consumed in worker threads, as an async iterator that releases a task slot at its end."""

    def __init__(self, source: Iterator[Any], ticket: Any):
        self.source, self.ticket = source, ticket

    async def __aiter__(self) -> AsyncIterator[Any]:
        try:
            async for chunk in iterate_in_threadpool(self.source):
                yield chunk
        finally:
            close = getattr(self.source, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await anyio.to_thread.run_sync(close)
            self.ticket.release()


def loaded_models(ctx: Context) -> list[tuple[str, str, int]]:
    """(task, model, bytes) of each model in the app's cache now."""
    return ctx.cache.loaded()


def get_service(request: Request) -> Service:
    """FastAPI dependency: the app's `Service`."""
    return request.app.state.service
