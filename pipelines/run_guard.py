"""What keeps a run's output whole: a lock while it runs, a fingerprint of its inputs, and an --overwrite that never
removes an input. Shared by bulk runs (`pipelines.bulk`) and every trainer's output folder (`finetune.run`).

- **Lock.** `RunLock` takes an exclusive OS lock (``fcntl.flock``) on ``<output>.lock`` for as long as the run writes.
  A second run on the same output is refused at once with the first one's process id and start time. The kernel
  drops the lock when the process ends, however it ends (SIGKILL included), so a lock is never stale: the lock file
  left by a killed run is simply taken over.
- **Fingerprint.** `fingerprint` records what an input is: a file's size, modification time and SHA-256 (of all of
  it up to `FULL_HASH_MAX` bytes; above that, of its first and last `EDGE_BYTES` bytes, with its size and time); a
  folder's files (relative path, size, modification time; at most `MAX_FOLDER_FILES` of them). `changes` compares
  two of them in words, so that a resume over changed inputs is refused instead of mixing old and new results.
- **Overwrite.** `check_not_input` refuses an output that is an input, or a folder holding one: ``--overwrite``
  replaces the output, and must never take the user's data with it.

>>> from pipelines.run_guard import RunLock, fingerprint, changes
>>> with RunLock("scores.jsonl", argument="--output"):             # refused while another run holds it
...     before = {"input": fingerprint("reviews.csv")}
>>> changes(before, {"input": fingerprint("reviews.csv")})         # [] when nothing changed
[]
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipelines.errors import InputError

logger = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
FULL_HASH_MAX = 64 << 20  # bytes: a file up to this size is hashed whole (about 0.2 s)
EDGE_BYTES = 4 << 20  # a larger one: its first and last 4 MiB, with its size and modification time
MAX_FOLDER_FILES = 100_000  # a folder's fingerprint lists at most this many files (a bounded walk)


# ----------------------------------------------------------------------------------------------------------------
# the lock


class RunLock:
    """An exclusive lock on the run that writes `target` (a file or folder), held from `acquire` to `release`.

    The lock is ``fcntl.flock`` on ``<target>.lock``, which records who holds it (process id, start time, command)
    for the message a second run gets. On a system without ``fcntl`` (Windows) runs are not locked (logged once).

    Args:
        target (`str` or `os.PathLike`): the output file or folder of the run.
        argument (`str`): the option that named it (``--output``, ``--output-dir``), for the error message.
    """

    def __init__(self, target: str | os.PathLike, argument: str = "output"):
        self.target = Path(target).expanduser().resolve()
        self.path = lock_path(self.target)
        self.argument = argument
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock; `InputError` naming `argument` (and who holds it) when another run has it."""
        try:
            import fcntl
        except ImportError:  # Windows: no flock
            logger.warning("runs on %s are not locked on this system (no fcntl)", self.target)
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise InputError(self.argument, str(self.target), "an output that no other run is writing",
                                 f"Another run holds {self.path.name} ({self._holder()}): wait for it to finish, or "
                                 f"choose another {self.argument}.") from None
            except OSError:
                os.close(fd)
                raise
            # The holder before us may have removed the file between our open and our lock (release unlinks it):
            # then the lock is on a file nobody else will see; take the lock on the file at the path instead.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        record = {"pid": os.getpid(), "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                  "command": " ".join(sys.argv)[:500]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock and remove the lock file (removed while still held, so no other run can hold it then)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _holder(self) -> str:
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
            return f"process {record['pid']}, started {record['started']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "a process that is starting"

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_path(target: str | os.PathLike) -> Path:
    """``<target>.lock``: beside the output, so that replacing or removing the output never removes the lock."""
    target = Path(target)
    return target.with_name(target.name + LOCK_SUFFIX)


# ----------------------------------------------------------------------------------------------------------------
# fingerprints


def fingerprint(path: str | os.PathLike, exclude: Iterable[str | os.PathLike] = ()) -> dict[str, Any]:
    """What the file or folder at `path` is now (see the module docstring); `exclude`: paths inside a folder that
    are the run's own (its output, its work folder), left out of the folder's list."""
    path = Path(path).expanduser().resolve()
    stat = path.stat()
    if path.is_dir():
        return _folder_fingerprint(path, {Path(p).expanduser().resolve() for p in exclude})
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if stat.st_size <= FULL_HASH_MAX:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
            hashed = "all"
        else:
            digest.update(handle.read(EDGE_BYTES))
            handle.seek(stat.st_size - EDGE_BYTES)
            digest.update(handle.read(EDGE_BYTES))
            hashed = "first and last 4 MiB"
    return {"path": str(path), "kind": "file", "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "sha256": digest.hexdigest(), "hashed": hashed}


def _folder_fingerprint(folder: Path, exclude: set[Path]) -> dict[str, Any]:
    digest, files, size, complete = hashlib.sha256(), 0, 0, True
    for root, dirs, names in os.walk(folder):
        base = Path(root)
        dirs[:] = sorted(d for d in dirs if base / d not in exclude)
        for name in sorted(names):
            file = base / name
            if file in exclude:
                continue
            try:
                stat = file.stat()
            except OSError:
                continue  # a dangling link
            digest.update(f"{file.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode(
                "utf-8", "surrogateescape"))
            files, size = files + 1, size + stat.st_size
            if files >= MAX_FOLDER_FILES:
                complete = False
                break
        if not complete:
            break
    return {"path": str(folder), "kind": "folder", "files": files, "size": size, "listing_sha256": digest.hexdigest(),
            "complete": complete}


def fingerprints(paths: Mapping[str, str | os.PathLike], exclude: Iterable[str | os.PathLike] = ()
                 ) -> dict[str, dict[str, Any]]:
    """`fingerprint` of each named path (``{"--train-file": "data.jsonl"}``)."""
    exclude = list(exclude)
    return {name: fingerprint(path, exclude) for name, path in paths.items()}


def changes(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """How the inputs `now` differ from `before` (both from `fingerprints`), one phrase each; empty when the same.

    A file hashed whole is the same when its size and hash are (its time may differ: a copy, a ``touch``); one
    hashed at its ends only is the same when its modification time is the same too.
    """
    found = []
    for name in sorted(set(before) | set(now)):
        old, new = before.get(name), now.get(name)
        if old == new:
            continue
        if old is None or new is None:
            found.append(f"{name} was {'not given' if old is None else old.get('path')!s}, now "
                         f"{'not given' if new is None else new.get('path')!s}")
        elif old.get("path") != new.get("path"):
            found.append(f"{name} was {old.get('path')}, now {new.get('path')}")
        elif old.get("kind") != new.get("kind"):
            found.append(f"{name} ({new.get('path')}) was a {old.get('kind')}, now a {new.get('kind')}")
        elif new.get("kind") == "file":
            if old.get("size") != new.get("size"):
                found.append(f"{name} ({new['path']}) was {old.get('size')} bytes, now {new['size']}")
            elif old.get("sha256") != new.get("sha256"):
                found.append(f"{name} ({new['path']}) has the same size but other content")
            elif new.get("hashed") != "all" and old.get("mtime_ns") != new.get("mtime_ns"):
                found.append(f"{name} ({new['path']}) was modified (its time changed; only its ends are hashed)")
        elif old.get("listing_sha256") != new.get("listing_sha256"):
            found.append(f"{name} ({new['path']}): files were added, removed or modified ({old.get('files')} files, "
                         f"{old.get('size')} bytes before; {new.get('files')} files, {new.get('size')} bytes now)")
    return found


def local_inputs(values: Mapping[str, Any], skip: Iterable[str] = ()) -> dict[str, Path]:
    """The values of `values` (a run's arguments by flag) that name an existing local file or folder."""
    skip = set(skip)
    found = {}
    for name, value in values.items():
        if name in skip or not isinstance(value, (str, os.PathLike)) or not str(value).strip():
            continue
        try:
            path = Path(value).expanduser()
            if path.exists():
                found[name] = path.resolve()
        except (OSError, ValueError):  # a NUL byte, a name too long
            continue
    return found


# ----------------------------------------------------------------------------------------------------------------
# --overwrite


def check_not_input(output: str | os.PathLike, inputs: Mapping[str, str | os.PathLike], argument: str,
                    also: Iterable[str | os.PathLike] = ()) -> None:
    """`InputError` naming `argument` when the output (or a path in `also` the run writes or removes) is one of
    `inputs`, or a folder that holds one: the run would replace or remove the user's data."""
    written = [Path(output).expanduser().resolve(), *(Path(p).expanduser().resolve() for p in also)]
    for name, value in inputs.items():
        source = Path(value).expanduser().resolve()
        for path in written:
            if source == path or path in source.parents:
                what = "is" if source == path else "holds"
                raise InputError(argument, str(output), f"a path that is not an input ({name})",
                                 f"{path} {what} the input {source}: writing the results there would replace or "
                                 f"remove it (--overwrite included). Choose another {argument}.")
