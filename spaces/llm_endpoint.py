"""The Chat tab as a client of an OpenAI-compatible LLM server: the app stays light, many users share the GPU.

    # on the GPU box (see README: "Serving an LLM to many users")
    vllm serve speakleash/Bielik-11B-v2.6-Instruct --tensor-parallel-size 2 --api-key "$KEY"
    # anywhere
    python -m spaces --llm-endpoint http://gpu-box:8000/v1 --llm-model speakleash/Bielik-11B-v2.6-Instruct \\
        --llm-api-key-env KEY

Only text generation goes to the server; the other tabs load their models in the app as before. The Chat tab then
takes up to ``--llm-concurrency`` conversations at once (the server batches them) instead of one.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipelines import load, validate
from pipelines.errors import InputError

TASK = "text-generation"


@dataclass(frozen=True)
class LLMEndpoint:
    """Where the Chat tab's model runs: the server's base URL, the served model (None: its only one), the key."""

    url: str
    model: str | None = None
    api_key: str | None = None
    concurrency: int = 16

    def loader(self, base: Callable[..., Any] = load) -> Callable[..., Any]:
        """A `ModelCache` loader: text generation through this server, every other task as `base` loads it."""

        def load_model(task: str, model: str | None = None, **options: Any) -> Any:
            if task != TASK:
                return base(task, model=model, **options)
            return base(task, model=model or self.model or None, endpoint=self.url, api_key=self.api_key,
                        max_concurrency=self.concurrency, **options)

        return load_model

    def label(self) -> str:
        return f"{self.model or 'the server’s model'} @ {self.url}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--llm-endpoint", default=os.environ.get("MMHUB_LLM_ENDPOINT") or None, metavar="URL",
                        help="run the Chat tab on an OpenAI-compatible server (vLLM, TGI, transformers serve), "
                             "e.g. http://gpu-box:8000/v1 (or $MMHUB_LLM_ENDPOINT)")
    parser.add_argument("--llm-model", default=None, metavar="NAME",
                        help="the served model's name (default: the server's only model)")
    parser.add_argument("--llm-api-key-env", default=None, metavar="VAR",
                        help="the environment variable holding the server's API key (never the key itself)")
    parser.add_argument("--llm-concurrency", type=int, default=16,
                        help="conversations sent to the server at once (default 16)")


def from_args(args: argparse.Namespace) -> LLMEndpoint | None:
    """The endpoint the options name, or None; `InputError` for a bad URL, a missing key variable, stray options."""
    if args.llm_endpoint is None:
        for option, value in (("--llm-model", args.llm_model), ("--llm-api-key-env", args.llm_api_key_env)):
            if value is not None:
                raise InputError(option, value, "given together with --llm-endpoint")
        return None
    url = validate.url("--llm-endpoint", args.llm_endpoint)
    key = None
    if args.llm_api_key_env is not None:
        key = os.environ.get(args.llm_api_key_env)
        if not key:
            raise InputError("--llm-api-key-env", args.llm_api_key_env, "the name of a set environment variable",
                             f"${args.llm_api_key_env} is not set.")
    model = validate.text("--llm-model", args.llm_model).strip() if args.llm_model is not None else None
    concurrency = validate.integer("--llm-concurrency", args.llm_concurrency, low=1, high=1024)
    return LLMEndpoint(url, model, key, concurrency)
