"""Typed errors: every bad input and every failed load says what went wrong and how to fix it."""

from __future__ import annotations

from typing import Any


class MmhubError(Exception):
    """Base class of mmhub's own errors."""


class InputError(MmhubError, ValueError):
    """A call argument is invalid: names the argument, the value received and what is allowed.

    >>> raise InputError("max_new_tokens", 0, "an integer >= 1")
    Traceback (most recent call last):
    pipelines.errors.InputError: `max_new_tokens` must be an integer >= 1; got 0.
    """

    def __init__(self, argument: str, value: Any, allowed: str, hint: str | None = None):
        self.argument, self.value, self.allowed, self.hint = argument, value, allowed, hint
        message = f"`{argument}` must be {allowed}; got {_short_repr(value)}."
        if hint:
            message += f" {hint}"
        super().__init__(message)


class DataError(MmhubError, ValueError):
    """A file's content is unusable as it is: the message names the file and the line (or the split and row).

    >>> raise DataError("train.jsonl:12: not JSON (Expecting value at line 1 column 1).")
    Traceback (most recent call last):
    pipelines.errors.DataError: train.jsonl:12: not JSON (Expecting value at line 1 column 1).
    """


class Cancelled(MmhubError):
    """The progress callback returned False and the pipeline has no partial result to return."""


class ModelLoadError(MmhubError, RuntimeError):
    """A model could not be loaded. `reason` says which case it is:

    - ``not_found``: no such repository on the Hub, or no such local folder;
    - ``offline``: the Hub cannot be reached and the model is not in the local cache;
    - ``wrong_task``: the checkpoint is a model of another task;
    - ``missing_dependency``: an optional package is not installed (the message has the pip line);
    - ``incompatible``: the checkpoint loaded but cannot be used as it is (e.g. unknown labels), or a server
      answers in a way mmhub cannot use (not JSON, not an OpenAI-compatible API);
    - ``unauthorized``: a server refused the API key (HTTP 401 / 403);
    - ``timeout``: a server took the connection but did not answer within the time allowed.
    """

    REASONS = ("not_found", "offline", "wrong_task", "missing_dependency", "incompatible", "unauthorized", "timeout")

    def __init__(self, model: str, reason: str, message: str):
        if reason not in self.REASONS:
            raise ValueError(f"unknown ModelLoadError reason {reason!r}")
        self.model, self.reason = model, reason
        super().__init__(f"Cannot load model {model!r} ({reason.replace('_', ' ')}): {message}")


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
