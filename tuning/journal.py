"""The run's study journal as its study server writes it.

Optuna's journal file format, unchanged (optuna-dashboard, export and `optuna.load_study` read it
with Optuna's own backend); only the writing side differs, see `ServerJournal`. No Ray here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from optuna.storages.journal import BaseJournalBackend, JournalFileBackend

from gan.errors import GanTuneError


def cut_torn_line(path: Path) -> None:
    """Cut a half-written last line (a writer killed mid-line) back to the last whole one."""
    if not path.is_file() or not path.stat().st_size:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) != b"\n":
            fh.seek(0)
            fh.truncate(fh.read().rfind(b"\n") + 1)


class ServerJournal(BaseJournalBackend):
    """The study server's journal backend: Optuna's journal file, line for line, written by the
    one process that owns the run's study.

    Optuna's JournalFileBackend lets many processes share the file: every write takes a lock
    (a symlink made and removed), is fsync'd, and every read re-opens the file for what others
    wrote. A configuration costs about 20 writes (its creation, each parameter, the reports,
    the pruner's rung marks, its end), 0.5 ms each on this 2-core machine: about a fifth of what
    the study server spends per configuration (`bench/server_cost.py`). In gantune one process
    writes a run's study while it runs (the study server: a Ray actor in pool mode, the driver's
    searcher per trial), so this backend writes each batch of lines with one O_APPEND write and
    hands the lines straight back to the storage instead of re-reading them. Not fsync'd: a
    killed process loses nothing it wrote (the OS holds it; a torn last line is cut on open and
    by --resume); a crash of the machine may lose the last writes, which --resume treats as
    members in flight. Another process appending to the file meanwhile would fork the study:
    the next write refuses with a one-line error instead. Readers (the live display, export,
    optuna-dashboard) read the file with Optuna's own backend, as before.
    """

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        cut_torn_line(self._path)
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size
        # What the file holds now, read once with Optuna's own reader; then only our own lines.
        self._unread: list[dict[str, Any]] = list(JournalFileBackend(str(self._path)).read_logs(0)) if self._size else []
        self._first = 0  # log number of _unread[0]

    def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
        if log_number_from < self._first:  # one JournalStorage reads this backend, in order
            raise RuntimeError(f"{self._path}: journal lines before {self._first} were already read")
        logs = self._unread[log_number_from - self._first:]
        self._unread, self._first = [], log_number_from + len(logs)
        return logs

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        lines = [json.dumps(log, separators=(",", ":")) for log in logs]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        if os.fstat(self._fd).st_size != self._size:
            raise GanTuneError(f"{self._path}: another process wrote to this run's study while it ran; "
                               "run one gantune driver per run directory (a second one needs another --name)")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        self._size += len(data)
        # As Optuna's reader would return them: parsed from the lines written.
        self._unread.extend(json.loads(line) for line in lines)

    def close(self) -> None:
        if getattr(self, "_fd", -1) >= 0:  # (also when __init__ failed before opening)
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()
