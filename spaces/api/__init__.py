"""mmhub's HTTP API: one FastAPI app serving the Gradio UI at ``/``, OpenAI's API under ``/v1``, Hugging Face's
Inference API under ``/models``, and ``/health``, ``/ready``, ``/metrics``, ``/docs`` (``python -m spaces``).

Layout (one concern per module):

- ``options.py``   the server's launch options (keys, per-task concurrency, queue, shutdown), checked before imports
- ``server.py``    ``serve(specs, args)``: the app's Context, the Gradio Blocks, this API, uvicorn (graceful stop)
- ``app.py``       ``create_app(service, blocks=None, routers=ROUTERS)``: middleware, error handlers, routers, mount
- ``service.py``   ``Service``: the shared Context / model cache, limits, metrics, voices; ``run`` / ``stream`` calls
- ``errors.py``    ``ApiError`` and the error shapes (OpenAI's under /v1, Hugging Face's under /models)
- ``auth.py``      keys (``Authorization: Bearer``) and the app's login (Basic), as ASGI middleware
- ``limits.py``    per-task slots + bounded queue (429, ``Retry-After``), the request body cap (413)
- ``metrics.py``   Prometheus metrics; ``requestid.py`` request ids in headers and log lines
- ``fields.py``    OpenAI's request fields: which are honoured, which are refused with a 400 naming them
- one module per group of routes (``ROUTERS`` below): health, OpenAI models / chat / images / audio / voices,
  Hugging Face tasks.
- ``jobs.py`` the long jobs' store and runner, ``job_kinds.py`` what each kind takes and makes, ``job_routes.py`` their
  routes (``/v1/videos`` and its siblings), ``job_options.py`` their launch options
- ``ray_serve.py`` the same app on Ray Serve (an ingress over it, a deployment per task group; ``ray_options.py``)

How to add routes (e.g. long jobs under ``/v1/videos``):

1. Write ``spaces/api/<name>.py`` with ``router = fastapi.APIRouter()``; give every route a ``response_model`` (the
   schema at ``/openapi.json`` is tested with schemathesis) and request models with ``extra="forbid"`` (an unknown
   field is a 400 naming it).
2. Take the shared state with ``service: Service = Depends(get_service)``; get a model with
   ``await service.pipeline(request, task, model)`` (the app's model-field policy and cache) and call it with
   ``await service.run(request, task, fn, ...)`` (a task slot, a worker thread, mmhub errors -> 4xx). Keep anything
   the router needs across requests in ``service.extras["<name>"]`` (created in a ``startup(service)`` function of
   the module, which ``create_app`` calls when it exists; a ``shutdown(service)`` is called when the server stops).
3. Raise ``ApiError(status, message, param=...)`` (``spaces.api.errors``) for a refusal; mmhub's ``InputError`` and
   ``ModelLoadError`` are translated already.
4. Append ``"<name>"`` to ``ROUTERS``. Paths under ``/v1`` and ``/models`` get auth, the body cap, request ids and
   metrics by prefix (``API_PREFIXES``); add a new top-level prefix there.
5. Test it with the client people use against the real server (``tests/spaces/api/conftest.py``: the ``api``
   fixture, one ``python -m spaces`` process shared by the API tests; ``start()`` for a server of your own).

Other extension points: a new task on the Hugging Face routes is one `HfRoute` entry in ``hf.ROUTES`` (its URL name,
the mmhub task, the HF task whose shapes it follows, its parameters and an async call); a metric is one more
prometheus-client collector on ``service.metrics.registry`` (e.g. job counts); a long call reports progress through
the pipelines' ``progress(step, total, info)`` callback, run it with ``service.run`` from a job worker as well.

>>> from spaces.api import ROUTERS
>>> ROUTERS[0]
'health'
"""

from __future__ import annotations

from typing import Any

#: Route modules of this package, in the order their routes are matched (before the Gradio UI mounted at "/").
ROUTERS: list[str] = ["health", "openai_models", "openai_chat", "openai_images", "openai_audio", "voices", "hf",
                      "job_routes"]

#: Paths the API owns: auth, body cap, request ids and metrics apply under these (the Gradio UI has its own login).
API_PREFIXES: tuple[str, ...] = ("/v1", "/models", "/ready", "/metrics")


def create_app(service: Any, blocks: Any = None, routers: list[str] | None = None, **mount: Any) -> Any:
    """The FastAPI app (see `spaces.api.app.create_app`); imported lazily so that the options stay light."""
    from .app import create_app as create

    return create(service, blocks=blocks, routers=routers, **mount)
