"""Build the FastAPI app: middleware (request ids, metrics, auth, body cap), error handlers, the routers, and the
Gradio UI mounted at ``/`` last (a mount at ``/`` takes every path no route matched before it).

>>> from spaces.common import Context, ModelCache
>>> from spaces.api.service import Service
>>> from spaces.api.app import create_app
>>> app = create_app(Service.create(Context(models="tiny", cache=ModelCache(2, 2**30))))
>>> "/v1/models" in [route.path for route in app.routes]
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
    if blocks is not None:
        import gradio as gr

        gr.mount_gradio_app(app, blocks, path="/", **mount)
    return app
