"""The launch options of every Space, checked before anything heavy is imported or loaded.

Gradio is not imported here: `python -m spaces --port 99999` answers with one ``error:`` line and exit code 2 in a
fraction of a second, before any model (or gradio) loads.

>>> from spaces.options import parse_launch_args
>>> parse_launch_args(["--models", "tiny", "--port", "8080"]).port
8080
"""

from __future__ import annotations

import argparse
import math
import os
import re
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pipelines.errors import InputError

from . import llm_endpoint

LANGUAGES = ("en", "pl")
MODEL_SETS = ("tiny",)  # --models: the reserved model sets (None = the real models)
MAX_MODELS = 64
MAX_QUEUE = 100_000
MAX_MODEL_MEMORY_GB = 100_000.0
FILE_SIZE_UNITS = {"b": 1, "kb": 2**10, "mb": 2**20, "gb": 2**30, "tb": 2**40}  # gradio.utils.FileSize
MAX_FILE_SIZE = 2**40
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class OneLineParser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose errors are one ``PROG: error: ...`` line (exit code 2), no usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def fail(prog: str, message: str) -> NoReturn:
    """Print ``PROG: error: MESSAGE`` on one line and exit with code 2."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    raise SystemExit(2)


# -- one converter per option: each raises ArgumentTypeError, which argparse turns into a one-line error ----------


def _integer(text: str, low: int, high: int, what: str) -> int:
    try:
        value = int(str(text).strip(), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be an integer from {low} to {high}; got {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{what} must be an integer from {low} to {high}; got {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port, 1..65535 (also read from ``$GRADIO_SERVER_PORT``)."""
    return _integer(text, 1, 65535, "the port (--port, or $GRADIO_SERVER_PORT)")


def max_models(text: str) -> int:
    return _integer(text, 1, MAX_MODELS, "the number of models kept loaded")


def queue_size(text: str) -> int:
    return _integer(text, 1, MAX_QUEUE, "the queue size")


def memory_gb(text: str) -> float:
    """A finite number of gigabytes above 0."""
    allowed = f"a number of GB above 0 and at most {MAX_MODEL_MEMORY_GB:g}"
    try:
        value = float(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"the model memory must be {allowed}; got {text!r}") from None
    if not math.isfinite(value) or not 0 < value <= MAX_MODEL_MEMORY_GB:
        raise argparse.ArgumentTypeError(f"the model memory must be {allowed}; got {text!r}")
    return value


def file_size(text: str) -> str:
    """``<integer><unit>`` with a unit among b, kb, mb, gb, tb (what ``gr.Blocks.launch(max_file_size=)`` parses)."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]+)\s*", str(text))
    if not match or match.group(2).lower() not in FILE_SIZE_UNITS:
        units = ", ".join(FILE_SIZE_UNITS)
        raise argparse.ArgumentTypeError(f"the file size must be a whole number and a unit ({units}), e.g. 200mb; "
                                         f"got {text!r}")
    size = int(match.group(1)) * FILE_SIZE_UNITS[match.group(2).lower()]
    if not 0 < size <= MAX_FILE_SIZE:
        raise argparse.ArgumentTypeError(f"the file size must be above 0 and at most 1tb; got {text!r}")
    return f"{match.group(1)}{match.group(2).lower()}"


def language(text: str) -> str:
    value = str(text).strip().lower()
    if value not in LANGUAGES:
        raise argparse.ArgumentTypeError(f"the UI language must be one of {', '.join(LANGUAGES)}; got {text!r}")
    return value


def model_set(text: str) -> str | None:
    """``tiny`` (tiny random models; also read from ``$MMHUB_MODELS``); empty means the real models."""
    value = str(text).strip().lower()
    if not value:
        return None
    if value not in MODEL_SETS:
        raise argparse.ArgumentTypeError(f"the model set (--models, or $MMHUB_MODELS) must be "
                                         f"{' or '.join(MODEL_SETS)}, or left out for the real models; got {text!r}")
    return value


def log_level(text: str) -> str:
    value = str(text).strip().lower()
    if value not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"the log level must be one of {', '.join(LOG_LEVELS)}; got {text!r}")
    return value.upper()


def auth(text: str) -> tuple[str, str]:
    """``USER:PASSWORD`` (the password may hold colons)."""
    user, sep, password = str(text).partition(":")
    if not sep or not user or not password:
        raise argparse.ArgumentTypeError(f"the login must be USER:PASSWORD; got {text!r}")
    return user, password


def host(text: str) -> str:
    """An address this machine can listen on: an IP address or a name that resolves."""
    value = str(text).strip()
    if not value:
        raise argparse.ArgumentTypeError("the host (--host, or $GRADIO_SERVER_NAME) must be an address such as "
                                         "127.0.0.1 or 0.0.0.0; got ''")
    try:
        socket.getaddrinfo(value.strip("[]"), None)
    except (OSError, UnicodeError) as err:
        raise argparse.ArgumentTypeError(f"the host {text!r} is not an address this machine knows ({err})") from None
    return value


def local_models_dir(text: str) -> Path:
    """An existing directory, resolved (symlinks and ``..`` followed), under which model folders may be loaded."""
    path = Path(os.path.expanduser(str(text)))
    if not str(text).strip():
        raise argparse.ArgumentTypeError("a directory is needed; got ''")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not an existing directory")
    return path.resolve()


def add_launch_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every Space takes (the tabbed app and each Space alone, also in an exported folder).

    String defaults from the environment go through the same converters (argparse converts string defaults), so a
    bad ``$GRADIO_SERVER_PORT`` is the same one-line error as a bad ``--port``.
    """
    parser.add_argument("--host", type=host, default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (default 127.0.0.1, or $GRADIO_SERVER_NAME); 0.0.0.0 = all")
    parser.add_argument("--port", type=port, default=os.environ.get("GRADIO_SERVER_PORT", "7860"),
                        help="port, 1-65535 (default 7860, or $GRADIO_SERVER_PORT)")
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    parser.add_argument("--auth", type=auth, metavar="USER:PASSWORD", help="require this login")
    parser.add_argument("--models", type=model_set, default=os.environ.get("MMHUB_MODELS", ""), metavar="tiny",
                        help="'tiny': tiny stand-in models, fully offline (noise, except the briefly trained "
                             "Inside-a-network models); or $MMHUB_MODELS")
    parser.add_argument("--lang", type=language, default="en", metavar="|".join(LANGUAGES),
                        help="UI language (default en)")
    parser.add_argument("--allow-local-models", type=local_models_dir, action="append", default=[], metavar="DIR",
                        help="let the model field load folders under DIR (repeatable; default: no local folders, "
                             "only Hub ids and the registry's models)")
    parser.add_argument("--max-file-size", type=file_size, default="200mb", metavar="SIZE",
                        help="largest upload accepted, e.g. 50mb (default 200mb)")
    parser.add_argument("--max-models", type=max_models, default="2", metavar="N",
                        help=f"models kept loaded at once, 1-{MAX_MODELS} (default 2)")
    parser.add_argument("--max-model-memory", type=memory_gb, default=None, metavar="GB",
                        help="weights kept loaded at most, in GB (default: half the machine's memory)")
    parser.add_argument("--queue-size", type=queue_size, default="256", metavar="N",
                        help=f"requests waiting at most, 1-{MAX_QUEUE} (default 256)")
    parser.add_argument("--log-level", type=log_level, default="info", metavar="LEVEL",
                        help=f"logging level: {', '.join(LOG_LEVELS)} (default info)")
    llm_endpoint.add_arguments(parser)
    return parser


def port_free(host: str, port: int) -> bool:
    """Whether `port` can be bound on `host` now (as ``gradio.http_server.start_server`` checks it)."""
    address = host.strip("[]")
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def port_busy_message(args: argparse.Namespace) -> str:
    return (f"cannot listen on {args.host}:{args.port}: the port is in use or not allowed here; choose another "
            f"with --port")


def launch_parser(prog: str | None = None, description: str | None = None,
                  extra: Callable[[argparse.ArgumentParser], Any] | None = None) -> OneLineParser:
    parser = add_launch_arguments(OneLineParser(prog=prog, description=description,
                                                formatter_class=argparse.RawDescriptionHelpFormatter))
    if extra is not None:  # more options (the API server's: spaces/api/options.py)
        extra(parser)
    return parser


def parse_launch_args(argv: Sequence[str] | None = None, prog: str | None = None,
                      description: str | None = None,
                      extra: Callable[[argparse.ArgumentParser], Any] | None = None,
                      finish: Callable[[argparse.Namespace], Any] | None = None) -> argparse.Namespace:
    """The checked launch options: a bad one prints one ``PROG: error: ...`` line and exits with code 2.

    ``args.llm`` is the Chat tab's `llm_endpoint.LLMEndpoint` (None: the app loads its own LLM). `extra` adds options
    to the parser; `finish(args)` completes them afterwards (an `InputError` from it is the same one-line error)."""
    parser = launch_parser(prog, description, extra)
    args = parser.parse_args(argv)
    try:
        args.llm = llm_endpoint.from_args(args)
        if finish is not None:
            finish(args)
    except InputError as err:
        parser.error(str(err))
    return args


# -- the Spaces of this package, known without importing them (or gradio) ----------------------------------------

NOT_SPACES = frozenset({"__main__", "api", "app", "common", "export", "inside", "launcher", "llm_endpoint", "options"})


def space_names() -> list[str]:
    """The module names of this package's Spaces (each module but the shared ones), without importing them."""
    import pkgutil

    modules = pkgutil.iter_modules([str(Path(__file__).parent)])
    return sorted(m.name for m in modules if m.name not in NOT_SPACES and not m.name.startswith("_"))
