"""Request ids: every API request gets one (the client's ``X-Request-Id`` when it is sane, else a new one), sent back
in the ``X-Request-Id`` header and written on every log line of the request (``[req=...]``), worker threads included.

>>> import logging
>>> from spaces.api.requestid import RequestIdFilter, request_id
>>> token = request_id.set("abc123")
>>> record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
>>> RequestIdFilter().filter(record), record.request_id
(True, 'abc123')
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from typing import Any

logger = logging.getLogger("spaces.api.access")

HEADER = "x-request-id"
NONE = "-"
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("mmhub_request_id", default=NONE)
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s]: %(message)s"


def current_request_id() -> str:
    return request_id.get()


def new_request_id(offered: str | None = None) -> str:
    """The client's id when it is 1-64 characters of ``[A-Za-z0-9._:-]`` (log-safe), else a fresh one."""
    if offered and _SANE.match(offered):
        return offered
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (``-`` outside a request) so that formats may use ``%(request_id)s``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


def install_log_filter() -> None:
    """Put the filter on every handler of the root logger (call after ``logging.basicConfig``)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())


def is_api_request(scope: dict, prefixes: tuple[str, ...]) -> bool:
    """Whether an ASGI `scope` is an HTTP request on a path under one of `prefixes` (a prefix itself, or below it):
    what each of the API's middlewares (request ids, keys, body size, metrics) applies to."""
    path = scope.get("path", "")
    return scope["type"] == "http" and any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


class RequestIdMiddleware:
    """ASGI middleware: the request id for `prefixes` (the API's paths), its header, and one access-log line each."""

    def __init__(self, app: Any, prefixes: tuple[str, ...]):
        self.app, self.prefixes = app, prefixes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if not is_api_request(scope, self.prefixes):
            await self.app(scope, receive, send)
            return
        offered = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == HEADER.encode()), None)
        rid = new_request_id(offered)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER.encode()]
                message = {**message, "headers": [*headers, (HEADER.encode(), rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logger.info("%s %s %d %.0f ms", scope.get("method"), scope.get("path"), status["code"],
                        1000 * (time.perf_counter() - started))
            request_id.reset(token)
