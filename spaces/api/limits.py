"""Load limits of the API: per-task concurrency with a bounded queue (past it: 429 + ``Retry-After``), and a cap on
request bodies (past it: 413), the same size as the app's uploads (``--max-file-size``).

A request takes a slot of its task (`TaskLimits.slot`) for as long as it runs, a streamed answer until its last
chunk. When every slot is taken, up to ``queue`` requests wait; one more is refused at once with 429 and a
``Retry-After`` estimated from the task's recent durations, so that clients back off instead of piling up.

>>> import asyncio
>>> from spaces.api.limits import TaskLimits
>>> limits = TaskLimits({"sentiment": 2}, queue=0)
>>> async def one():
...     async with limits.slot("sentiment"):
...         return limits.gate("sentiment").running
>>> asyncio.run(one())
1
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator
from typing import Any

from .errors import ApiError
from .requestid import is_api_request

DEFAULT_LIMIT = 1


class TaskGate:
    """One task's slots and waiting room."""

    def __init__(self, task: str, limit: int, queue: int, metrics: Any = None):
        self.task, self.limit, self.queue, self.metrics = task, limit, queue, metrics
        self.semaphore = asyncio.Semaphore(limit)
        self.waiting = self.running = 0
        self.mean_seconds = 1.0  # a running mean of recent durations, for Retry-After

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead, served `limit` at a time."""
        return max(1, math.ceil(self.mean_seconds * (self.waiting + 1) / self.limit))

    def _gauge(self, name: str, delta: int) -> None:
        if self.metrics is not None:
            getattr(self.metrics, name).labels(self.task).inc(delta)

    async def acquire(self) -> Ticket:
        """A slot (waiting for one when the queue has room), or a 429 `ApiError` at once when it has none."""
        if self.running >= self.limit and self.waiting >= self.queue:
            seconds = self.retry_after()
            raise ApiError(429, f"Too many {self.task} requests: {self.running} running and {self.waiting} waiting "
                                f"(the server's limits). Retry in about {seconds} s.",
                           code="rate_limit_exceeded", headers={"Retry-After": str(seconds)})
        self.waiting += 1
        self._gauge("queue_depth", 1)
        try:
            await self.semaphore.acquire()
        finally:
            self.waiting -= 1
            self._gauge("queue_depth", -1)
        self.running += 1
        self._gauge("in_flight", 1)
        return Ticket(self)

    def _release(self, started: float) -> None:
        self.running -= 1
        self._gauge("in_flight", -1)
        self.semaphore.release()
        self.mean_seconds = 0.8 * self.mean_seconds + 0.2 * (time.monotonic() - started)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        ticket = await self.acquire()
        try:
            yield
        finally:
            ticket.release()


class Ticket:
    """A held slot; `release` is idempotent, and a ticket dropped unreleased (a streamed answer whose client left
    before it began) gives its slot back when it is collected."""

    def __init__(self, gate: TaskGate):
        self.gate, self.started, self.released = gate, time.monotonic(), False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.gate._release(self.started)

    def __del__(self) -> None:
        self.release()


class TaskLimits:
    """The gates of every task: ``limits`` {task: slots} (others get `DEFAULT_LIMIT`), ``queue`` waiting per task."""

    def __init__(self, limits: dict[str, int] | None = None, queue: int = 16, metrics: Any = None):
        self.limits, self.queue, self.metrics = dict(limits or {}), queue, metrics
        self._gates: dict[str, TaskGate] = {}

    def gate(self, task: str) -> TaskGate:
        if task not in self._gates:
            self._gates[task] = TaskGate(task, self.limits.get(task, DEFAULT_LIMIT), self.queue, self.metrics)
        return self._gates[task]

    def slot(self, task: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self.gate(task).slot()

    async def acquire(self, task: str) -> Ticket:
        return await self.gate(task).acquire()


class BodyLimitMiddleware:
    """ASGI middleware: a body above `max_bytes` under `prefixes` gets 413 (by ``Content-Length`` at once, or as soon
    as a chunked body passes the limit)."""

    def __init__(self, app: Any, max_bytes: int, prefixes: tuple[str, ...], render: Any):
        self.app, self.max_bytes, self.prefixes, self.render = app, max_bytes, prefixes, render

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if not is_api_request(scope, self.prefixes):
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, send)
            return
        if length is None:  # a chunked body: read it here (up to the limit), then hand it on in one piece
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                size += len(message.get("body", b""))
                if size > self.max_bytes:
                    await self._refuse(scope, send)
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            replayed = {"done": False}

            async def replay() -> dict:
                if not replayed["done"]:
                    replayed["done"] = True
                    return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: dict, send: Any) -> None:
        status, body, headers = self.render(scope.get("path", ""), ApiError(
            413, f"The request body is larger than this server takes ({self.max_bytes} bytes; the operator sets it "
                 f"with --max-file-size).", code="request_too_large"))
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), *raw]})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})
