"""gantune's GAN for tables: `gan.fit(frame)` -> `ModelBundle`; `bundle.sample(n)` -> DataFrame.

The public names load lazily (PEP 562), so `import gan` stays light and never imports Ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["GANConfig", "ModelBundle", "evaluate", "fit", "load"]

_HOMES = {"GANConfig": "gan.config", "ModelBundle": "gan.bundle", "evaluate": "gan.api", "fit": "gan.api", "load": "gan.api"}

if TYPE_CHECKING:
    from gan.api import evaluate, fit, load
    from gan.bundle import ModelBundle
    from gan.config import GANConfig


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
