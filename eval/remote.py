"""The Polish suite against a model on an OpenAI-compatible server, through lm-eval's API models.

    python -m eval --backend openai --endpoint http://gpu-box:8000/v1 --model speakleash/Bielik-11B-v2.6-Instruct
    python -m eval --backend openai --endpoint http://localhost:8000/v1 --model NAME --tasks polish_generate

Generative tasks (``polish_generate``, the leaderboard's "Avg g") send plain prompts to ``/v1/completions`` (lm-eval's
``local-completions``; ``local-chat-completions`` with ``--apply-chat-template``), so they run against any
compatible server: vLLM, TGI, llama.cpp's server, ``transformers serve``. Multiple-choice tasks (``polish_mc``)
score each answer by the log-probability of its tokens, which needs a server that returns *prompt* log-probabilities
(``echo=True`` with ``logprobs``): vLLM does; ``transformers serve`` ignores both fields (its completion handler lists
them as unused), and chat completions have none. mmhub asks the server once before the run and stops with a clear
error instead of failing mid-suite.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from pipelines.errors import InputError, ModelLoadError
from pipelines.textfiles import parse_json

logger = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 2048  # lm-eval's TemplateAPI default, when neither the server nor the folder says otherwise
DEFAULT_CONCURRENCY = 8


def openai_lm(endpoint: str, model: str | None, api_key: str | None, *, needs_loglikelihood: bool, chat: bool,
              concurrency: int = DEFAULT_CONCURRENCY, max_length: int | None = None) -> tuple[Any, str, str]:
    """(lm-eval model, served model name, cache fingerprint) for `model` on `endpoint`.

    Args:
        needs_loglikelihood (`bool`): some task scores answers by log-probability (multiple choice).
        chat (`bool`): send chats (``--apply-chat-template``) to ``/v1/chat/completions``.
        concurrency (`int`): requests in flight at once (lm-eval's ``num_concurrent``); each is one prompt.
        max_length (`int`, *optional*): the served model's context; default the server's ``max_model_len`` (vLLM
            reports it), else the ``config.json`` of a local model folder, else 2048.
    """
    from pipelines.text_generation_remote import RemoteTextGenerationPipeline

    server = RemoteTextGenerationPipeline.from_endpoint(endpoint, model, api_key=api_key)  # up? serves it?
    name = server.model_id
    if needs_loglikelihood:
        if chat:
            raise InputError("apply_chat_template", True, "False for multiple-choice tasks on a server",
                             "Chat completions return no prompt log-probabilities; run polish_mc without it, or "
                             "only --tasks polish_generate with it.")
        _check_prompt_logprobs(server)
    context = max_length or server.context_length or _folder_context(name) or DEFAULT_MAX_LENGTH
    from lm_eval.models.openai_completions import LocalChatCompletion, LocalCompletionsAPI

    common: dict[str, Any] = {
        "model": name, "num_concurrent": concurrency, "max_retries": 3, "max_length": context, "batch_size": 1,
        "timeout": int(server.timeout), "header": {"Authorization": f"Bearer {api_key or 'EMPTY'}"},
    }
    if chat:
        lm = LocalChatCompletion(base_url=f"{server.endpoint}/chat/completions", **common)
    elif needs_loglikelihood:
        # Log-probabilities are read per token: lm-eval tokenizes with the server's /tokenize (vLLM) when it has one,
        # else with the model's own tokenizer (its Hub id or folder); `auth_token` reaches the /tokenize probe.
        lm = LocalCompletionsAPI(base_url=f"{server.endpoint}/completions", tokenizer_backend="auto",
                                 auth_token=api_key, **common)
    else:
        # Plain text prompts, no client-side tokenizer: works with any server and any served-model name.
        lm = LocalCompletionsAPI(base_url=f"{server.endpoint}/completions", tokenizer_backend=None,
                                 tokenized_requests=False, **common)
    fingerprint = hashlib.sha1(json.dumps([server.endpoint, name, context, chat]).encode()).hexdigest()[:10]
    logger.info("%s on %s (context %d, %d requests at once)", name, server.endpoint, context, concurrency)
    return lm, name, fingerprint


def _check_prompt_logprobs(server: Any) -> None:
    """Ask for one token with ``echo`` + ``logprobs`` (what lm-eval's loglikelihood sends) and check the answer."""
    response = server._calling(lambda: server.client.completions.create(
        model=server.model_id, prompt="Ala ma kota", max_tokens=1, temperature=0, echo=True, logprobs=1))
    try:
        logprobs = response.choices[0].logprobs
        values = [v for v in (logprobs.token_logprobs or []) if v is not None]
    except (AttributeError, IndexError, TypeError):
        values = []
    if len(values) < 2:  # the prompt's tokens (all but the first have one) and the new one
        raise ModelLoadError(server.model_id, "incompatible",
                             f"the server at {server.endpoint} returns no prompt log-probabilities (echo=True with "
                             f"logprobs), which multiple-choice tasks need. vLLM returns them; with this server run "
                             f"--tasks polish_generate.")


def _folder_context(model: str) -> int | None:
    """The context of a model the server loaded from a local folder (its config.json), when that folder is here."""
    config = Path(model).expanduser() / "config.json"
    try:
        data = parse_json(config.read_text())
    except (OSError, ValueError):
        return None
    for key in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        if isinstance(data.get(key), int) and data[key] > 0:
            return data[key]
    return None
