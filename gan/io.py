"""Atomic writes: a reader never sees a half-written file or directory.

Files are written to a temporary sibling and `os.replace`d into place; directories are built
under a temporary sibling name and renamed once complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from gan.errors import GanTuneError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _usual_mode(path: str | Path, directory: bool = False) -> None:
    """The permissions an ordinary open() / mkdir() would have given (mkstemp / mkdtemp make
    private 0600 / 0700 ones, which would hide an export's report page from its readers)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding=encoding) as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        _usual_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, allow_nan=True) + "\n")


def check_output_dir(out: str | Path, *, force: bool = False, what: str = "output directory") -> Path:
    """Refuse to overwrite an existing non-empty directory unless `force`; refuse files."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GanTuneError(f"{what} {out} exists and is not a directory; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise GanTuneError(f"{what} {out} already exists and is not empty; choose another --out or pass --force")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise GanTuneError(f"{what} {out}: parent directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise GanTuneError(f"{what} {out}: parent directory {parent} is not writable; choose another --out")
    return out


@contextlib.contextmanager
def atomic_dir(out: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces `out`, on any error it is removed."""
    out = check_output_dir(out, force=force)
    tmp = Path(tempfile.mkdtemp(dir=out.resolve().parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        _usual_mode(tmp, directory=True)
        yield tmp
        if out.exists():
            # Swap: move the old directory aside, move the new one in, then delete the old one.
            old = Path(tempfile.mkdtemp(dir=out.resolve().parent, prefix=f".{out.name}.", suffix=".old"))
            os.replace(out, old / "d")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
