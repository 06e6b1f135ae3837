"""``sqlite3`` for the store: the C module, imported without ``functools``.

The ``sqlite3`` package adds to its C module (``_sqlite3``) only datetime adapters (which
the store never passes) and the import of datetime and collections.  The C module itself
takes one thing from ``functools`` when it is loaded: ``lru_cache``, for each connection's
statement cache; and ``functools`` imports ``collections``, ``itertools``, ``operator``,
``reprlib``, ``keyword`` and ``types``: 6-9 ms of every command that opens the store (a
``run`` included), here.  So, unless ``functools`` is loaded already (or threads run that
might import it meanwhile), the import is lent a stand-in ``functools`` whose
``lru_cache`` makes the same C object the real one does (``_functools._lru_cache_wrapper``),
for the length of the import only.

Usage: ``from minke.store.sqlite import sqlite3``.
"""

from __future__ import annotations

import sys


def _load():
    if "functools" in sys.modules or "threading" in sys.modules or "_sqlite3" in sys.modules:
        import _sqlite3

        return _sqlite3
    import _functools

    def lru_cache(maxsize=128, typed=False):
        return lambda fn: _functools._lru_cache_wrapper(fn, maxsize, typed, lambda *info: info)

    lender = type(sys)("functools")
    lender.lru_cache = lru_cache
    sys.modules["functools"] = lender
    try:
        import _sqlite3
    finally:
        if sys.modules.get("functools") is lender:
            del sys.modules["functools"]
    return _sqlite3


try:
    sqlite3 = _load()
except ImportError:  # an interpreter that only has the package
    import sqlite3  # type: ignore[no-redef]  # noqa: F401
