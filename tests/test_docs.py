"""The reliability documents are generated from the tests; they must not fall behind them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("reliability_doc", ROOT / "docs" / "reliability.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reliability_docs_are_current():
    """docs/reliability.md and the README's table equal what the tests say today
    (regenerate with `python docs/reliability.py`)."""
    assert _generator().main(["--check"]) == 0


def test_every_cited_fault_test_exists_and_describes_itself():
    gen = _generator()
    rows = gen.faults()
    assert rows, "no test docstring starts with 'Fault:'"
    for node, text in rows:
        path, name = node.split("::")
        assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8")
        assert len(text) > 40, node  # says what happens, not just a title
