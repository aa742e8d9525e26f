"""One validator for every pipeline parameter: types, finite ranges, choices, text, callables, image sizes.

Each function returns the value in its canonical type or raises `InputError` naming the argument, the value
received and what is allowed. Every numeric range is finite, so NaN, inf, 1e300 and 2**70 never reach a library.

>>> from pipelines import validate
>>> validate.number("guidance_scale", 7.5, low=0, high=50)
7.5
>>> validate.integer("num_inference_steps", 0, low=1, high=1000)
Traceback (most recent call last):
pipelines.errors.InputError: `num_inference_steps` must be an integer from 1 to 1000; got 0.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import secrets
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pipelines.errors import InputError

#: Seeds are what `torch.manual_seed` and `torch.Generator.manual_seed` accept without wrapping: 0 .. 2**63 - 1.
SEED_MAX = 2**63 - 1


def _bound(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _range_text(kind: str, low: float, high: float, low_open: bool, high_open: bool) -> str:
    if not low_open and not high_open:
        return f"{kind} from {_bound(low)} to {_bound(high)}"
    return f"{kind} in {'(' if low_open else '['}{_bound(low)}, {_bound(high)}{')' if high_open else ']'}"


def number(name: str, value: Any, *, low: float, high: float, low_open: bool = False, high_open: bool = False,
           hint: str | None = None) -> float:
    """A finite real number in ``[low, high]`` (either end open on request), returned as `float`.

    Accepts Python and NumPy ints and floats (not bools, not strings).
    """
    allowed = _range_text("a number", low, high, low_open, high_open)
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not _is_numpy_real(value):
        raise InputError(name, value, allowed, hint)
    try:
        result = float(value)
    except OverflowError:  # an int too large for a float
        raise InputError(name, value, allowed, hint) from None
    if not math.isfinite(result) or result < low or result > high or (low_open and result == low) \
            or (high_open and result == high):
        raise InputError(name, value, allowed, hint)
    return result


def integer(name: str, value: Any, *, low: int, high: int, hint: str | None = None) -> int:
    """An integer in ``[low, high]`` (Python or NumPy; a float with an integral value such as ``4.0`` is refused)."""
    allowed = f"an integer from {low} to {high}"
    if isinstance(value, bool) or not (isinstance(value, int) or _is_numpy_integer(value)):
        raise InputError(name, value, allowed, hint)
    result = int(value)
    if not low <= result <= high:
        raise InputError(name, value, allowed, hint)
    return result


def optional_integer(name: str, value: Any, *, low: int, high: int, hint: str | None = None) -> int | None:
    return None if value is None else integer(name, value, low=low, high=high, hint=hint)


def optional_number(name: str, value: Any, *, low: float, high: float, low_open: bool = False,
                    high_open: bool = False, hint: str | None = None) -> float | None:
    if value is None:
        return None
    return number(name, value, low=low, high=high, low_open=low_open, high_open=high_open, hint=hint)


def seed(value: Any, name: str = "seed") -> int:
    """A seed from 0 to 2**63 - 1; ``None`` draws a random one (returned, so results can report it)."""
    if value is None:
        return secrets.randbelow(2**31)
    return integer(name, value, low=0, high=SEED_MAX, hint="Pass None for a random seed.")


def boolean(name: str, value: Any) -> bool:
    """``True`` or ``False`` (NumPy bools too). Strings such as ``"no"`` are refused: they are all truthy."""
    if isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")):
        return bool(value)
    raise InputError(name, value, "True or False")


def choice(name: str, value: Any, choices: Iterable[str], *, normalise: Callable[[str], str] | None = None) -> str:
    """One of `choices` (strings); a near miss gets a did-you-mean."""
    options = list(choices)
    key = normalise(value) if normalise is not None and isinstance(value, str) else value
    if isinstance(key, str) and key in options:
        return key
    close = difflib.get_close_matches(str(value), options, n=1) if isinstance(value, str) else []
    raise InputError(name, value, f"one of {options}", f"Did you mean {close[0]!r}?" if close else None)


def text(name: str, value: Any, *, allow_empty: bool = False, max_chars: int | None = None) -> str:
    """A `str` that encodes as UTF-8 (no lone surrogates), non-blank unless `allow_empty`."""
    if not isinstance(value, str):
        raise InputError(name, value, "a string" if allow_empty else "non-empty text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InputError(name, value, "valid Unicode text",
                         f"It holds a lone surrogate at index {err.start} (text decoded with errors='surrogateescape'"
                         f" or cut inside a character pair); clean it, e.g. "
                         f"text.encode('utf-8', 'replace').decode('utf-8').") from None
    if not allow_empty and not value.strip():
        raise InputError(name, value, "non-empty text")
    if max_chars is not None and len(value) > max_chars:
        raise InputError(name, f"{len(value)} characters", f"at most {max_chars} characters")
    return value


def optional_text(name: str, value: Any, *, allow_empty: bool = True) -> str | None:
    return None if value is None else text(name, value, allow_empty=allow_empty)


def url(name: str, value: Any, *, schemes: tuple[str, ...] = ("http", "https"), example: str = "") -> str:
    """An absolute URL with one of `schemes`, a host and (when given) a valid port; returned without a final ``/``.

    Refused: control characters (a NUL byte, CR / LF: they would end up in the request line), an IPv6 host that is
    not an IPv6 address in brackets (``http://[::1``, ``http://[zz::1]``, ``http://[::1]]``), a host name that is not
    a valid (international) domain name, a port outside 0-65535.
    """
    allowed = f"an {' or '.join(schemes)} URL such as {example or 'http://localhost:8000/v1'}"
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        raise InputError(name, value, allowed)
    text(name, value)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InputError(name, value, allowed, "It holds a control character (a NUL byte, a line break...).")
    try:
        parts = urllib.parse.urlsplit(value.strip())
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number from 0 to 65535)
    except ValueError as err:
        hint = "Its port is not a number from 1 to 65535." if "port" in str(err).lower() else \
            f"It cannot be parsed ({err}); an IPv6 address goes in brackets: http://[::1]:8000/v1."
        raise InputError(name, value, allowed, hint) from None
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise InputError(name, value, allowed)
    host = parts.netloc.rpartition("@")[2]
    if "[" in host or "]" in host:
        bracketed = re.fullmatch(r"\[([0-9A-Fa-f:.]+)(%[\w.-]+)?\](:\d*)?", host)
        try:
            ipaddress.IPv6Address(bracketed.group(1)) if bracketed else None
        except ValueError:
            bracketed = None
        if not bracketed:
            raise InputError(name, value, allowed, "Its host is not an IPv6 address in brackets, e.g. "
                                                   "http://[::1]:8000/v1.")
    else:
        try:
            parts.hostname.encode("idna")
        except UnicodeError:
            raise InputError(name, value, allowed, "Its host is not a valid domain name.") from None
        if not re.fullmatch(r"[\w.-]+", parts.hostname):
            raise InputError(name, value, allowed, "Its host holds characters a host name cannot have.")
    return value.strip().rstrip("/")


def header_value(name: str, value: Any) -> str:
    """Text that can be sent in an HTTP header (an API key): printable ASCII, no CR / LF / NUL (header injection),
    not blank."""
    value = text(name, value)
    if not all(32 <= ord(c) < 127 for c in value):
        raise InputError(name, "(a key with a control or non-ASCII character)", "printable ASCII text",
                         "An API key is sent as an HTTP header: line breaks, NUL bytes and non-ASCII characters "
                         "are not allowed in it. Copy the key again.")
    return value


def output_file(name: str, value: Any, suffixes: Iterable[str]) -> Path:
    """The path of a file to write: a `str` / `os.PathLike` ending in one of `suffixes` (case-insensitive), not an
    existing folder, in a folder that is not a file. Returned expanded (``~``); its folder is not created here."""
    options = sorted(suffixes)
    allowed = f"a file name ending in one of {options}"
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise InputError(name, value, allowed)
    try:
        path = Path(value).expanduser()
        if path.suffix.lower() not in options:
            raise InputError(name, str(value), allowed)
        if path.is_dir():
            raise InputError(name, str(value), allowed, "It is an existing folder; name a file inside it.")
        blocking = next((p for p in path.parents if p.exists()), None)
        if blocking is not None and not blocking.is_dir():
            raise InputError(name, str(value), allowed, f"{blocking} is a file, so it cannot hold one.")
    except (OSError, ValueError) as err:  # a NUL byte, a name too long
        if isinstance(err, InputError):
            raise
        raise InputError(name, str(value), allowed, f"({err})") from None
    return path


def callback(name: str, value: Any, signature: str) -> Callable[..., Any] | None:
    """A callable or ``None``; `signature` describes the expected call, e.g. ``"progress(step, total, info)"``."""
    if value is not None and not callable(value):
        raise InputError(name, value, f"a callable {signature}, or None")
    return value


def image_size(name: str, size: tuple[int, int], *, min_side: int, max_side: int | None = None) -> None:
    """Refuse an image (``size`` = width, height) smaller than `min_side` (or larger than `max_side`) on a side."""
    width, height = size
    if min(width, height) < min_side:
        raise InputError(name, f"a {width}x{height} image", f"an image at least {min_side}x{min_side} pixels",
                         "Use a larger picture.")
    if max_side is not None and max(width, height) > max_side:
        raise InputError(name, f"a {width}x{height} image", f"an image at most {max_side} pixels on a side",
                         "Resize it first.")


def _is_numpy_real(value: Any) -> bool:
    return type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0 \
        and getattr(getattr(value, "dtype", None), "kind", "") in ("i", "u", "f")


def _is_numpy_integer(value: Any) -> bool:
    return type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0 \
        and getattr(getattr(value, "dtype", None), "kind", "") in ("i", "u")
