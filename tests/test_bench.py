"""Every benchmark still runs against the code the tool ships: each script imports and parses
its arguments (`--help`). bench/search_quality.py imported a helper that had left tuning.run,
and nothing noticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHECK = r"""
import contextlib, io, runpy, sys
failed = []
for path in sys.argv[1:]:
    sys.argv = [path, "--help"]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            runpy.run_path(path, run_name="__main__")
        failed.append(f"{path}: --help did not exit")
    except SystemExit as exc:
        if exc.code not in (0, None):
            failed.append(f"{path}: --help exited {exc.code}")
    except Exception as exc:
        failed.append(f"{path}: {type(exc).__name__}: {exc}")
print("\n".join(failed))
"""


def test_every_benchmark_imports_and_parses_its_arguments():
    scripts = sorted(str(p) for p in (ROOT / "bench").glob("*.py"))
    assert len(scripts) >= 10
    proc = subprocess.run([sys.executable, "-c", CHECK, *scripts], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "", proc.stdout
