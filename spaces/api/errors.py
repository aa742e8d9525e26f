"""Errors as the API's clients expect them: OpenAI's shape under ``/v1``, Hugging Face's under ``/models``.

OpenAI (``openai._exceptions``, and the API reference's error object)::

    {"error": {"message": "...", "type": "invalid_request_error", "param": "temperature", "code": "invalid_value"}}

Hugging Face Inference API (``huggingface_hub.utils._http.hf_raise_for_status`` reads ``error``, a string)::

    {"error": "...", "error_type": "validation"}

Every mmhub error maps onto a status: `InputError` (and a refused model field) 400 naming the argument; a model that
cannot be found 404; a missing dependency 501; a server (``--llm-endpoint``) down 503; too many requests 429 with
``Retry-After``; anything unexpected 500 with the request id, its traceback in the log (the server keeps serving).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines.errors import Cancelled, InputError, MmhubError, ModelLoadError

from .requestid import current_request_id

logger = logging.getLogger(__name__)

HF_PREFIX = "/models"
#: ModelLoadError reasons -> (HTTP status, OpenAI error type, code)
LOAD_STATUS = {
    "not_found": (404, "invalid_request_error", "model_not_found"),
    "wrong_task": (400, "invalid_request_error", "model_wrong_task"),
    "missing_dependency": (501, "server_error", "missing_dependency"),
    "offline": (503, "server_error", "model_unavailable"),
    "incompatible": (502, "server_error", "model_incompatible"),
    "unauthorized": (502, "server_error", "upstream_unauthorized"),
}
STATUS_TYPE = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 405: "invalid_request_error", 409: "conflict_error",
               413: "invalid_request_error", 415: "invalid_request_error", 422: "invalid_request_error",
               429: "rate_limit_error"}


class ApiError(Exception):
    """An answer other than success: HTTP `status`, a message saying what to change, the request field (`param`)."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 type: str | None = None, headers: dict[str, str] | None = None):  # noqa: A002 (OpenAI's name)
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type = type or STATUS_TYPE.get(status, "server_error" if status >= 500 else "invalid_request_error")
        self.headers = headers or {}


def field_error(param: str, message: str, code: str = "invalid_value") -> ApiError:
    """A 400 about one request field."""
    return ApiError(400, message, param=param, code=code)


def unsupported(param: str, detail: str = "") -> ApiError:
    """A 400 for a field this server does not honour (never silently ignored)."""
    text = f"`{param}` is not supported by this server"
    return ApiError(400, f"{text}: {detail}" if detail else f"{text}; leave it out.", param=param,
                    code="unsupported_parameter")


def from_exception(err: BaseException, param: str | None = None) -> ApiError:
    """The `ApiError` for an mmhub error (or a gradio refusal of the model field: `gr.Error`)."""
    if isinstance(err, ApiError):
        return err
    if isinstance(err, InputError):
        return ApiError(400, str(err), param=err.argument, code="invalid_value")
    if isinstance(err, ModelLoadError):
        status, kind, code = LOAD_STATUS.get(err.reason, (500, "server_error", err.reason))
        if err.reason == "offline" and not hasattr(err, "endpoint"):
            # a Hub model that is not in this server's cache while the Hub is out of reach: for the client, a model
            # this server does not have (503 stays for an --llm-endpoint server that is down)
            status, kind, code = 404, "invalid_request_error", "model_not_found"
        return ApiError(status, str(err), param="model", code=code, type=kind)
    if isinstance(err, Cancelled):
        return ApiError(499, str(err), code="cancelled", type="server_error")
    if isinstance(err, MmhubError):
        return ApiError(400, str(err), param=param)
    if type(err).__name__ == "Error" and type(err).__module__.startswith("gradio"):  # Context.check_model's refusal
        return ApiError(400, str(getattr(err, "message", err)), param=param or "model", code="invalid_value")
    raise TypeError(f"not an mmhub error: {err!r}")


def is_hf(path: str) -> bool:
    return path == HF_PREFIX or path.startswith(HF_PREFIX + "/")


def error_parts(path: str, error: ApiError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, JSON body, headers) of `error` in the convention of the route at `path`."""
    if is_hf(path):
        body: dict[str, Any] = {"error": error.message, "error_type": error.code or error.type}
        if error.param:
            body["param"] = error.param
    else:
        body = {"error": {"message": error.message, "type": error.type, "param": error.param, "code": error.code}}
    return error.status, body, dict(error.headers)


def render(request: Request, error: ApiError) -> JSONResponse:
    """The error as a response in the convention of the request's route."""
    status, body, headers = error_parts(request.url.path, error)
    return JSONResponse(body, status_code=status, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as the field a client wrote: ``messages[0].content`` (``body`` dropped)."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or "body"


def validation_message(error: dict[str, Any], request_type: Any = None) -> tuple[str, str, str]:
    """(param, message, code) for one pydantic error: an unknown field is named as such, an OpenAI field this server
    does not support as that (`spaces.api.fields.describe_extra`)."""
    from .fields import describe_extra

    param = _location(tuple(error.get("loc", ())))
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        message = describe_extra(request_type, param)
        return param, message, "unsupported_parameter" if "does not support" in message else "unknown_parameter"
    if kind == "missing":
        return param, f"`{param}` is required.", "missing_required_parameter"
    if kind == "json_invalid":
        return "body", f"The request body is not valid JSON: {error.get('msg', '')}", "invalid_json"
    value = error.get("input")
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return param, f"`{param}`: {error.get('msg', 'invalid value')}; got {shown}.", "invalid_value"


async def handle_api_error(request: Request, err: ApiError) -> JSONResponse:
    if err.status >= 500:
        logger.warning("%s %s: %s", request.method, request.url.path, err.message)
    else:
        logger.info("%s %s refused (%d): %s", request.method, request.url.path, err.status, err.message)
    return render(request, err)


async def handle_mmhub_error(request: Request, err: Exception) -> JSONResponse:
    return await handle_api_error(request, from_exception(err))


async def handle_validation(request: Request, err: RequestValidationError) -> JSONResponse:
    from .fields import REQUEST_TYPES

    errors = list(err.errors())
    request_type = REQUEST_TYPES.get(getattr(request.scope.get("route"), "path", None))
    param, message, code = (validation_message(errors[0], request_type) if errors
                            else ("body", "Invalid request.", "invalid"))
    if len(errors) > 1:
        message += f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} in the request.)"
    return await handle_api_error(request, ApiError(400, message, param=param, code=code))


async def handle_http(request: Request, err: StarletteHTTPException) -> JSONResponse:
    message = err.detail if isinstance(err.detail, str) else str(err.detail)
    if err.status_code == 404:
        message = f"No route {request.method} {request.url.path}; see /docs for the API's routes."
    elif err.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}; see /docs."
    return render(request, ApiError(err.status_code, message, headers=dict(err.headers or {})))


async def handle_unexpected(request: Request, err: Exception) -> JSONResponse:
    request_id = current_request_id()
    logger.error("unexpected error in %s %s (request %s)", request.method, request.url.path, request_id,
                 exc_info=err)
    return render(request, ApiError(500, f"Unexpected error ({type(err).__name__}); the server is still running and "
                                         f"the details are in its log under request id {request_id}.",
                                    code="internal_error", type="server_error"))


def install(app: Any) -> None:
    """Register the handlers on a FastAPI app."""
    import gradio as gr

    app.add_exception_handler(ApiError, handle_api_error)
    app.add_exception_handler(MmhubError, handle_mmhub_error)
    app.add_exception_handler(gr.Error, handle_mmhub_error)
    app.add_exception_handler(RequestValidationError, handle_validation)
    app.add_exception_handler(StarletteHTTPException, handle_http)
    app.add_exception_handler(Exception, handle_unexpected)
