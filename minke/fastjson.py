"""JSON for start-up-critical paths, through the C accelerator ``_json`` only.

``import json`` costs ~17 ms of a short-lived process on a small VM: ``json.decoder``
imports ``re``, which imports ``enum`` and ``functools``.  The decoding and encoding work
itself is done by ``_json`` in C either way, so the runtime's hot commands (create, the
state it writes) call it directly.

Same results as ``json.loads``/``json.dumps`` with their defaults.  Anything this module
does not take on the fast path (a decode error, a value the encoder refuses, a Python
without ``_json``) is handed to the ``json`` package, so errors are exactly json's.
"""

from __future__ import annotations

try:
    import _json
except ImportError:  # pragma: no cover - every CPython build has it
    _json = None  # type: ignore[assignment]

_WS = " \t\n\r"


class _Context:
    # What _json.make_scanner reads from a JSONDecoder: json.loads's defaults.
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__


if _json is not None:
    _scan = _json.make_scanner(_Context())
else:  # pragma: no cover
    _scan = None


def loads(s: str | bytes | bytearray):
    """``json.loads(s)``: UTF-8 (optionally with a BOM) bytes or str."""
    text = s
    if isinstance(text, (bytes, bytearray)):
        if b"\x00" in text[:4]:  # UTF-16/32: json's detection handles it
            return _slow_loads(s)
        if text[:3] == b"\xef\xbb\xbf":  # a UTF-8 BOM, as json.loads skips it
            text = text[3:]
        text = text.decode("utf-8", "surrogatepass")  # not "utf-8-sig": its codec is an import
    if _scan is None or text.startswith("\ufeff"):
        return _slow_loads(s)
    start = len(text) - len(text.lstrip(_WS))
    try:
        obj, end = _scan(text, start)
    except (StopIteration, ValueError, SystemError):
        # SystemError: the scanner builds its error from json.decoder, which it finds only
        # when something has imported it; json.loads then raises the proper error.
        return _slow_loads(s)
    if end != len(text) and text[end:].strip(_WS):
        return _slow_loads(s)
    return obj


def load(f):
    """``json.load(f)`` for a file opened in text or binary mode."""
    return loads(f.read())


def dump(obj, f) -> None:
    """``json.dump(obj, f)`` with the defaults, to a text file."""
    f.write(dumps(obj))


def dumps(obj) -> str:
    """``json.dumps(obj)`` with the defaults (ASCII, ", " and ": " separators)."""
    if _json is not None:
        # A new encoder each call: its circular-reference markers are left dirty by a
        # failed call.
        encode = _json.make_encoder({}, None, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True)
        try:
            return "".join(encode(obj, 0))
        except (TypeError, ValueError):
            pass
    import json

    return json.dumps(obj)


def _slow_loads(s):
    import json

    return json.loads(s)
