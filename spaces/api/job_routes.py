"""Long jobs over HTTP, in OpenAI's video-job pattern, for every kind in `spaces.api.job_kinds.KINDS`:

- ``POST /v1/<kind>`` creates a job (a multipart form, as OpenAI's SDK sends ``videos.create``; JSON works too when no
  file is sent) and answers at once: ``{"id", "object", "status": "queued", "progress": 0, ...}``;
- ``GET /v1/<kind>/{id}`` polls it (``status`` queued / in_progress / completed / failed, ``progress`` 0-100,
  ``error`` when it failed; the ``openai-poll-after-ms`` header is how long the SDK's ``poll()`` waits);
- ``GET /v1/<kind>/{id}/content?variant=...`` downloads an output of a completed job (409 before that);
- ``DELETE /v1/<kind>/{id}`` cancels a queued or running job (it stops at its next step) or deletes a finished one,
  with its files; ``GET /v1/<kind>`` lists your jobs (``after``, ``limit``, ``order``, as OpenAI's list).

``<kind>`` is ``videos``, ``music``, ``songs``, ``separations``, ``style-transfers`` or ``deep-dreams``. With API keys
each key sees only its own jobs. The store, the workers, the bounds and the expiry are `spaces.api.jobs`.

    curl http://127.0.0.1:7860/v1/videos -F prompt="a red fox" -F model=tiny -F num_inference_steps=2
    curl http://127.0.0.1:7860/v1/videos/video_...                 # until "status": "completed"
    curl http://127.0.0.1:7860/v1/videos/video_.../content -o fox.mp4

>>> from spaces.api.job_routes import router
>>> sorted({route.path for route in router.routes if route.path.startswith("/v1/videos")})
['/v1/videos', '/v1/videos/{job_id}', '/v1/videos/{job_id}/content']
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

from pipelines import TASKS, TINY_NAMES

from .app import OPENAI_ERROR
from .errors import ApiError, field_error, validation_message
from .job_kinds import KINDS, MEDIA_TYPES, JobKind, VideoRequest
from .jobs import ACTIVE, Job, JobRunner, JobSettings, JobStore, LocalExecutor, register_metrics
from .service import Service, get_service
from .voices import owner_of

logger = logging.getLogger(__name__)

router = APIRouter(tags=["jobs"])
POLL_AFTER_MS = 500  # what GET tells the SDK's poll() to wait while a job is queued or running
MAX_LIST = 100
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
MIN_IMAGE_SIDE = 8  # every job's pictures: Wan's first frame needs 8 px; DeepDream (16) and style transfer check more


class JobError(BaseModel):
    code: str
    message: str
    param: str | None = None
    type: str | None = None


class JobObject(BaseModel):
    """A job, in the shape of OpenAI's ``Video`` (its fields common to every kind) plus mmhub's ``settings`` (what
    was asked) and ``result`` (what ran: the seed, the size, the duration, ...)."""

    id: str
    object: str
    created_at: int
    completed_at: int | None = None
    expires_at: int | None = None
    model: str
    progress: int
    status: Literal["queued", "in_progress", "completed", "failed"]
    error: JobError | None = None
    prompt: str | None = None
    settings: dict[str, Any]
    result: dict[str, Any]


class VideoObject(JobObject):
    """OpenAI's ``Video``: ``seconds`` and ``size`` are what was asked ("auto": the model's default) until the video
    is made, then what it is."""

    seconds: str
    size: str
    remixed_from_video_id: None = None


class JobList(BaseModel):
    object: Literal["list"] = "list"
    data: list[JobObject]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False


class VideoList(JobList):
    data: list[VideoObject]  # type: ignore[assignment]


class JobDeleted(BaseModel):
    id: str
    object: str
    deleted: bool


# -- answers --------------------------------------------------------------------------------------------------------


def job_object(kind: JobKind, job: Job) -> JobObject:
    settings = {k: v for k, v in job.params.items() if v is not None}
    common = dict(id=job.id, object=kind.object, created_at=job.created_at, completed_at=job.completed_at,
                  expires_at=job.expires_at, model=job.model, progress=job.progress, status=job.status,
                  error=JobError(**job.error) if job.error else None,
                  prompt=job.params.get(kind.text) if kind.text else None, settings=settings, result=job.result)
    if kind.request is not VideoRequest:
        return JobObject(**common)
    result = job.result
    if "seconds" in result:
        seconds, size = f"{result['seconds']:g}", f"{result['width']}x{result['height']}"
    else:
        asked = job.params.get("seconds")
        seconds = f"{asked:g}" if asked is not None else "auto"
        size = job.params.get("size") or "auto"
    return VideoObject(**common, seconds=seconds, size=size)


def _not_found(kind: JobKind, job_id: str) -> ApiError:
    return ApiError(404, f"No {kind.object.replace('_', ' ')} job {job_id!r} here (it may have expired, or been "
                         f"deleted); GET {kind.path} lists yours.", param="id", code=f"{kind.object}_not_found")


def _jobs(service: Service) -> tuple[JobStore, JobRunner]:
    state = service.extras.get("jobs")
    if state is None:
        raise ApiError(503, "The job runner is not running (the app was started without its lifespan).",
                       code="jobs_unavailable", type="server_error")
    return state


# -- reading a request ------------------------------------------------------------------------------------------------


def _form_value(kind: JobKind, name: str, value: str) -> Any:
    """A form field's text as the JSON value the request model checks (numbers, booleans, lists)."""
    info = kind.request.model_fields.get(name)
    annotation = str(info.annotation) if info is not None else ""
    text = value.strip()
    if "bool" in annotation and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if ("int" in annotation or "float" in annotation) and "str" not in annotation:
        try:
            return int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            return value  # the model's check names it
    if "Literal[2, 3, 4, 6]" in annotation and text.isdigit():
        return int(text)
    return value


async def read_job_request(request: Request, kind: JobKind) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(values, files) of a job request: a multipart or urlencoded form (files in it), or a JSON object; no job when
    the client hung up before its request was read (uvicorn then hands the app a disconnect, not the body)."""
    try:
        return await _read_job_request(request, kind)
    except ClientDisconnect:
        raise ApiError(400, "The client went away before its request was read; no job was created.", param="body",
                       code="client_disconnected") from None


async def _read_job_request(request: Request, kind: JobKind) -> tuple[dict[str, Any], dict[str, bytes]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            data = json.loads(await request.body() or b"{}")
        except (ValueError, UnicodeDecodeError) as err:
            raise field_error("body", f"The request body is not valid JSON ({err}).", "invalid_json") from None
        if not isinstance(data, dict):
            raise field_error("body", "The request body must be a JSON object.")
        for name in kind.files:
            if name in data:
                raise field_error(name, f"`{name}` is a file: send the request as a multipart form "
                                        f"({name}=@file).", "invalid_type")
        return data, {}
    if content_type not in FORM_TYPES:
        raise ApiError(415, "Send a multipart form (what OpenAI's SDK sends; files as parts) or a JSON object.",
                       param="body", code="unsupported_media_type")
    try:
        form = await request.form()
    except Exception as err:  # noqa: BLE001 - a malformed multipart body
        raise field_error("body", f"The form could not be read ({type(err).__name__}).") from err
    values: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    try:
        for key, value in form.multi_items():
            base = key[:-2] if key.endswith("[]") else key
            if isinstance(value, str):
                if base in kind.files:
                    raise field_error(base, f"`{base}` must be an uploaded file.", "invalid_type")
                if base.startswith("input_reference["):  # OpenAI's {file_id, image_url} reference
                    raise field_error("input_reference", "`input_reference` must be an uploaded image here "
                                                         "(file ids and image URLs are not supported).",
                                      "unsupported_parameter")
                converted = _form_value(kind, base, value)
                if key.endswith("[]") or base in values and base == "stems":
                    values.setdefault(base, []).append(converted)
                elif base in values:
                    raise field_error(base, f"`{base}` is given twice.")
                else:
                    values[base] = converted
            else:
                if base not in kind.files:
                    raise field_error(base, f"`{base}` is not a file field of {kind.path}; it takes "
                                            f"{', '.join(kind.files) or 'no files'}.", "unknown_parameter")
                if base in files:
                    raise field_error(base, f"`{base}` must be one file.")
                files[base] = await value.read()
    finally:
        await form.close()
    return values, files


def _check_file(name: str, data: bytes, kind: str) -> tuple[bytes, str]:
    """An uploaded file as it is kept: an image re-encoded as PNG (decoded first), an audio file as sent once
    libsndfile reads it; else an `InputError` naming the field."""
    from pipelines import validate
    from pipelines.errors import InputError

    if not data:
        raise InputError(name, "an empty file", f"an {kind} file")
    if kind == "image":
        from .openai_images import read_upload_image

        picture = read_upload_image(data, name)
        validate.image_size(name, picture.size, min_side=MIN_IMAGE_SIDE)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        return buffer.getvalue(), ".png"
    import soundfile as sf

    try:
        info = sf.info(io.BytesIO(data))
    except Exception as err:  # noqa: BLE001 - libsndfile's errors for anything it cannot read
        raise InputError(name, f"a file of {len(data)} bytes", "an audio file (WAV, FLAC, OGG, MP3)",
                         f"It cannot be read as audio ({type(err).__name__}).") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise InputError(name, "an audio file without samples", "an audio file with sound in it")
    suffix = {"WAV": ".wav", "FLAC": ".flac", "OGG": ".ogg", "MP3": ".mp3"}.get(info.format, ".wav")
    return data, suffix


def _check_model(service: Service, kind: JobKind, model: str | None) -> str:
    name = service.check_model(kind.task, model, kind.tiny_variant)
    if name in TINY_NAMES and name not in TASKS[kind.task].tiny_variants:
        raise ApiError(400, f"`model` {name!r} is a tiny stand-in of another task; for {kind.task} use one of "
                            f"{list(TASKS[kind.task].tiny_variants)}.", param="model", code="model_wrong_task")
    return name


# -- the routes, one set per kind -------------------------------------------------------------------------------------


def _routes(kind: JobKind) -> None:
    is_video = kind.request is VideoRequest
    one_model = VideoObject if is_video else JobObject
    list_model = VideoList if is_video else JobList
    form_doc = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": [n for n, f in kind.request.model_fields.items() if f.is_required()]
        + [n for n, f in kind.files.items() if f.required],
        "properties": {**{n: {"type": "string", "format": "binary"} for n in kind.files},
                       **{n: {"type": "string"} for n in kind.request.model_fields}}}}}}}

    async def create(request: Request, service: Service = Depends(get_service)) -> Any:
        store, runner = _jobs(service)
        request.state.task = kind.task
        values, files = await read_job_request(request, kind)
        try:
            body = kind.request.model_validate(values)
        except ValidationError as err:
            param, message, code = validation_message(err.errors()[0], kind.request)
            raise field_error(param, message, code) from None
        missing = [n for n, f in kind.files.items() if f.required and n not in files]
        if missing:
            raise field_error(missing[0], f"`{missing[0]}` is required: an uploaded {kind.files[missing[0]].kind} "
                                          f"file.", "missing_required_parameter")
        model = _check_model(service, kind, body.model)
        kept = {}
        for name, data in files.items():
            kept[name] = await service.offload(_check_file, name, data, kind.files[name].kind)
        params = body.model_dump(exclude={"model"})
        job = await service.offload(store.add, kind.name, kind.prefix, owner_of(request), model, params, kept)
        runner.submit(job)
        logger.info("job %s queued (%s, model %s)", job.id, kind.task, model)
        return job_object(kind, job)

    async def retrieve(job_id: str, request: Request, service: Service = Depends(get_service)) -> Any:
        store, _ = _jobs(service)
        job = store.get(job_id, owner_of(request), kind.name)
        if job is None:
            raise _not_found(kind, job_id)
        answer = job_object(kind, job)
        headers = {"openai-poll-after-ms": str(POLL_AFTER_MS)} if job.status in ACTIVE else {}
        return JSONResponse(answer.model_dump(mode="json"), headers=headers)

    async def content(job_id: str, request: Request, variant: str | None = Query(None, max_length=64),
                      service: Service = Depends(get_service)) -> Any:
        store, _ = _jobs(service)
        job = store.get(job_id, owner_of(request), kind.name)
        if job is None:
            raise _not_found(kind, job_id)
        if job.status != "completed":
            raise ApiError(409, f"The job is {job.status}, not completed: poll GET {kind.path}/{job_id} until its "
                                f"status is 'completed'" + (f" ({job.error['message']})" if job.error else "") + ".",
                           param="id", code="job_not_completed", type="invalid_request_error")
        name = variant or kind.variants[0]
        if name not in job.outputs:
            raise field_error("variant", f"`variant` must be one of {sorted(job.outputs)} for this job; got "
                                         f"{variant!r}.")
        path = store.folder(job) / job.outputs[name]
        media_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
        return FileResponse(path, media_type=media_type, filename=f"{job.id}{path.suffix}")

    async def delete(job_id: str, request: Request, service: Service = Depends(get_service)) -> JobDeleted:
        store, _ = _jobs(service)
        job = store.get(job_id, owner_of(request), kind.name)
        if job is None:
            raise _not_found(kind, job_id)
        await service.offload(store.delete, job)
        logger.info("job %s deleted (%s)", job.id, job.status)
        return JobDeleted(id=job.id, object=f"{kind.object}.deleted", deleted=True)

    async def listing(request: Request, after: str | None = Query(None, max_length=100),
                      limit: int = Query(20, ge=1, le=MAX_LIST), order: Literal["asc", "desc"] = "desc",
                      service: Service = Depends(get_service)) -> Any:
        store, _ = _jobs(service)
        jobs = store.list(owner_of(request), kind.name)
        if order == "desc":
            jobs.reverse()
        if after is not None:
            ids = [j.id for j in jobs]
            if after not in ids:
                raise field_error("after", f"`after` must be the id of one of your {kind.name} jobs; got {after!r}.")
            jobs = jobs[ids.index(after) + 1:]
        page = jobs[:limit]
        return list_model(data=[job_object(kind, j) for j in page], first_id=page[0].id if page else None,
                          last_id=page[-1].id if page else None, has_more=len(jobs) > limit)

    conflict = {409: {"description": "The job is not completed yet", "content": {"application/json": {
        "schema": OPENAI_ERROR}}}}
    files = {200: {"description": "The output file", "content": {
        media: {"schema": {"type": "string", "format": "binary"}} for media in sorted(set(MEDIA_TYPES.values()))}}}
    noun = kind.object.replace("_", " ")
    router.add_api_route(kind.path, create, methods=["POST"], response_model=one_model, openapi_extra=form_doc,
                         summary=f"Create a job: {kind.summary}")
    router.add_api_route(kind.path, listing, methods=["GET"], response_model=list_model,
                         summary=f"Your {noun} jobs")
    router.add_api_route(kind.path + "/{job_id}", retrieve, methods=["GET"], response_model=one_model,
                         summary=f"Poll a {noun} job")
    router.add_api_route(kind.path + "/{job_id}/content", content, methods=["GET"], response_class=FileResponse,
                         responses={**files, **conflict}, summary=f"Download a {noun} job's output")
    router.add_api_route(kind.path + "/{job_id}", delete, methods=["DELETE"], response_model=JobDeleted,
                         summary=f"Cancel or delete a {noun} job")


for _kind in KINDS.values():
    _routes(_kind)


# -- lifespan -------------------------------------------------------------------------------------------------------


def startup(service: Service) -> None:
    """Open the job store and start the workers (the app's lifespan calls this in its event loop)."""
    if "jobs" in service.extras:
        return
    settings = getattr(service.settings, "jobs", None) or JobSettings()
    store = JobStore(settings)
    executor = service.extras.get("job_executor") or LocalExecutor(service)
    runner = JobRunner(store, KINDS, executor, settings.workers)
    if not service.extras.get("job_metrics"):
        register_metrics(service.metrics.registry, store, KINDS, runner)
        service.extras["job_metrics"] = runner
    else:  # a second lifespan of the same service (tests): the counters follow the new runner
        first = service.extras["job_metrics"]
        runner.finished, store.on_expired = first.finished, first.store.on_expired
    service.extras["jobs"] = (store, runner)
    runner.start()
    logger.info("jobs: %d workers, folder %s%s, expire %g s after they finish, %d per key", settings.workers,
                store.root, "" if store.persistent else " (temporary)", settings.ttl, settings.limit)


def shutdown(service: Service) -> None:
    """Stop the workers: running jobs stop at their next step; queued ones are kept (``--jobs-dir``) or failed."""
    state = service.extras.pop("jobs", None)
    if state is None:
        return
    store, runner = state
    runner.stop(service.settings.shutdown_timeout)
    store.close()
