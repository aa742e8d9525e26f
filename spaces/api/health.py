"""Operations routes: ``GET /health`` (the process answers), ``GET /ready`` (what is loaded), ``GET /metrics``.

``/health`` needs no key (for load balancers and probes); ``/ready`` and ``/metrics`` do when keys are set.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from .service import Service, get_service

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str
    uptime_seconds: float


class LoadedModel(BaseModel):
    task: str
    model: str
    bytes: int


class Ready(BaseModel):
    status: str
    models: list[LoadedModel]
    model_set: str | None
    llm_endpoint: str | None
    max_models: int


STARTED = time.monotonic()


@router.get("/health", response_model=Health, summary="The server answers")
def health() -> Health:
    return Health(status="ok", uptime_seconds=round(time.monotonic() - STARTED, 3))


@router.get("/ready", response_model=Ready, summary="Ready, and which models are loaded now")
def ready(service: Service = Depends(get_service)) -> Ready:
    ctx = service.ctx
    return Ready(status="ready", models=[LoadedModel(task=t, model=m, bytes=b) for t, m, b in ctx.cache.loaded()],
                 model_set=ctx.models, llm_endpoint=ctx.llm.url if ctx.llm is not None else None,
                 max_models=ctx.cache.max_models)


@router.get("/metrics", summary="Prometheus metrics (text exposition format)",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(service: Service = Depends(get_service)) -> Response:
    body, content_type = service.metrics.render()
    return Response(body, media_type=content_type)
