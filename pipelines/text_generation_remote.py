"""Text generation on an OpenAI-compatible server: vLLM, TGI, llama.cpp's server or ``transformers serve``.

The same call as the local `~pipelines.text_generation.TextGenerationPipeline`, validated by the same functions
(`pipelines.generation_params`), returning the same `GeneratedText` with the server's token counts; many users
(a class, a Space) share one GPU server. Plain prompts go to ``/v1/completions``, chats to ``/v1/chat/completions``,
``stream=True`` reads server-sent events, and a batch of prompts becomes concurrent requests (at most
``max_concurrency`` at a time).

>>> from pipelines import load
>>> # on the GPU box: vllm serve speakleash/Bielik-11B-v2.6-Instruct --tensor-parallel-size 2
>>> gen = load("text-generation", model="speakleash/Bielik-11B-v2.6-Instruct", endpoint="http://gpu-box:8000/v1")
>>> print(gen([{"role": "user", "content": "Napisz haiku o Wiśle."}], max_new_tokens=64, temperature=0))

Requests are made with the ``openai`` client: timeouts, and retries with exponential backoff on connection errors,
timeouts, 408 / 409 / 429 and 5xx answers (``openai._base_client.SyncAPIClient._should_retry``: 0.5 s doubling up to
8 s, honouring ``Retry-After``). Failures become one clear error: `ModelLoadError` (reasons ``offline`` for a server
that is down or overloaded, ``timeout`` for one that does not answer in time, ``not_found`` for a model it does not
serve, ``unauthorized`` for a refused key, ``incompatible`` for an answer that is not an OpenAI-compatible one) or
`InputError` for a request it refuses.

Bounded time. Connecting (`from_endpoint`) asks ``GET /models`` with at most `PROBE_TIMEOUT` seconds (or `timeout`,
if lower) and at most one retry, so a server whose ``/models`` hangs is a ``timeout`` error within about 31 s; a
generation request fails within ``timeout * (1 + max_retries)`` seconds plus the backoff (at most 8 s per retry).
An answer that is not an OpenAI-compatible one is ``incompatible``, never a raw parser error nor silently cut short:
a body or stream event that is not JSON, token counts that are not counts (``usage.prompt_tokens: -5``), or a stream
that ends before its last choice says why it finished (no ``finish_reason``: the server dropped the connection;
vLLM, TGI and ``transformers serve`` all send one before ``data: [DONE]``).

Differences from the local pipeline, all decided by the server: it stops at its checkpoint's EOS ids (the
generation config), where the local pipeline also stops at the chat template's end-of-turn token; ``truncate=True``
is refused (the server counts tokens, not mmhub); ``top_k`` and ``repetition_penalty`` are sent as vLLM's extra
sampling parameters, which other servers may refuse. ``transformers serve`` samples only when the checkpoint's
generation config has ``do_sample`` (its ``_build_generation_config`` never turns sampling on).

Streamed and non-streamed text from ``transformers serve`` differ in one documented way, which no client can undo:
when the generation ends inside bytes that are not UTF-8 (a model that stops mid-character, or writes stray bytes),
its non-streamed answer decodes them as U+FFFD, as the local pipeline does, while its stream never sends them
(``DirectStreamer`` feeds tokenizers' ``DecodeStream``, which holds back text that ends in U+FFFD until a valid
character follows; at the end nothing follows). So the streamed text is the non-streamed text without its trailing
U+FFFD characters; U+FFFD inside the text is streamed. mmhub keeps each as the server sends it (the non-streamed text
equals the local pipeline's, and the stream shows nothing that was not sent); the test suite checks this relation
on a real ``transformers serve``.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable, Iterator
from typing import Any

from pipelines import validate
from pipelines.base import Pipeline
from pipelines.errors import InputError, ModelLoadError
from pipelines.generation_params import (
    GenerationParams,
    check_generation_params,
    cut_at_stop,
    cut_stream,
    split_prompts,
)
from pipelines.text_generation import GeneratedText

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 300.0  # seconds per request: a long generation on a busy server
CONNECT_TIMEOUT = 10.0
PROBE_TIMEOUT = 15.0  # seconds for GET /models when connecting: a listing is instant on a working server
PROBE_RETRIES = 1
DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_CONCURRENCY = 8
MAX_CONCURRENCY = 1024  # requests in flight at once (the bulk runner's --batch-size with --endpoint)
#: Sent when no key is given: vLLM's documented placeholder; a server started without ``--api-key`` ignores it.
#: (OPENAI_API_KEY is never read implicitly: it would send an OpenAI key to any server.)
NO_KEY = "EMPTY"
_EXTRA_PARAMS = {"top_k": "top_k", "repetition_penalty": "repetition_penalty"}  # vLLM's extra sampling parameters


class EndpointError(ModelLoadError):
    """A server failed or refused a request; `reason` is one of `ModelLoadError.REASONS`, `endpoint` the server."""

    def __init__(self, endpoint: str, model: str | None, reason: str, message: str):
        super().__init__(model or "(the server's model)", reason, message)
        self.endpoint = endpoint
        self.args = (f"Server {endpoint} ({reason.replace('_', ' ')}): {message}",)


class RemoteTextGenerationPipeline(Pipeline):
    """A model served over an OpenAI-compatible API, called exactly like `TextGenerationPipeline`.

    Build it with ``load("text-generation", model=NAME, endpoint=URL)`` (or `from_endpoint`).
    """

    task = "text-generation"

    def __init__(self, client: Any, model_id: str, endpoint: str, max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
                 context_length: int | None = None, timeout: float = DEFAULT_TIMEOUT, max_retries: int = 0):
        super().__init__(model_id, endpoint, None)
        self.client, self.endpoint = client, endpoint
        self.max_concurrency, self.context_length = max_concurrency, context_length
        self.timeout, self.max_retries = timeout, max_retries

    @classmethod
    def from_endpoint(cls, endpoint: str, model: str | None = None, *, api_key: str | None = None,
                      timeout: float | None = None, max_retries: int | None = None,
                      max_concurrency: int | None = None, local_options: dict[str, Any] | None = None,
                      ) -> RemoteTextGenerationPipeline:
        """Connect to `endpoint` and check that it serves `model` (one GET of ``/models``).

        Args:
            endpoint (`str`): the API's base URL, e.g. ``"http://localhost:8000/v1"`` (vLLM, TGI, ``transformers
                serve``: the path ends in ``/v1``).
            model (`str`, *optional*): the served model's name (vLLM's ``--served-model-name``, by default the Hub
                id it was started with); default: the server's model when it serves exactly one.
            api_key (`str`, *optional*): the server's key (vLLM ``--api-key``); sent as a Bearer token.
            timeout (`float`, defaults to 300): seconds one request may take (connecting: 10 s at most).
            max_retries (`int`, defaults to 3): retries of a failed request, with exponential backoff.
            max_concurrency (`int`, defaults to 8): requests in flight at once for a batch of prompts.
            local_options (`dict`, *optional*): `from_pretrained`'s options that only a local model takes; any that is
                set is an `InputError` (the server chose them when it loaded the weights).
        """
        endpoint = validate.url("endpoint", endpoint)
        for name, value in (local_options or {}).items():
            if value is not None:
                hint = ("The server applies LoRA adapters itself (vLLM: --enable-lora --lora-modules NAME=FOLDER): "
                        "pass NAME as the model." if name == "adapter" else
                        "The server loaded the weights: set it there.")
                raise InputError(name, value, "None with endpoint=", hint)
        if model is not None:
            model = validate.text("model", model).strip()
        if api_key is not None:
            api_key = validate.header_value("api_key", api_key)  # sent as a header: no CR / LF injection
        timeout = DEFAULT_TIMEOUT if timeout is None else validate.number("timeout", timeout, low=0, high=86_400,
                                                                          low_open=True)
        max_retries = DEFAULT_MAX_RETRIES if max_retries is None else validate.integer("max_retries", max_retries,
                                                                                       low=0, high=20)
        max_concurrency = DEFAULT_MAX_CONCURRENCY if max_concurrency is None else validate.integer(
            "max_concurrency", max_concurrency, low=1, high=MAX_CONCURRENCY)
        try:
            import httpx2
            import openai
        except ImportError as err:
            raise ModelLoadError(model or endpoint, "missing_dependency",
                                 "a server endpoint needs the openai client: pip install openai") from err
        client = openai.OpenAI(base_url=endpoint, api_key=api_key or NO_KEY, max_retries=max_retries,
                               timeout=httpx2.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)))
        pipe = cls(client, model or "", endpoint, max_concurrency, timeout=timeout, max_retries=max_retries)
        served = pipe._served_models()
        names = [entry["id"] for entry in served]
        if model is None:
            if len(names) != 1:
                raise InputError("model", None, f"one of the models the server serves: {names}",
                                 f"{endpoint} serves {len(names)} models; name one.")
            model = names[0]
        elif model not in names:
            raise EndpointError(endpoint, model, "not_found",
                                f"it serves {names}, not {model!r}. Pass one of those as the model, or start the "
                                f"server with this one (e.g. `vllm serve {model}`).")
        pipe.model_id = model
        pipe.context_length = next((e.get("max_model_len") for e in served if e["id"] == model), None)
        logger.info("%s on %s%s", model, endpoint,
                    f" (context {pipe.context_length})" if pipe.context_length else "")
        return pipe

    @property
    def has_chat_template(self) -> bool:
        """Assumed True: whether the served model has one is the server's business (it refuses chats otherwise)."""
        return True

    def __call__(self, inputs: str | list, *, max_new_tokens: int = 128, temperature: float = 0.7,
                 top_p: float | None = 0.95, top_k: int | None = None, repetition_penalty: float | None = None,
                 do_sample: bool | None = None, seed: int | None = None, stop: str | list[str] | None = None,
                 system_prompt: str | None = None, stream: bool = False, truncate: bool = False,
                 ) -> GeneratedText | list[GeneratedText] | Iterator[str]:
        """Generate for one prompt (or chat), or a batch of them (concurrent requests, results in input order)."""
        prompts, batched = split_prompts(inputs)
        params = check_generation_params(
            batched=batched, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
            repetition_penalty=repetition_penalty, do_sample=do_sample, seed=seed, stop=stop,
            system_prompt=system_prompt, stream=stream, truncate=truncate)
        if params.truncate:
            raise InputError("truncate", True, "False with a server endpoint",
                             "The server counts the tokens: shorten the prompt or lower max_new_tokens.")
        if params.stream:
            return self._stream(prompts[0], params)
        if len(prompts) == 1:
            results = [self._generate(prompts[0], params)]
        else:
            workers = min(len(prompts), self.max_concurrency)
            with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="mmhub-endpoint") as pool:
                results = list(pool.map(lambda p: self._generate(p, params), prompts))
        return results if batched else results[0]

    # -- requests ----------------------------------------------------------------------------------------------

    def _body(self, prompt: str | list[dict], params: GenerationParams) -> tuple[bool, dict[str, Any]]:
        """(is a chat, the request's keyword arguments), with the local pipeline's meaning of every parameter."""
        chat = not isinstance(prompt, str) or params.system_prompt is not None
        body: dict[str, Any] = {"model": self.model_id, "max_tokens": params.max_new_tokens}
        if chat:
            messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
            if params.system_prompt is not None and messages[0]["role"] != "system":
                messages.insert(0, {"role": "system", "content": params.system_prompt})
            body["messages"] = messages
        else:
            body["prompt"] = prompt
        extra: dict[str, Any] = {}
        if params.sample:
            body["temperature"] = params.temperature
            if params.top_p is not None:
                body["top_p"] = params.top_p
            if params.top_k is not None:
                extra[_EXTRA_PARAMS["top_k"]] = params.top_k
        else:
            body["temperature"] = 0.0  # greedy on vLLM, TGI, llama.cpp and transformers serve
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stops:
            body["stop"] = params.stops
        if params.repetition_penalty is not None:
            extra[_EXTRA_PARAMS["repetition_penalty"]] = params.repetition_penalty
        if extra:
            body["extra_body"] = extra
        return chat, body

    def _create(self, chat: bool, body: dict[str, Any], stream: bool) -> Any:
        """Send one request; check that the answer is JSON (or an event stream) before parsing it."""
        resource = self.client.chat.completions if chat else self.client.completions
        raw = self._calling(lambda: resource.with_raw_response.create(**body, stream=stream))
        self._check_content_type(raw, "text/event-stream" if stream else "application/json")
        return self._calling(raw.parse)

    def _generate(self, prompt: str | list[dict], params: GenerationParams) -> GeneratedText:
        chat, body = self._body(prompt, params)
        response = self._create(chat, body, stream=False)
        try:
            choice = response.choices[0]
            text = choice.message.content if chat else choice.text
            reason = choice.finish_reason
            usage = response.usage
            if not isinstance(text, str):
                raise TypeError(f"no text in {choice!r}")
            if reason is not None and not isinstance(reason, str):
                raise TypeError(f"finish_reason is {reason!r}")
        except (AttributeError, IndexError, KeyError, TypeError) as err:
            raise self._incompatible(f"its answer is not a completion ({type(err).__name__}: {err}).") from err
        # transformers serve keeps a stop string in the text (vLLM and TGI cut it): cut here as the local path does.
        text, stopped = cut_at_stop(text, params.stops)
        prompt_tokens, new_tokens = self._count(usage, "prompt_tokens"), self._count(usage, "completion_tokens")
        return GeneratedText(text, prompt_tokens, new_tokens, "stop" if stopped else (reason or "stop"), params.seed)

    def _count(self, usage: Any, name: str) -> int:
        """A token count of the answer's ``usage`` (0 when the server sends none); `incompatible` for one that is
        not a count (negative, fractional, text, a number past any context)."""
        value = getattr(usage, name, None)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**40:
            raise self._incompatible(f"its usage.{name} is {value!r}, not a token count.")
        return value

    def _stream(self, prompt: str | list[dict], params: GenerationParams) -> Iterator[str]:
        chat, body = self._body(prompt, params)
        events = self._create(chat, body, stream=True)
        return cut_stream(self._deltas(events, chat), params.stops)

    def _deltas(self, events: Any, chat: bool) -> Iterator[str]:
        finished = False
        try:
            for event in self._calling_iter(events):
                if not getattr(event, "choices", None):
                    continue  # the usage-only chunk, or a keep-alive
                try:
                    choice = event.choices[0]
                    text = (choice.delta.content if chat else choice.text) or ""
                    finished = finished or bool(getattr(choice, "finish_reason", None))
                    if not isinstance(text, str):
                        raise TypeError(f"its text is {type(text).__name__}")
                except (AttributeError, IndexError, KeyError, TypeError) as err:
                    raise self._incompatible(f"a stream event is not a completion chunk ({err}).") from err
                if text:
                    yield text
            if not finished:  # the connection ended mid-answer: never hand on a cut answer as a whole one
                raise self._incompatible("the stream ended before the server said the answer was finished (no "
                                         "finish_reason, no data: [DONE]): the connection was dropped and the text "
                                         "is cut short.")
        finally:
            events.close()  # the consumer stopped (or a stop string was hit): the server cancels the generation

    # -- errors ------------------------------------------------------------------------------------------------

    def _served_models(self) -> list[dict[str, Any]]:
        import httpx2

        probe = min(self.timeout, PROBE_TIMEOUT)
        client = self.client.with_options(timeout=httpx2.Timeout(probe, connect=min(probe, CONNECT_TIMEOUT)),
                                          max_retries=min(self.max_retries, PROBE_RETRIES))
        raw = self._calling(lambda: client.models.with_raw_response.list(), listing=True)
        self._check_content_type(raw, "application/json")
        try:
            page = self._calling(raw.parse, listing=True)
            served = [m.model_dump() if hasattr(m, "model_dump") else dict(m) for m in page.data]
            if not all(isinstance(m.get("id"), str) for m in served):
                raise TypeError("a model without an id")
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            raise self._incompatible(f"its /models answer is not a model list ({err}).") from err
        return served

    def _calling(self, call: Callable[[], Any], listing: bool = False) -> Any:
        import openai

        try:
            return call()
        except openai.APIError as err:
            raise self._translate(err, listing) from err
        except ValueError as err:  # the body is not JSON (json.JSONDecodeError), or JSON nested past the limit
            raise self._incompatible(f"its answer is not JSON ({type(err).__name__}: {str(err)[:200]}).") from err
        except RecursionError as err:
            raise self._incompatible("its answer is JSON nested deeper than Python parses.") from err

    def _calling_iter(self, events: Any) -> Iterator[Any]:
        import openai

        iterator = iter(events)
        while True:
            try:
                event = next(iterator)
            except StopIteration:
                return
            except openai.APIError as err:
                raise self._translate(err) from err
            except (ValueError, RecursionError) as err:  # an event whose data is not JSON
                raise self._incompatible(f"a stream event is not JSON ({type(err).__name__}: "
                                         f"{str(err)[:200]}).") from err
            yield event

    def _check_content_type(self, raw: Any, expected: str) -> None:
        content_type = raw.headers.get("content-type", "")
        if expected not in content_type.lower():
            snippet = " ".join(raw.http_response.text[:120].split()) if expected == "application/json" else ""
            raise self._incompatible(f"it answered {content_type or 'without a content type'}, not {expected}"
                                     + (f" ({snippet!r})" if snippet else "")
                                     + ": it is not an OpenAI-compatible API. Check the URL and port (vLLM, TGI and "
                                       "transformers serve answer under http://HOST:PORT/v1).")

    def _incompatible(self, message: str) -> EndpointError:
        return EndpointError(self.endpoint, self.model_id or None, "incompatible", message)

    def _translate(self, err: Exception, listing: bool = False) -> Exception:
        """One clear mmhub error for an openai client error."""
        import openai

        model = self.model_id or None
        detail = _server_message(err)
        retries = min(self.max_retries, PROBE_RETRIES) if listing else self.max_retries
        if isinstance(err, openai.APITimeoutError):
            if listing:
                return EndpointError(self.endpoint, model, "timeout",
                                     f"GET {self.endpoint}/models got no answer within "
                                     f"{min(self.timeout, PROBE_TIMEOUT):g} s "
                                     f"({retries} retries): the server is hung, or it "
                                     f"is not an OpenAI-compatible API.")
            return EndpointError(self.endpoint, model, "timeout",
                                 f"no answer within {self.timeout:g} s ({self.max_retries} retries). The server is "
                                 f"down or overloaded; raise timeout= for long generations.")
        if isinstance(err, openai.APIConnectionError):
            cause = err.__cause__ or err.__context__
            return EndpointError(self.endpoint, model, "offline",
                                 f"no server answers there ({type(cause).__name__ if cause else 'connection error'}"
                                 f", {retries} retries). Start it (e.g. `vllm serve MODEL`), or check the "
                                 f"URL and port.")
        if isinstance(err, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return EndpointError(self.endpoint, model, "unauthorized",
                                 f"it refused the API key (HTTP {err.status_code}: {detail}). Pass the key the server "
                                 f"was started with (api_key=, or --api-key-env VAR on the command line).")
        if isinstance(err, openai.NotFoundError):
            if listing:
                return self._incompatible(f"{self.endpoint}/models does not exist (HTTP 404): the endpoint must be "
                                          f"the base URL of an OpenAI-compatible API, which usually ends in /v1.")
            return EndpointError(self.endpoint, model, "not_found", f"HTTP 404: {detail}")
        if isinstance(err, openai.APIStatusError) and err.status_code in (400, 413, 422):
            if _mentions_model(detail):
                return EndpointError(self.endpoint, model, "not_found", f"HTTP {err.status_code}: {detail}")
            argument = next((name for name, wire in _EXTRA_PARAMS.items() if wire in detail), None)
            if argument is not None:
                return InputError(argument, f"a value sent to {self.endpoint}", "a parameter this server takes",
                                  f"It answered HTTP {err.status_code}: {detail} (vLLM takes it; leave it out here).")
            return InputError("inputs", f"a request to {self.endpoint}", "a request the server accepts",
                              f"It answered HTTP {err.status_code}: {detail}")
        if isinstance(err, openai.APIStatusError) and (err.status_code in (429, 502, 503, 504)):
            return EndpointError(self.endpoint, model, "offline",
                                 f"it is unavailable or overloaded (HTTP {err.status_code}, {retries} retries): "
                                 f"{detail}")
        if isinstance(err, openai.APIStatusError):
            return self._incompatible(f"HTTP {err.status_code}: {detail}")
        return self._incompatible(f"the request failed: {detail}")


def _server_message(err: Exception) -> str:
    """The server's own words: the JSON body's message / detail / error, else the exception's text."""
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if value:
                return " ".join(str(value).split())[:500]
    return " ".join(str(getattr(err, "message", err)).split())[:500]


def _mentions_model(message: str) -> bool:
    """True when a 4xx answer is about the model name (vLLM: "The model `x` does not exist"; transformers serve:
    "Server is pinned to 'x'; requested 'y'")."""
    lowered = message.lower()
    return ("model" in lowered and ("does not exist" in lowered or "not found" in lowered)) or "pinned to" in lowered
