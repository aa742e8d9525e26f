"""mmhub on Ray Serve: the same FastAPI app as ``python -m spaces``, scaled out over task-group deployments.

    python -m spaces --ray-config spaces/ray_serve.yaml                        # one machine: a local Ray, started here
    PYTHONPATH=$PWD serve run spaces/ray_serve.yaml                            # the same with Ray's own CLI
    PYTHONPATH=$PWD ray start --head --port 6379                               # a cluster: on the head node, then
    PYTHONPATH=/path/to/mmhub ray start --address HEAD_IP:6379                 #   on every other node (same code)
    python -m spaces --ray-config spaces/ray_serve.yaml --ray-address auto     #   and the app, from the head node
    serve deploy spaces/ray_serve.yaml                                         #   (or this, with Ray's CLI)

The application (`app_builder`, also the ``import_path`` of the Serve config file):

- ``ingress``: ``@serve.ingress`` over the very app ``python -m spaces`` serves (`spaces.api.create_app`: the OpenAI
  and Hugging Face routes, keys, limits, metrics, request ids, the job store, the Gradio UI unless ``ui: false``). A
  request for a task of a group is not run here: `GroupForwarder` sends it, as it came (method, path, headers, body,
  after the ingress's key check and body cap), to that group's deployment through its `DeploymentHandle`, and
  streams the answer back. Everything else (``/v1/models``, ``/health``, ``/metrics``, voices, the jobs' store and
  files) is answered here. Keep it at one replica: the job store lives in it.
- one `TaskGroup` deployment per group of the config's ``groups`` (e.g. ``text``, ``image``, ``audio``, ``video``,
  ``lab``): each replica runs the same app without the UI (its own model cache, the same validation and errors) and
  answers the forwarded requests, and runs the long jobs of its tasks (`TaskGroup.run_job`, streamed back to the
  ingress's job runner with their progress; cancel = the stream cancelled). Replicas, ``num_gpus`` fractions and
  autoscaling bounds are the config's ``deployments`` (Serve's own schema).

Every answer says which replica made it: ``X-Mmhub-Replica: <deployment>#<replica id>``; a job's ``result.replica``
says where it runs (or ran). ``/metrics`` adds ``mmhub_ray_retries_total{group,kind}`` (requests and jobs sent
again) and ``mmhub_ray_forwarded_in_flight{group}``.

Failures: a request in flight on a group replica that dies (``ActorDiedError`` / ``ActorUnavailableError``; Serve
itself re-routes only requests not yet accepted by a replica) is sent again by the ingress, up to `RETRIES` more times,
to another replica, as long as no byte of its answer has reached the client yet. A streamed answer cut after its
first bytes cannot be resent: the client sees the stream end early (a chat stream without ``[DONE]``), and retries
itself. A job whose replica dies runs again from the start on another replica. If the ingress replica itself dies,
its requests in flight fail (Serve's proxy answers 500) and its jobs are lost unless ``--jobs-dir`` is on a disk the
new ingress replica sees; clients retry (the openai SDK retries 5xx twice by default).

>>> from spaces.api.ray_serve import check_groups
>>> check_groups({"text": ["sentiment", "text-generation"], "lab": ["deep-dream"]})["deep-dream"]
'lab'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shlex
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ray import serve

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
INGRESS = "ingress"
REPLICA_HEADER = "x-mmhub-replica"
RETRIES = 2
#: Requests the ingress holds at once (Serve's default is 5, which would cap the whole app): it mostly waits on groups.
INGRESS_MAX_ONGOING = 256
#: The groups of `spaces/ray_serve.yaml` when a config gives none: the heavy tasks by the hardware they want.
DEFAULT_GROUPS = {
    "text": ["sentiment", "text-generation"],
    "image": ["text-to-image", "autoencoder", "gan"],
    "audio": ["voice-cloning", "voice-conversion", "separation", "text-to-music", "text-to-song"],
    "video": ["text-to-video"],
    "lab": ["style-transfer", "deep-dream", "digit-recognition", "activation-maximisation"],
}


# -- options shared by the deployments --------------------------------------------------------------------------------


def parse_options(options: list[str]) -> argparse.Namespace:
    """``python -m spaces``'s launch options (the same parser and checks); `ValueError` saying what is wrong."""
    from pipelines.errors import InputError

    from ..options import parse_launch_args
    from .options import add_api_arguments, finish_api_arguments

    try:
        return parse_launch_args(list(options), prog="mmhub on Ray Serve", extra=add_api_arguments,
                                 finish=finish_api_arguments)
    except SystemExit as exit_:  # argparse's error: already printed to stderr
        raise ValueError(f"bad mmhub options {shlex.join(options)!r} (see the replica's log)") from exit_
    except InputError as err:
        raise ValueError(str(err)) from None


def check_groups(groups: dict[str, list[str]]) -> dict[str, str]:
    """{task: group} of `groups` ({group: tasks}); `ValueError` for an unknown task, a task in two groups, or a group
    named like the ingress."""
    from pipelines import resolve_task

    owner: dict[str, str] = {}
    for group, tasks in groups.items():
        if group == INGRESS or not group.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"group name {group!r}: letters, digits, '-' and '_', not {INGRESS!r}")
        for name in tasks:
            task = resolve_task(name).name  # InputError (a ValueError) listing the known tasks
            if task in owner:
                raise ValueError(f"task {task!r} is in two groups: {owner[task]!r} and {group!r}")
            owner[task] = group
    return owner


def replica_name() -> str:
    """``<deployment>#<replica id>`` of the replica running this."""
    context = serve.get_replica_context()
    return f"{context.deployment}#{context.replica_tag}"


# -- a task group ---------------------------------------------------------------------------------------------------


async def call_asgi(app: Any, request: dict[str, Any], replica: str) -> AsyncIterator[dict[str, Any]]:
    """Run one HTTP request through the ASGI `app` in this process; yield ``{"start": status, "headers": [...]}``
    then ``{"body": bytes, "more": bool}`` messages. The request stops when the caller stops listening."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request["method"],
             "scheme": "http", "path": request["path"], "raw_path": request["path"].encode(),
             "query_string": request["query_string"], "root_path": "", "headers": request["headers"],
             "client": tuple(request.get("client") or ("ray", 0)), "server": ("ray-serve", 0)}
    messages: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    sent_body = asyncio.Event()
    hung_up = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if not sent_body.is_set():
            sent_body.set()
            return {"type": "http.request", "body": request["body"], "more_body": False}
        await hung_up.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        await messages.put(message)

    task = asyncio.ensure_future(app(scope, receive, send))
    task.add_done_callback(lambda _: messages.put_nowait(None))
    try:
        while (message := await messages.get()) is not None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REPLICA_HEADER.encode()]
                yield {"start": message["status"], "headers": [*headers, (REPLICA_HEADER.encode(), replica.encode())]}
            elif message["type"] == "http.response.body":
                yield {"body": message.get("body", b""), "more": message.get("more_body", False)}
        await task  # an exception the app did not turn into an answer
    finally:
        hung_up.set()
        if not task.done():
            task.cancel()


@serve.deployment(ray_actor_options={"num_cpus": 1})
class TaskGroup:
    """One group of tasks: the app without the UI, its own model cache; forwarded requests and long jobs."""

    def __init__(self, group: str, tasks: list[str], options: list[str]):
        from ..launcher import context_from_args
        from . import ROUTERS, create_app
        from .server import settings_from_args
        from .service import Service

        logging.basicConfig(level=logging.INFO)
        args = parse_options(options)
        self.group, self.tasks, self.replica = group, set(tasks), replica_name()
        self.service = Service.create(context_from_args(args), settings_from_args(args))
        self.app = create_app(self.service, routers=[r for r in ROUTERS if r != "job_routes"])
        logger.info("task group %s (%s) ready: %s", group, ", ".join(sorted(tasks)), self.replica)

    async def handle(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """A forwarded HTTP request, answered by this replica's app (streamed: `call_asgi`'s messages)."""
        async for message in call_asgi(self.app, request, self.replica):
            yield message

    async def run_job(self, kind_name: str, model: str, params: dict[str, Any],
                      inputs: dict[str, tuple[bytes, str]]) -> AsyncIterator[dict[str, Any]]:
        """A long job here: ``{"started": replica}`` once it has its slot, ``{"progress": (step, total)}`` as it goes,
        then ``{"result": info, "files": {name: bytes}}`` or ``{"error": {...}}``. Cancelling the stream stops the
        work at its next step."""
        from .job_kinds import KINDS
        from .jobs import error_object, waiting_slot

        kind = KINDS[kind_name]
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
        stop = threading.Event()

        def progress(step: int, total: int, info: dict[str, Any] | None = None) -> bool:
            if stop.is_set():
                return False
            loop.call_soon_threadsafe(events.put_nowait, (int(step), int(total)))
            return True

        def work() -> tuple[dict[str, Any], dict[str, bytes]]:
            with tempfile.TemporaryDirectory(prefix="mmhub-job-") as folder:
                paths = {}
                for name, (data, suffix) in inputs.items():
                    paths[name] = Path(folder) / f"input-{name}{suffix}"
                    paths[name].write_bytes(data)
                out = Path(folder) / "out"
                out.mkdir()
                pipe = self.service.ctx.pipeline(kind.task, model, None, kind.tiny_variant)
                info = kind.run(pipe, params, paths, out, progress)
                files = {name: (out / name).read_bytes() for name in info["_outputs"].values()}
                return info, files

        async with waiting_slot(self.service.limits, kind.task):
            yield {"started": self.replica}
            future = loop.run_in_executor(None, work)
            try:
                while not future.done() or not events.empty():
                    getter = asyncio.ensure_future(events.get())
                    await asyncio.wait({future, getter}, return_when=asyncio.FIRST_COMPLETED)
                    if getter.done():
                        yield {"progress": getter.result()}
                    else:
                        getter.cancel()
                try:
                    info, files = future.result()
                except Exception as err:  # noqa: BLE001 - the job's error, sent back as data (exceptions may not pickle)
                    error = error_object(err)
                    if error["code"] == "internal_error":
                        logger.exception("job %s failed", kind_name)
                    yield {"error": error, "replica": self.replica}
                    return
                yield {"result": info, "files": files, "replica": self.replica}
            finally:
                stop.set()

    def check_health(self) -> None:
        """Serve's health check: the replica answers."""


# -- the ingress ----------------------------------------------------------------------------------------------------


class RemoteJobError(Exception):
    """A job that failed on a group replica: its error object, as the replica made it."""

    def __init__(self, error: dict[str, Any]):
        super().__init__(error.get("message", "the job failed"))
        self.error = error


def _replica_gone(err: BaseException) -> bool:
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

    return isinstance(err, (ActorDiedError, ActorUnavailableError, RayActorError))


class RayExecutor:
    """The ingress's job executor: a job of a group's task runs on that group (`TaskGroup.run_job`), others here."""

    def __init__(self, service: Any, handles: dict[str, Any], owner: dict[str, str], retries: Any = None):
        from .jobs import LocalExecutor

        self.local, self.handles, self.owner, self.retries = LocalExecutor(service), handles, owner, retries

    def slot(self, task: str) -> contextlib.AbstractAsyncContextManager[None]:
        if task in self.owner:
            return contextlib.nullcontext()  # type: ignore[return-value] - the group's replica holds its slot
        return self.local.slot(task)

    def execute(self, kind: Any, job: Any, inputs: dict[str, Path], out: Path, progress: Any) -> dict[str, Any]:
        from .jobs import JobStopped

        group = self.owner.get(kind.task)
        if group is None:
            return self.local.execute(kind, job, inputs, out, progress)
        data = {name: (path.read_bytes(), path.suffix) for name, path in inputs.items()}
        handle = self.handles[group].options(method_name="run_job", stream=True)
        for attempt in range(RETRIES + 1):
            stream = handle.remote(kind.name, job.model, job.params, data)
            try:
                for event in stream:
                    if "started" in event:  # which replica runs it: in the job's `result` while it runs
                        job.result = {"replica": event["started"]}
                    elif "progress" in event:
                        if progress(*event["progress"], {}) is False:
                            stream.cancel()
                            raise JobStopped
                    elif "error" in event:
                        raise RemoteJobError(event["error"])
                    else:
                        for name, content in event["files"].items():
                            (out / name).write_bytes(content)
                        logger.info("job %s made by %s", job.id, event["replica"])
                        return event["result"] | {"replica": event["replica"]}
                raise RuntimeError("the group's stream ended without a result")
            except Exception as err:
                if not _replica_gone(err) or attempt == RETRIES:
                    raise
                logger.warning("job %s: its replica died (%s); running it again on another", job.id,
                               type(err).__name__)
                if self.retries is not None:
                    self.retries.labels(group, "job").inc()
        raise AssertionError("unreachable")


#: The routes whose task a group answers (`spaces.api` route templates -> the task; None: the URL's ``{task}``, an
#: Inference API task name). Every other route is answered by the ingress.
FORWARDED: dict[str, str | None] = {
    "/v1/chat/completions": "text-generation", "/v1/completions": "text-generation",
    "/v1/images/generations": "text-to-image", "/v1/images/edits": "text-to-image",
    "/v1/audio/speech": "voice-cloning",
    "/models/{task}/v1/chat/completions": None, "/models/{task}/{model:path}/v1/chat/completions": None,
    "/models/{task}": None, "/models/{task}/{model:path}": None,
}


class GroupForwarder:
    """ASGI middleware (innermost: after the key check and the body cap): a request for a task of a group goes to
    that group's deployment; the rest to the app here. Sets the route template and the task for the metrics."""

    def __init__(self, app: Any, handles: dict[str, Any], owner: dict[str, str], replica: str, retries: Any = None,
                 in_flight: Any = None):
        from starlette.routing import compile_path

        self.app, self.handles, self.owner, self.replica = app, handles, owner, replica
        self.retries, self.in_flight = retries, in_flight
        self.patterns = [(path, task, compile_path(path)) for path, task in FORWARDED.items()]

    def task_of(self, scope: dict[str, Any]) -> str | None:
        """The task of a request on one of the `FORWARDED` routes (and its route template in the scope), or None."""
        from types import SimpleNamespace

        from .errors import ApiError
        from .hf import route_for

        for path, task, (regex, _, convertors) in self.patterns:
            found = regex.match(scope.get("path", ""))
            if not found:
                continue
            if task is None:
                try:
                    task = route_for(convertors["task"].convert(found.group("task"))).task
                except ApiError:
                    return None  # the app answers the 404
            scope["route"] = SimpleNamespace(path=path)  # what the metrics label it with
            return task
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        task = self.task_of(scope) if scope["type"] == "http" else None
        group = self.owner.get(task) if task else None
        if group is None:
            await self.app(scope, receive, self._tagged(send))
            return
        scope.setdefault("state", {})["task"] = task
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its request was read
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        request = {"method": scope["method"], "path": scope["path"], "query_string": scope.get("query_string", b""),
                   "headers": [(k, v) for k, v in scope.get("headers", [])], "body": b"".join(chunks),
                   "client": list(scope.get("client") or ("ray", 0))}
        if self.in_flight is not None:
            self.in_flight.labels(group).inc()
        try:
            await self._forward(scope, send, group, request)
        finally:
            if self.in_flight is not None:
                self.in_flight.labels(group).dec()

    async def _forward(self, scope: dict[str, Any], send: Any, group: str, request: dict[str, Any]) -> None:
        handle = self.handles[group].options(method_name="handle", stream=True)
        for attempt in range(RETRIES + 1):
            started = False
            try:
                async for message in handle.remote(request):
                    if "start" in message:
                        started = True
                        await send({"type": "http.response.start", "status": message["start"],
                                    "headers": message["headers"]})
                    else:
                        await send({"type": "http.response.body", "body": message["body"],
                                    "more_body": message["more"]})
                return
            except Exception as err:
                if started or not _replica_gone(err) or attempt == RETRIES:
                    raise
                logger.warning("%s %s: the %s replica died (%s); sending it to another (retry %d of %d)",
                               scope["method"], scope["path"], group, type(err).__name__, attempt + 1, RETRIES)
                if self.retries is not None:
                    self.retries.labels(group, "request").inc()

    def _tagged(self, send: Any) -> Any:
        async def tagged(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (REPLICA_HEADER.encode(), self.replica.encode())]
                message = {**message, "headers": headers}
            await send(message)

        return tagged


@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=INGRESS_MAX_ONGOING)
@serve.ingress()
class Ingress:
    """The app of ``python -m spaces`` (UI included unless `ui` is False), forwarding group tasks to the groups."""

    def __init__(self, options: list[str], groups: dict[str, list[str]], handles: dict[str, Any], ui: bool = True):
        from prometheus_client import Counter, Gauge
        from starlette.middleware import Middleware

        from ..launcher import context_from_args
        from . import create_app
        from .server import build_app, settings_from_args
        from .service import Service

        logging.basicConfig(level=logging.INFO)
        args = parse_options(options)
        owner = check_groups(groups)
        self.replica = replica_name()
        if ui:
            from ..app import discover_spaces

            app = build_app(discover_spaces(), args)
            service = app.state.service
        else:
            service = Service.create(context_from_args(args), settings_from_args(args))
            app = create_app(service)
        retries = Counter("mmhub_ray_retries", "Requests and jobs sent again because their group replica died",
                          ["group", "kind"], registry=service.metrics.registry)
        in_flight = Gauge("mmhub_ray_forwarded_in_flight", "Requests sent to a group and not answered yet", ["group"],
                          registry=service.metrics.registry)
        service.extras["job_executor"] = RayExecutor(service, handles, owner, retries)
        # innermost: after the request id, metrics, key check and body cap that `create_app` put around the routes
        app.user_middleware.append(Middleware(GroupForwarder, handles=handles, owner=owner, replica=self.replica,
                                              retries=retries, in_flight=in_flight))
        self.mmhub_app = app  # (`app` is the ingress wrapper's own property)
        logger.info("mmhub ingress %s: groups %s", self.replica, {g: sorted(t) for g, t in groups.items()})

    def __serve_build_asgi_app__(self) -> Any:
        return self.mmhub_app


# -- the application ------------------------------------------------------------------------------------------------


def app_builder(args: dict[str, Any]) -> Any:
    """The Serve application of a config's ``args`` (the ``import_path`` of `spaces/ray_serve.yaml`; Serve applies
    the config's ``deployments:`` itself): ``options`` (``python -m spaces``'s launch options, a list or one string),
    ``groups`` ({group: [tasks]}, default `DEFAULT_GROUPS`), ``ui`` (default true)."""
    return build_application(args)


def build_application(args: dict[str, Any], overrides: dict[str, dict[str, Any]] | None = None) -> Any:
    """`app_builder` with `overrides`: deployment options by name (a config's ``deployments:``, for
    ``python -m spaces --ray-config``, which deploys through `serve.run`)."""
    options = args.get("options") or []
    options = shlex.split(options) if isinstance(options, str) else [str(o) for o in options]
    groups = {str(g): [str(t) for t in tasks] for g, tasks in (args.get("groups") or DEFAULT_GROUPS).items()}
    unknown = set(args) - {"options", "groups", "ui"}
    if unknown:
        raise ValueError(f"unknown application args {sorted(unknown)}: mmhub takes options, groups, ui")
    parse_options(options)  # refuse bad options here, not in every replica
    check_groups(groups)
    overrides = overrides or {}
    known = {INGRESS, *groups}
    if set(overrides) - known:
        raise ValueError(f"deployments {sorted(set(overrides) - known)} are not in this app; it has {sorted(known)}")
    handles = {group: TaskGroup.options(name=group, **overrides.get(group, {})).bind(group, tasks, options)
               for group, tasks in groups.items()}
    return Ingress.options(name=INGRESS, **overrides.get(INGRESS, {})).bind(options, groups, handles,
                                                                              bool(args.get("ui", True)))


def read_config(path: str | os.PathLike) -> Any:
    """A Serve config file (YAML, Serve's `ServeDeploySchema`) with one mmhub application."""
    import yaml
    from ray.serve.schema import ServeDeploySchema

    with open(path, encoding="utf-8") as handle:
        config = ServeDeploySchema.model_validate(yaml.safe_load(handle))
    if len(config.applications) != 1:
        raise ValueError(f"{path}: one application expected, found {len(config.applications)}")
    return config


def deployment_overrides(app_config: Any) -> dict[str, dict[str, Any]]:
    """The ``deployments:`` of an application config as `.options()` keyword arguments by deployment name."""
    overrides = {}
    for deployment in app_config.deployments:
        options = deployment.model_dump(exclude_unset=True, mode="json")
        overrides[options.pop("name")] = options
    return overrides


def serve_on_ray(args: argparse.Namespace, argv: list[str], prog: str) -> None:
    """``python -m spaces --ray-config FILE [--ray-address ADDRESS]``: deploy the config's application with this
    command line's options added to its ``args.options``, on ``--host``/``--port``, until Ctrl-C / SIGTERM (then
    the app is deleted; a Ray started here stops with it). On a cluster where Serve already runs, its HTTP host and
    port stay what they were first started with (Serve's rule; it logs a warning): pass the same ``--port``."""
    import signal

    import ray
    import yaml

    from ..options import fail

    try:
        config = read_config(args.ray_config)
        app_config = config.applications[0]
        app_args = dict(app_config.args or {})
        base = app_args.get("options") or []
        app_args["options"] = (shlex.split(base) if isinstance(base, str) else list(base)) + strip_ray_options(argv)
        app = build_application(app_args, deployment_overrides(app_config))
    except (OSError, ValueError, yaml.YAMLError) as err:  # pydantic's ValidationError is a ValueError
        fail(prog, f"--ray-config {args.ray_config}: {' '.join(str(err).split())[:600]}")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "MMHUB_CACHE", "HF_HOME", "OMP_NUM_THREADS"):
        if name in os.environ:
            env[name] = os.environ[name]
    ray.init(address=args.ray_address, namespace="serve", runtime_env={"env_vars": env},
             include_dashboard=False if args.ray_address is None else None, log_to_driver=True)
    serve.start(http_options={"host": args.host.strip("[]"), "port": args.port},
                proxy_location=config.proxy_location)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        serve.run(app, name=app_config.name, route_prefix=app_config.route_prefix or "/", blocking=False)
        logger.info("serving %s on Ray Serve at http://%s:%d (config %s)", app_config.name, args.host, args.port,
                    args.ray_config)
        threading.Event().wait()
    except KeyboardInterrupt:
        logger.info("stopping: Serve shuts its replicas down")
    finally:
        with contextlib.suppress(Exception):
            serve.delete(app_config.name)
        if args.ray_address is None:
            with contextlib.suppress(Exception):
                serve.shutdown()
        ray.shutdown()


def strip_ray_options(argv: list[str]) -> list[str]:
    """`argv` without ``--ray-config``, ``--ray-address``, ``--host`` and ``--port`` (the proxy's, not the app's)."""
    out: list[str] = []
    skip = False
    for item in argv:
        if skip:
            skip = False
            continue
        name = item.split("=", 1)[0]
        if name in ("--ray-config", "--ray-address", "--host", "--port"):
            skip = "=" not in item
            continue
        out.append(item)
    return out
