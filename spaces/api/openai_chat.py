"""``POST /v1/chat/completions`` and ``POST /v1/completions``, as OpenAI's API reference defines them.

    curl http://127.0.0.1:7860/v1/chat/completions -H 'Content-Type: application/json' \\
        -d '{"model": "tiny-chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16}'

Honoured fields: ``model``, ``messages`` (text content, as a string or ``{"type": "text"}`` parts; ``developer`` is a
system message), ``prompt`` (completions: a string or a list of strings), ``stream`` (server-sent events ending in
``data: [DONE]``) with ``stream_options.include_usage``, ``stop`` (up to 4), ``seed``, ``temperature`` (0 to 2; 0 is
greedy), ``top_p``, ``max_tokens`` / ``max_completion_tokens`` (default: the rest of the model's context), ``n``,
``logprobs`` / ``top_logprobs`` (chat) or ``logprobs`` (completions: 0-5), ``user`` / ``safety_identifier`` (written
in the log line), and as extras ``top_k`` and ``repetition_penalty`` (vLLM's names; the openai SDK sends them with
``extra_body=``). OpenAI fields without an effect here are accepted with their neutral value only (``tools: []``,
``presence_penalty: 0``, ...); any other field or value is a 400 naming it (`spaces.api.fields`).

A chat runs through the model's chat template exactly as the Chat tab runs it (``gen(messages, ...)``); a model without
one (GPT-2) continues the Chat tab's plain "User: / Assistant:" transcript and stops at the next "User:" line. Usage
counts are the pipeline's token counts; log-probabilities are the log-softmax of the model's logits (before
temperature and top-p).

With ``--llm-endpoint URL`` both routes are proxied to that server (vLLM, TGI, ``transformers serve``) through the
app's `RemoteTextGenerationPipeline` (its client, timeouts, retries and error translation): the validated request
goes there as it is, with the server's answer (its logprobs, usage, finish reasons) coming back unchanged.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from pipelines.generation_params import MAX_NEW_TOKENS

from ..text_generation import TASK, to_transcript
from .errors import ApiError, field_error
from .fields import OpenAIRequest, register
from .service import Service, get_service

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["openai"])

MAX_N = 16
MAX_STOPS = 4  # OpenAI: "Up to 4 sequences"
TRANSCRIPT_NAMES = ("User", "Assistant")  # the Chat tab's English transcript for models without a chat template
COMMON_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "frequency_penalty": (0,), "presence_penalty": (0,), "logit_bias": ({},), "store": (False,),
    "service_tier": ("auto", "default"), "metadata": ({},),
}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


# -- requests ---------------------------------------------------------------------------------------------------------


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class _Sampling(OpenAIRequest):
    model: str = Field(min_length=1, description="A model id from GET /v1/models (or an allowed Hub id / local "
                                                 "folder).")
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2, description="0 is greedy; default 1.")
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=MAX_NEW_TOKENS, description="Default: the rest of the model's "
                                                                             "context.")
    n: int | None = Field(None, ge=1, le=MAX_N)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    user: str | None = Field(None, max_length=256)
    safety_identifier: str | None = Field(None, max_length=256)
    top_k: int | None = Field(None, ge=0, le=1_000_000, description="mmhub / vLLM extra: top-k sampling; 0 is off.")
    repetition_penalty: float | None = Field(None, ge=0.01, le=10, description="mmhub / vLLM extra; 1 is none.")


@register("/v1/chat/completions")
class ChatRequest(_Sampling):
    """OpenAI's chat completion request (the fields this server honours)."""

    ENDPOINT: ClassVar[str] = "chat"
    NEUTRAL: ClassVar[dict[str, tuple[Any, ...]]] = COMMON_NEUTRAL | {
        "tools": ([],), "tool_choice": ("none", "auto"), "parallel_tool_calls": (True, False),
        "response_format": ({"type": "text"},), "modalities": (["text"],), "functions": ([],),
        "function_call": ("none", "auto"),
    }
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_NEW_TOKENS)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)


@register("/v1/completions")
class CompletionRequest(_Sampling):
    """OpenAI's (legacy) completion request (the fields this server honours)."""

    ENDPOINT: ClassVar[str] = "completions"
    NEUTRAL: ClassVar[dict[str, tuple[Any, ...]]] = COMMON_NEUTRAL | {"echo": (False,), "best_of": (1,),
                                                                      "suffix": ("",)}
    prompt: str | list[str] = Field(description="A prompt, or a list of prompts (one choice set each).")
    logprobs: int | None = Field(None, ge=0, le=5)


# -- responses --------------------------------------------------------------------------------------------------------


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class TopLogprob(BaseModel):
    token: str
    bytes: list[int] | None = None
    logprob: float


class TokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprob] | None = None
    refusal: list[TokenLogprob] | None = None


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length", "tool_calls", "content_filter", "function_call"]
    logprobs: ChoiceLogprobs | None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class CompletionLogprobs(BaseModel):
    text_offset: list[int] | None = None
    token_logprobs: list[float] | None = None
    tokens: list[str] | None = None
    top_logprobs: list[dict[str, float]] | None = None


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: Literal["stop", "length", "content_filter"]
    logprobs: CompletionLogprobs | None = None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


STREAM_DOC = {200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                    "description": "JSON, or with stream=true server-sent events ending in `data: [DONE]`."}}


# -- the routes -------------------------------------------------------------------------------------------------------


def _stops(stop: str | list[str] | None) -> list[str] | None:
    if stop is None:
        return None
    stops = [stop] if isinstance(stop, str) else list(stop)
    if len(stops) > MAX_STOPS:
        raise field_error("stop", f"`stop` takes at most {MAX_STOPS} sequences; got {len(stops)}.")
    for i, item in enumerate(stops):
        if not item:
            raise field_error("stop" if isinstance(stop, str) else f"stop[{i}]", "A stop sequence must not be empty.")
    return stops or None


def _max_tokens(body: _Sampling) -> int | None:
    chat_limit = getattr(body, "max_completion_tokens", None)
    if chat_limit is not None and body.max_tokens is not None and chat_limit != body.max_tokens:
        raise field_error("max_completion_tokens", "`max_tokens` and `max_completion_tokens` differ; send one "
                                                   "(max_tokens is the older name of the same limit).")
    return chat_limit if chat_limit is not None else body.max_tokens


def _log_user(body: _Sampling) -> None:
    if body.user or body.safety_identifier:
        logger.info("end user: %s", body.safety_identifier or body.user)


def _params(body: _Sampling, stops: list[str] | None, max_tokens: int) -> dict[str, Any]:
    """The pipeline's keyword arguments for OpenAI's sampling fields (OpenAI's defaults: temperature 1, top_p 1)."""
    temperature = 1.0 if body.temperature is None else body.temperature
    params: dict[str, Any] = {"max_new_tokens": max_tokens, "temperature": temperature,
                              "top_p": 1.0 if body.top_p is None else body.top_p, "seed": body.seed, "stop": stops}
    if body.top_k is not None:
        params["top_k"] = body.top_k
    if body.repetition_penalty is not None:
        params["repetition_penalty"] = body.repetition_penalty
    if temperature == 0:
        params["top_p"] = None
    return params


def _prompt_length(gen: Any, prompt: Any) -> int:
    """Tokens of `prompt` (text or chat) as the pipeline encodes it."""
    return len(gen._encode(prompt, None, 1, False))


def _default_max_tokens(gen: Any, prompts: list[Any]) -> int:
    """OpenAI's default: as many new tokens as the model's context leaves after the longest prompt."""
    room = gen.context_length - max(_prompt_length(gen, p) for p in prompts)
    if room < 1:
        raise field_error("messages", f"The prompt fills the model's context ({gen.context_length} tokens); "
                                      "shorten it.", "context_length_exceeded")
    return room


def _token_logprobs(entries: list[dict[str, Any]] | None, top: int) -> ChoiceLogprobs | None:
    if entries is None:
        return None
    return ChoiceLogprobs(content=[TokenLogprob(
        token=e["token"], bytes=e["bytes"], logprob=e["logprob"],
        top_logprobs=[TopLogprob(token=t["token"], bytes=t["bytes"], logprob=t["logprob"]) for t in e["top"][:top]])
        for e in entries])


def _completion_logprobs(entries: list[dict[str, Any]] | None, top: int) -> CompletionLogprobs | None:
    if entries is None:
        return None
    offsets, position = [], 0
    for entry in entries:
        offsets.append(position)
        position += len(entry["token"])
    return CompletionLogprobs(text_offset=offsets, token_logprobs=[e["logprob"] for e in entries],
                              tokens=[e["token"] for e in entries],
                              top_logprobs=[{t["token"]: t["logprob"] for t in e["top"][:top]} for e in entries])


def _sse(data: Any) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _chat_prompt(gen: Any, messages: list[dict[str, str]], stops: list[str] | None) -> tuple[Any, list[str] | None]:
    """What the Chat tab sends the pipeline: the chat (template), or its transcript and a stop at the next turn."""
    if gen.has_chat_template:
        return messages, stops
    user, assistant = TRANSCRIPT_NAMES
    return to_transcript(messages, user, assistant), [*(stops or []), f"\n{user}:"]


PIPELINE_NAMES = {"max_new_tokens": "max_tokens", "inputs": None, "prompt": None}


def _as_field(err: ApiError, prompt_field: str) -> ApiError:
    """The pipeline's argument names (max_new_tokens, prompt[0]) as the request's fields."""
    name = err.param or ""
    head = name.split("[")[0]
    if head in PIPELINE_NAMES:
        field = PIPELINE_NAMES[head] or prompt_field
        err.message, err.param = err.message.replace(f"`{name}`", f"`{field}`"), field
    return err


async def _generate_limit(service: Service, request: Request, gen: Any, prompts: list[Any], prompt_field: str) -> int:
    try:
        return await service.run(request, TASK, _default_max_tokens, gen, prompts)
    except ApiError as err:
        raise _as_field(err, prompt_field) from None


async def _start_stream(service: Service, request: Request, make: Any, prompt_field: str) -> Any:
    try:
        return await service.stream(request, TASK, make)
    except ApiError as err:
        raise _as_field(err, prompt_field) from None


async def _generate(service: Service, request: Request, gen: Any, prompts: list[Any], params: dict[str, Any],
                    logprobs: int | None, prompt_field: str) -> Any:
    try:
        return await service.run(request, TASK, gen, prompts, **params, logprobs=logprobs)
    except ApiError as err:
        raise _as_field(err, prompt_field) from None


@router.post("/chat/completions", response_model=ChatCompletion, responses=STREAM_DOC,
             summary="Chat completion (OpenAI: chat.completions.create)")
async def chat_completions(body: ChatRequest, request: Request, service: Service = Depends(get_service)) -> Any:
    _log_user(body)
    stops = _stops(body.stop)
    max_tokens = _max_tokens(body)
    if body.top_logprobs is not None and not body.logprobs:
        raise field_error("top_logprobs", "`top_logprobs` needs `logprobs: true`.")
    if body.stream and (body.n or 1) > 1:
        raise field_error("n", "`n` must be 1 with `stream: true` on this server.")
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in body.messages]
    gen = await service.pipeline(request, TASK, body.model, tiny_variant="tiny-chat")
    if service.ctx.llm is not None:
        return await _proxy(service, request, gen, body, chat=True)
    prompt, stops = _chat_prompt(gen, messages, stops)
    if body.logprobs and body.stream:
        raise field_error("logprobs", "`logprobs` is not available with `stream: true` on this server.")
    limit = max_tokens or await _generate_limit(service, request, gen, [prompt], "messages")
    params = _params(body, stops, limit)
    created, completion_id, name = int(time.time()), f"chatcmpl-{uuid.uuid4().hex}", request.state.model
    if body.stream:
        stream = await _start_stream(service, request, lambda: gen(prompt, **params, stream=True), "messages")
        return StreamingResponse(_chat_events(stream, completion_id, created, name, body.stream_options),
                                 media_type="text/event-stream", headers=SSE_HEADERS)
    n = body.n or 1
    top = body.top_logprobs or 0
    logprobs = top if body.logprobs else None
    results = await _generate(service, request, gen, [prompt] * n, params, logprobs, "messages")
    choices = [ChatChoice(index=i, message=AssistantMessage(content=r.text), finish_reason=r.finish_reason,
                          logprobs=_token_logprobs(r.logprobs, top)) for i, r in enumerate(results)]
    usage = Usage(prompt_tokens=results[0].prompt_tokens, completion_tokens=sum(r.new_tokens for r in results),
                  total_tokens=results[0].prompt_tokens + sum(r.new_tokens for r in results))
    return ChatCompletion(id=completion_id, created=created, model=name, choices=choices, usage=usage)


async def _chat_events(stream: Any, completion_id: str, created: int, model: str,
                       options: StreamOptions | None) -> AsyncIterator[str]:
    """OpenAI's chunk sequence: the role first, the content deltas, a chunk with the finish reason, the usage chunk
    (with ``stream_options.include_usage``), then ``[DONE]``."""
    usage_wanted = bool(options and options.include_usage)
    obfuscate = bool(options and options.include_obfuscation)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        data = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
        if usage_wanted:
            data["usage"] = None
        if obfuscate:
            data["obfuscation"] = secrets.token_urlsafe(8)
        return data

    yield _sse(chunk({"role": "assistant", "content": ""}))
    source = getattr(stream, "source", None)
    try:
        async for text in stream:
            yield _sse(chunk({"content": text}))
    except ApiError as err:
        yield _sse({"error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}})
        return
    except Exception as err:  # noqa: BLE001 - the status is sent already: the error goes in the stream
        logger.error("stream failed", exc_info=err)
        yield _sse({"error": {"message": f"generation failed ({type(err).__name__})", "type": "server_error",
                              "param": None, "code": "internal_error"}})
        return
    yield _sse(chunk({}, getattr(source, "finish_reason", "stop")))
    if usage_wanted and source is not None:
        prompt_tokens, new_tokens = source.prompt_tokens, source.new_tokens
        yield _sse({"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [], "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": new_tokens,
                                             "total_tokens": prompt_tokens + new_tokens}})
    yield "data: [DONE]\n\n"


@router.post("/completions", response_model=Completion, responses=STREAM_DOC,
             summary="Text completion (OpenAI: completions.create)")
async def completions(body: CompletionRequest, request: Request, service: Service = Depends(get_service)) -> Any:
    _log_user(body)
    stops = _stops(body.stop)
    max_tokens = _max_tokens(body)
    prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
    if not prompts:
        raise field_error("prompt", "`prompt` must hold at least one prompt.")
    if body.stream and (len(prompts) > 1 or (body.n or 1) > 1):
        raise field_error("n" if (body.n or 1) > 1 else "prompt",
                          "`stream: true` takes one prompt and n=1 on this server.")
    gen = await service.pipeline(request, TASK, body.model)
    if service.ctx.llm is not None:
        return await _proxy(service, request, gen, body, chat=False)
    if body.logprobs is not None and body.stream:
        raise field_error("logprobs", "`logprobs` is not available with `stream: true` on this server.")
    limit = max_tokens or await _generate_limit(service, request, gen, prompts, "prompt")
    params = _params(body, stops, limit)
    created, completion_id, name = int(time.time()), f"cmpl-{uuid.uuid4().hex}", request.state.model
    if body.stream:
        stream = await _start_stream(service, request, lambda: gen(prompts[0], **params, stream=True), "prompt")
        return StreamingResponse(_completion_events(stream, completion_id, created, name, body.stream_options),
                                 media_type="text/event-stream", headers=SSE_HEADERS)
    n = body.n or 1
    batch = [p for p in prompts for _ in range(n)]  # OpenAI orders the choices prompt by prompt, n each
    results = await _generate(service, request, gen, batch, params, body.logprobs, "prompt")
    choices = [CompletionChoice(index=i, text=r.text, finish_reason=r.finish_reason,
                                logprobs=_completion_logprobs(r.logprobs, body.logprobs or 0))
               for i, r in enumerate(results)]
    prompt_tokens = sum(results[i * n].prompt_tokens for i in range(len(prompts)))
    new_tokens = sum(r.new_tokens for r in results)
    return Completion(id=completion_id, created=created, model=name, choices=choices,
                      usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=new_tokens,
                                  total_tokens=prompt_tokens + new_tokens))


async def _completion_events(stream: Any, completion_id: str, created: int, model: str,
                             options: StreamOptions | None) -> AsyncIterator[str]:
    usage_wanted = bool(options and options.include_usage)

    def chunk(text: str, finish: str | None = None) -> dict[str, Any]:
        data = {"id": completion_id, "object": "text_completion", "created": created, "model": model,
                "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}]}
        if usage_wanted:
            data["usage"] = None
        return data

    source = getattr(stream, "source", None)
    try:
        async for text in stream:
            yield _sse(chunk(text))
    except ApiError as err:
        yield _sse({"error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}})
        return
    except Exception as err:  # noqa: BLE001
        logger.error("stream failed", exc_info=err)
        yield _sse({"error": {"message": f"generation failed ({type(err).__name__})", "type": "server_error",
                              "param": None, "code": "internal_error"}})
        return
    yield _sse(chunk("", getattr(source, "finish_reason", "stop")))
    if usage_wanted and source is not None:
        yield _sse({"id": completion_id, "object": "text_completion", "created": created, "model": model,
                    "choices": [], "usage": {"prompt_tokens": source.prompt_tokens,
                                             "completion_tokens": source.new_tokens,
                                             "total_tokens": source.prompt_tokens + source.new_tokens}})
    yield "data: [DONE]\n\n"


# -- --llm-endpoint: a proxy ------------------------------------------------------------------------------------------


def _proxy_body(body: _Sampling, model: str) -> dict[str, Any]:
    """The validated request as the openai client's keyword arguments (mmhub's extras in ``extra_body``)."""
    data = body.model_dump(exclude_unset=True, exclude_none=True)
    data["model"] = model
    data.pop("stream", None)
    extra = {key: data.pop(key) for key in ("top_k", "repetition_penalty") if key in data}
    if extra:
        data["extra_body"] = extra
    return data


async def _proxy(service: Service, request: Request, remote: Any, body: _Sampling, chat: bool) -> Any:
    """Send the request to the ``--llm-endpoint`` server through `remote` (a `RemoteTextGenerationPipeline`)."""
    data = _proxy_body(body, remote.model_id)
    if not body.stream:
        response = await service.run(request, TASK, remote._create, chat, data, False)
        return JSONResponse(response.model_dump(mode="json", exclude_none=True))

    def events() -> Iterator[str]:
        stream = remote._create(chat, data, True)
        try:
            for event in remote._calling_iter(stream):
                yield _sse(event.model_dump(mode="json", exclude_none=True))
        finally:
            stream.close()
        yield "data: [DONE]\n\n"

    chunks = await service.stream(request, TASK, events)

    async def relay() -> AsyncIterator[str]:
        try:
            async for text in chunks:
                yield text
        except ApiError as err:
            yield _sse({"error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}})

    return StreamingResponse(relay(), media_type="text/event-stream", headers=SSE_HEADERS)
