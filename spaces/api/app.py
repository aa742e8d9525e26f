"""Build the FastAPI app: middleware (request ids, metrics, auth, body cap), error handlers, the routers, and the
Gradio UI mounted at ``/`` last (a mount at ``/`` takes every path no route matched before it).

>>> from spaces.common import Context, ModelCache
>>> from spaces.api.service import Service
>>> from spaces.api.app import create_app
>>> app = create_app(Service.create(Context(models="tiny", cache=ModelCache(2, 2**30))))
>>> "/v1/models" in app.openapi()["paths"]
True
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from . import API_PREFIXES, ROUTERS, errors
from .auth import AuthMiddleware, Credentials
from .limits import BodyLimitMiddleware
from .metrics import MetricsMiddleware
from .requestid import RequestIdMiddleware
from .service import Service

logger = logging.getLogger(__name__)

DESCRIPTION = """mmhub's models over HTTP: OpenAI-compatible routes under `/v1`, the Hugging Face Inference API under
`/models/<task>`, and the Gradio app at `/`. With API keys set, send `Authorization: Bearer KEY`."""


OPENAI_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["message", "type"],
    "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                   "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}}
HF_ERROR = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string"}, "error_type": {"type": "string"}, "param": {"type": "string"}}}
ERRORS = {"400": "A field is missing or invalid (the message and `param` name it)", "401": "No or a wrong API key",
          "404": "No such model, voice or route", "413": "The body is larger than --max-file-size",
          "429": "The task's queue is full: retry after `Retry-After` seconds",
          "503": "A model's server (--llm-endpoint) is down"}


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with the errors this API really answers (FastAPI documents a 422 it never sends: validation
    errors are 400s here) in the convention of each route (OpenAI's, or Hugging Face's under /models)."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for path, operations in schema.get("paths", {}).items():
        shape = HF_ERROR if errors.is_hf(path) else OPENAI_ERROR
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if path == "/health":
                continue
            for status, text in ERRORS.items():
                responses.setdefault(status, {"description": text,
                                              "content": {"application/json": {"schema": shape}}})
    for name in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)
    app.openapi_schema = schema
    return schema


def _modules(names: list[str]) -> list[Any]:
    package = __name__.rpartition(".")[0]
    return [importlib.import_module(f"{package}.{name}") for name in names]


def create_app(service: Service, blocks: Any = None, routers: list[str] | None = None, **mount: Any) -> FastAPI:
    """The app: `routers` (default `ROUTERS`) under the shared `service`; `blocks` (a gradio Blocks) mounted at ``/``
    with `mount` as `gr.mount_gradio_app`'s options."""
    modules = _modules(ROUTERS if routers is None else routers)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for module in modules:
            if hasattr(module, "startup"):
                module.startup(service)
        try:
            yield
        finally:
            for module in reversed(modules):
                if hasattr(module, "shutdown"):
                    module.shutdown(service)

    app = FastAPI(title="mmhub", description=DESCRIPTION, version="1", lifespan=lifespan,
                  docs_url="/docs", redoc_url=None, openapi_url="/openapi.json")
    app.state.service = service
    errors.install(app)
    for module in modules:
        app.include_router(module.router)
    settings = service.settings
    # added innermost first: a request meets the request id, then metrics, auth, and the body cap
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, prefixes=API_PREFIXES,
                       render=errors.error_parts)
    app.add_middleware(AuthMiddleware, credentials=Credentials(settings.api_keys, settings.login),
                       prefixes=API_PREFIXES)
    app.add_middleware(MetricsMiddleware, metrics=service.metrics, prefixes=API_PREFIXES + ("/health",))
    app.add_middleware(RequestIdMiddleware, prefixes=API_PREFIXES + ("/health",))
    app.openapi = lambda: openapi_schema(app)  # type: ignore[method-assign]
    if blocks is not None:
        import gradio as gr

        gr.mount_gradio_app(app, blocks, path="/", **mount)
    return app
