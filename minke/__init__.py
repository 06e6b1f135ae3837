"""minke: a container engine written in Python.

``minke.Engine`` is the whole engine as a library; the ``minke`` CLI and ``minke serve``
are thin adapters over it.  Importing this package is cheap: the engine is loaded on first
use of ``minke.Engine``.
"""

# No `from __future__ import annotations` here: the monitor imports this module, and
# that import (with the listing of the stdlib directory it needs) costs every running
# container's monitor memory; these annotations are valid at run time.

__version__ = "0.1.0"

__all__ = ["Engine", "Config", "__version__"]


def __getattr__(name: str):  # PEP 562: keep `import minke` light
    if name == "Engine":
        from minke.engine import Engine

        return Engine
    if name == "Config":
        from minke.config import Config

        return Config
    raise AttributeError(name)
