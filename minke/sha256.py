"""sha256 for short commands: CPython's own implementation for small inputs, OpenSSL's
(hashlib) for large ones.

``import hashlib`` loads OpenSSL's libcrypto: ~5 ms of a short command on a small VM.  The
interpreter has a sha256 of its own (``_sha256``; ``_sha2`` from 3.12), with no import
cost but ~10x slower per byte than OpenSSL's (11 ms a MiB against 1 here), so it pays
below a few hundred KiB: a cached build's keys and a context's small files.  Once hashlib
is imported (something large was hashed), everything goes through it.  Same digests.
"""

from __future__ import annotations

import sys

try:
    from _sha256 import sha256 as _builtin
except ImportError:  # pragma: no cover - 3.12+, or a build without it
    try:
        from _sha2 import sha256 as _builtin  # type: ignore[no-redef]
    except ImportError:
        _builtin = None  # type: ignore[assignment]

# Above this many bytes hashlib's import costs less than the built-in's slower hashing.
SMALL = 256 << 10


def sha256(data: bytes = b"", size: int = 0):  # type: ignore[no-untyped-def]
    """A sha256 object (``update``, ``hexdigest``) for ``data``, and ``size`` more bytes
    the caller will add."""
    if _builtin is not None and len(data) + size <= SMALL and "hashlib" not in sys.modules:
        return _builtin(data)
    import hashlib

    return hashlib.sha256(data)


def hexdigest(data: bytes) -> str:
    return str(sha256(data).hexdigest())
