"""The API server's own launch options (``python -m spaces`` only), checked before anything heavy is imported.

    python -m spaces --models tiny                                  # 127.0.0.1 only: no key needed
    python -m spaces --host 0.0.0.0 --api-key "$KEY"                # every API route needs "Authorization: Bearer KEY"
    python -m spaces --api-key-file keys.txt --api-concurrency text-to-image=2 --api-queue 8

Without a key (and without ``--auth``) the server listens on a loopback address only: ``--host 0.0.0.0`` is refused
with one ``error:`` line, since anyone on the network could otherwise use (and load models on) the machine.

>>> from spaces.options import parse_launch_args
>>> from spaces.api.options import add_api_arguments, check_exposure, finish_api_arguments
>>> args = parse_launch_args(["--api-key", "a-long-key-1", "--host", "0.0.0.0"], extra=add_api_arguments,
...                          finish=finish_api_arguments)
>>> check_exposure(args), args.api_keys
(None, ('a-long-key-1',))
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from pathlib import Path

from pipelines.errors import InputError

MAX_KEYS = 1000
MIN_KEY_CHARS = 8
MAX_KEY_CHARS = 512
MAX_CONCURRENCY = 256
MAX_API_QUEUE = 10_000
DEFAULT_API_QUEUE = 16
DEFAULT_SHUTDOWN_SECONDS = 30.0
#: Requests run at once per task unless ``--api-concurrency TASK=N`` says otherwise: the light classifiers serve a
#: few at a time, every generator one at a time (a second one would only share the same CPU or GPU).
DEFAULT_CONCURRENCY = {"sentiment": 4, "digit-recognition": 4}
_KEY = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII without spaces: what an HTTP header carries as it is


def api_key(text: str) -> str:
    """A key clients send as ``Authorization: Bearer KEY``: 8-512 printable ASCII characters, no spaces."""
    value = str(text).strip()
    if not MIN_KEY_CHARS <= len(value) <= MAX_KEY_CHARS or not _KEY.match(value):
        raise argparse.ArgumentTypeError(f"an API key must be {MIN_KEY_CHARS} to {MAX_KEY_CHARS} printable ASCII "
                                         f"characters without spaces; got {len(value)} characters")
    return value


def api_key_file(text: str) -> Path:
    """A readable file with one key per line (blank lines and ``#`` comments skipped)."""
    path = Path(os.path.expanduser(str(text)))
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is not a readable file of API keys")
    return path


def read_key_file(path: Path) -> list[str]:
    """The keys in `path`; `InputError` naming ``--api-key-file`` for a bad line or an unreadable file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError("--api-key-file", str(path), "a readable UTF-8 file of API keys", str(err)) from None
    keys = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            keys.append(api_key(line))
        except argparse.ArgumentTypeError as err:
            raise InputError("--api-key-file", f"line {number}", "one valid key per line", f"{path}: {err}") from None
    if not keys:
        raise InputError("--api-key-file", str(path), "a file with at least one key")
    return keys


def concurrency(text: str) -> tuple[str, int]:
    """``TASK=N``: at most N requests of that task run at once (1 to 256)."""
    task, sep, count = str(text).partition("=")
    from pipelines import resolve_task  # plain data: no torch

    try:
        name = resolve_task(task).name
    except InputError as err:
        raise argparse.ArgumentTypeError(f"--api-concurrency TASK=N: {err}") from None
    if not sep or not count.strip().isdigit() or not 1 <= int(count) <= MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(f"--api-concurrency takes TASK=N with N from 1 to {MAX_CONCURRENCY}; "
                                         f"got {text!r}")
    return name, int(count)


def api_queue(text: str) -> int:
    value = str(text).strip()
    if not value.isdigit() or not 0 <= int(value) <= MAX_API_QUEUE:
        raise argparse.ArgumentTypeError(f"the API queue (--api-queue) must be an integer from 0 to {MAX_API_QUEUE}; "
                                         f"got {text!r}")
    return int(value)


def seconds(text: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 86_400:  # NaN fails too
        raise argparse.ArgumentTypeError(f"the shutdown timeout must be a number of seconds from 0 to 86400; "
                                         f"got {text!r}")
    return value


def add_api_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The API server's options, added to the launch options of `spaces.options`."""
    group = parser.add_argument_group("API (OpenAI-compatible /v1, Hugging Face Inference /models)")
    group.add_argument("--api-key", type=api_key, action="append", default=[], metavar="KEY", dest="api_key_list",
                       help="require 'Authorization: Bearer KEY' on every API route (repeatable); or $MMHUB_API_KEY")
    group.add_argument("--api-key-file", type=api_key_file, default=None, metavar="FILE",
                       help="read API keys from FILE, one per line (# comments)")
    group.add_argument("--api-concurrency", type=concurrency, action="append", default=[], metavar="TASK=N",
                       help="requests of TASK run at once (repeatable; default 4 for sentiment and digit "
                            "recognition, 1 for the rest)")
    group.add_argument("--api-queue", type=api_queue, default=str(DEFAULT_API_QUEUE), metavar="N",
                       help=f"API requests waiting per task beyond those running; past it: 429 with Retry-After "
                            f"(default {DEFAULT_API_QUEUE})")
    group.add_argument("--voices-dir", default=None, metavar="DIR",
                       help="the saved voices (/v1/voices, the app's voice library); default $MMHUB_CACHE/voices")
    group.add_argument("--shutdown-timeout", type=seconds, default=str(DEFAULT_SHUTDOWN_SECONDS), metavar="SECONDS",
                       help=f"on Ctrl-C / SIGTERM, wait this long for requests in flight to finish "
                            f"(default {DEFAULT_SHUTDOWN_SECONDS:g})")
    from .job_options import add_job_arguments  # service-jobs: --jobs-dir, --job-ttl, --job-limit, --job-workers
    from .ray_options import add_ray_arguments  # service-jobs: --ray-config, --ray-address

    return add_ray_arguments(add_job_arguments(parser))


def finish_api_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """Collect the keys (``--api-key``, ``--api-key-file``, ``$MMHUB_API_KEY``) into ``args.api_keys`` and the limits
    into ``args.api_limits``; `InputError` for a bad key file or variable."""
    keys = list(args.api_key_list)
    if args.api_key_file is not None:
        keys += read_key_file(args.api_key_file)
    env_key = os.environ.get("MMHUB_API_KEY")
    if env_key:
        try:
            keys.append(api_key(env_key))
        except argparse.ArgumentTypeError as err:
            raise InputError("$MMHUB_API_KEY", "its value", "a valid API key", str(err)) from None
    if len(keys) > MAX_KEYS:
        raise InputError("--api-key", f"{len(keys)} keys", f"at most {MAX_KEYS} keys")
    args.api_keys = tuple(dict.fromkeys(keys))
    args.api_limits = DEFAULT_CONCURRENCY | dict(args.api_concurrency)
    return args


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_exposure(args: argparse.Namespace) -> str | None:
    """Why the server must not start as asked (a message), or None.

    Without an API key and without ``--auth`` anyone who reaches the port could use the API, so the server then
    listens on a loopback address only, and ``--share`` (a public link) is refused too."""
    protected = bool(getattr(args, "api_keys", ())) or bool(args.auth)
    if protected:
        return None
    if not is_loopback(args.host):
        return (f"refusing to listen on {args.host} without --api-key KEY (or --auth USER:PASSWORD): anyone on the "
                f"network could use the API; add a key, or listen on 127.0.0.1")
    if args.share:
        return "refusing --share without --api-key KEY (or --auth USER:PASSWORD): the link is public"
    return None
