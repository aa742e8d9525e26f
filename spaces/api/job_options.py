"""Launch options of the long jobs (`spaces.api.jobs`), checked before anything heavy is imported.

    python -m spaces --models tiny --job-ttl 600 --job-limit 2           # jobs expire 10 min after they finish
    python -m spaces --jobs-dir ~/mmhub-jobs                             # jobs outlive a restart

>>> import argparse
>>> from spaces.api.job_options import add_job_arguments, job_settings
>>> args = add_job_arguments(argparse.ArgumentParser()).parse_args(["--job-ttl", "2"])
>>> job_settings(args).ttl
2.0
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

DEFAULT_TTL = 3600.0
DEFAULT_LIMIT = 4
DEFAULT_WORKERS = 2
MAX_TTL = 30 * 86_400.0
MAX_LIMIT = 1000
MAX_WORKERS = 64


@dataclass
class JobSettings:
    """The job options: ``--jobs-dir`` (None: a private temporary folder, removed at exit), ``--job-ttl``,
    ``--job-limit``, ``--job-workers``."""

    root: str | None = None
    ttl: float = DEFAULT_TTL
    limit: int = DEFAULT_LIMIT
    workers: int = DEFAULT_WORKERS


def _ttl(text: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        value = float("nan")
    if not 1 <= value <= MAX_TTL:  # NaN fails too
        raise argparse.ArgumentTypeError(f"--job-ttl must be a number of seconds from 1 to {MAX_TTL:g}; got {text!r}")
    return value


def _count(name: str, low: int, high: int):  # noqa: ANN202
    def parse(text: str) -> int:
        value = str(text).strip()
        if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
            raise argparse.ArgumentTypeError(f"{name} must be an integer from {low} to {high}; got {text!r}")
        return int(value)

    return parse


def _folder(text: str) -> str:
    path = os.path.expanduser(str(text))
    if "\x00" in path or (os.path.exists(path) and not os.path.isdir(path)):
        raise argparse.ArgumentTypeError(f"--jobs-dir must be a folder (it is created when missing); got {text!r}")
    lock = os.path.join(path, ".lock")
    if os.path.isfile(lock):  # another server's (the store takes the lock for good once it starts)
        import fcntl

        with open(lock, "a") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise argparse.ArgumentTypeError(f"--jobs-dir {text!r} is in use by another mmhub server; give this "
                                                 f"one its own folder") from None
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return os.path.abspath(path)


def add_job_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--jobs-dir``, ``--job-ttl``, ``--job-limit``, ``--job-workers``."""
    group = parser.add_argument_group("long jobs (/v1/videos, /v1/music, /v1/songs, /v1/separations, ...)")
    group.add_argument("--jobs-dir", type=_folder, default=None, metavar="DIR",
                       help="keep jobs in DIR, across restarts (one server per folder); default a temporary folder "
                            "removed at exit")
    group.add_argument("--job-ttl", type=_ttl, default=str(DEFAULT_TTL), metavar="SECONDS",
                       help=f"a finished job and its files are removed this long after it finished "
                            f"(default {DEFAULT_TTL:g})")
    group.add_argument("--job-limit", type=_count("--job-limit", 1, MAX_LIMIT), default=str(DEFAULT_LIMIT),
                       metavar="N", help=f"jobs queued or running per API key; past it: 429 (default {DEFAULT_LIMIT})")
    group.add_argument("--job-workers", type=_count("--job-workers", 1, MAX_WORKERS), default=str(DEFAULT_WORKERS),
                       metavar="N", help=f"jobs run at once (each also waits for its task's slot; default "
                                         f"{DEFAULT_WORKERS})")
    return parser


def job_settings(args: argparse.Namespace) -> JobSettings:
    """The `JobSettings` of parsed `args` (defaults for options a caller's parser does not have)."""
    return JobSettings(root=getattr(args, "jobs_dir", None), ttl=float(getattr(args, "job_ttl", DEFAULT_TTL)),
                           limit=int(getattr(args, "job_limit", DEFAULT_LIMIT)),
                           workers=int(getattr(args, "job_workers", DEFAULT_WORKERS)))
