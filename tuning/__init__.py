"""gantune's tuning: `tuning.tune(frame_or_path, ...)` -> `TuneResult`; `tuning.evaluate(real, synthetic)`.

The public names load lazily (PEP 562): `import tuning` imports neither Ray nor torch, and
nothing starts Ray before `tuning.tune` runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["TuneResult", "evaluate", "tune"]

if TYPE_CHECKING:
    from tuning.api import TuneResult, evaluate, tune


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tuning import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tuning' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
