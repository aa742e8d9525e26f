"""Prometheus metrics of the API (prometheus-client), served at ``GET /metrics`` in the text exposition format.

- ``mmhub_api_requests_total{route,method,status,task}`` and ``mmhub_api_errors_total{route,status,task}``;
- ``mmhub_api_request_seconds{route,task}``: latency histogram (a streamed answer counts until its last byte);
- ``mmhub_api_queue_depth{task}`` requests waiting for a slot, ``mmhub_api_in_flight{task}`` requests running;
- ``mmhub_models_loaded{task,model}`` (1 per model in the shared cache) and ``mmhub_models_loaded_bytes``.

``route`` is the route's template (``/v1/voices/{voice_id}``), never the raw path, so that ids do not multiply series.
Each app has its own registry: two apps in one process (tests) never share counts. More metrics (service-jobs' job
counts) register on ``Metrics.registry``.

>>> from spaces.api.metrics import Metrics
>>> metrics = Metrics()
>>> metrics.observe("/v1/models", "GET", 200, "-", 0.01)
>>> b"mmhub_api_requests_total" in metrics.render()[0]
True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .requestid import is_api_request

NO_TASK = "-"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class _LoadedModels(Collector):
    """Reads the shared model cache at scrape time: what is loaded now, not what was loaded once."""

    def __init__(self, loaded: Callable[[], Iterable[tuple[str, str, int]]]):
        self.loaded = loaded

    def collect(self) -> Iterable[Any]:
        models = GaugeMetricFamily("mmhub_models_loaded", "Models loaded in the shared cache (1 each)",
                                   labels=["task", "model"])
        size = GaugeMetricFamily("mmhub_models_loaded_bytes", "Bytes of weights held by the loaded models")
        total = 0
        for task, model, nbytes in self.loaded():
            models.add_metric([task, model], 1)
            total += nbytes
        size.add_metric([], total)
        yield models
        yield size


class Metrics:
    """The API's metrics in their own registry."""

    def __init__(self, loaded: Callable[[], Iterable[tuple[str, str, int]]] | None = None):
        self.registry = CollectorRegistry()
        self.requests = Counter("mmhub_api_requests", "API requests answered", ["route", "method", "status", "task"],
                                registry=self.registry)
        self.errors = Counter("mmhub_api_errors", "API requests answered with a 4xx or 5xx status",
                              ["route", "status", "task"], registry=self.registry)
        self.latency = Histogram("mmhub_api_request_seconds", "API request latency, to the last byte",
                                 ["route", "task"], buckets=BUCKETS, registry=self.registry)
        self.queue_depth = Gauge("mmhub_api_queue_depth", "API requests waiting for a slot", ["task"],
                                 registry=self.registry)
        self.in_flight = Gauge("mmhub_api_in_flight", "API requests running", ["task"], registry=self.registry)
        if loaded is not None:
            self.registry.register(_LoadedModels(loaded))

    def observe(self, route: str, method: str, status: int, task: str, seconds: float) -> None:
        self.requests.labels(route, method, str(status), task).inc()
        self.latency.labels(route, task).observe(seconds)
        if status >= 400:
            self.errors.labels(route, str(status), task).inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """ASGI middleware counting every request under `prefixes` by route template, status and task.

    The task is what the handler put in ``request.state.task`` (`spaces.api.service.Service.run` does); the route
    template is FastAPI's matched route (``scope["route"]``), known once the request has been routed."""

    def __init__(self, app: Any, metrics: Metrics, prefixes: tuple[str, ...]):
        self.app, self.metrics, self.prefixes = app, metrics, prefixes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if not is_api_request(scope, self.prefixes):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_and_watch(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            route = getattr(scope.get("route"), "path", None) or "(unrouted)"
            task = (scope.get("state") or {}).get("task", NO_TASK)
            self.metrics.observe(route, scope.get("method", ""), status["code"], task, time.perf_counter() - started)
