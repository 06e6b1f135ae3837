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


def dumps(obj, *, indent: int | None = None, ensure_ascii: bool = True) -> str:
    """``json.dumps(obj)`` with the defaults (", " and ": " separators), or with
    ``indent`` and ``ensure_ascii`` as json takes them (what ``inspect`` prints)."""
    if indent is not None or not ensure_ascii:
        if _json is not None:
            quote = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
            try:
                return _indented(obj, quote, indent, "\n")
            except (TypeError, ValueError, RecursionError):
                pass  # json raises its own error for it
        import json

        return json.dumps(obj, indent=indent, ensure_ascii=ensure_ascii)
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


def _float(f: float) -> str:
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "Infinity" if f > 0 else "-Infinity"
    return float.__repr__(f)


def _scalar(o) -> str | None:
    # json's text of None, a bool, an int or a float; None for anything else.
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if isinstance(o, int):
        return int.__repr__(o)
    if isinstance(o, float):
        return _float(o)
    return None


def _key(k) -> str:
    # json's conversion of a dict key to a string
    if isinstance(k, str):
        return k
    text = _scalar(k)
    if text is None:
        raise TypeError(k)
    return text


def _indented(o, quote, indent: int | None, newline: str) -> str:
    # json.encoder's pure-Python encoding with ``indent`` (its C encoder takes none),
    # without importing json (and re behind it).
    if isinstance(o, str):
        return quote(o)
    text = _scalar(o)
    if text is not None:
        return text
    # Without indent: ", " between items and nothing around them, as json.dumps.
    inner = newline + " " * indent if indent is not None else ""
    sep = "," + inner if indent is not None else ", "
    close = newline if indent is not None else ""
    if isinstance(o, (list, tuple)):
        if not o:
            return "[]"
        return "[" + inner + sep.join(_indented(v, quote, indent, inner) for v in o) + close + "]"
    if isinstance(o, dict):
        if not o:
            return "{}"
        items = sep.join(quote(_key(k)) + ": " + _indented(v, quote, indent, inner) for k, v in o.items())
        return "{" + inner + items + close + "}"
    raise TypeError(o)


def _slow_loads(s):
    import json

    return json.loads(s)
