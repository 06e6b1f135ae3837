"""Sizes and durations the way Docker's CLI prints and parses them (docker/go-units).

- ``human_size(n)``: decimal units, 3 significant digits, as the ``SIZE`` columns of
  ``images``, ``ps`` and ``history`` (``HumanSizeWithPrecision(n, 3)``: "4.27MB", "0B");
  pass ``precision=4`` for Go's plain ``HumanSize`` (``prune``'s "Total reclaimed space").
- ``bytes_size(n)``: binary units, 4 significant digits, as ``stats`` ("1.5MiB").
- ``human_duration(seconds)``: ``HumanDuration``, for "CREATED 3 days ago", "Up 2 minutes".
- ``parse_size`` / ``parse_bytes``: ``RAMInBytes`` ("512m" -> 536870912), for ``--memory``,
  ``--shm-size``, ...; ``from_human_size``: ``FromHumanSize`` (decimal).
"""

from __future__ import annotations

from minke.errors import InvalidArgument

_DECIMAL_ABBRS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_ABBRS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _scaled(size: float, base: float, abbrs: tuple[str, ...]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(abbrs) - 1:
        size /= base
        i += 1
    return size, abbrs[i]


def _g(value: float, precision: int) -> str:
    # Go's %.*g and Python's %.*g agree (both drop trailing zeros, both switch to an
    # exponent when it is >= precision, as in "1e+03" for 999.9 at precision 3).
    return f"{value:.{precision}g}"


def human_size(size: float, precision: int = 3) -> str:
    """Docker's ``HumanSizeWithPrecision(size, precision)``: "4.27MB", "1.2GB", "0B"."""
    value, unit = _scaled(float(size), 1000.0, _DECIMAL_ABBRS)
    return _g(value, precision) + unit


def bytes_size(size: float) -> str:
    """Docker's ``BytesSize``: binary units, 4 digits ("1.5MiB", "512KiB")."""
    value, unit = _scaled(float(size), 1024.0, _BINARY_ABBRS)
    return _g(value, 4) + unit


def human_duration(seconds: float) -> str:
    """Docker's ``HumanDuration``: "Less than a second", "About a minute", "3 days", ..."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)  # hours round to the nearest, as Go's does
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


# go-units' size grammar: digits with optional fraction, an optional space, an optional
# unit letter, then optional "i" and "b" ("1.5g", "512 MiB", "10kb", "100").
_SIZE_RE = r"([0-9]+(?:\.[0-9]+)*) ?([kmgtp])?i?b?"  # compiled on first use
_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


def _parse(text: str, units: dict[str, int]) -> int:
    import re  # here: ps and images print sizes, only flags parse them (re is ~10 ms)

    m = re.fullmatch(_SIZE_RE, text, re.IGNORECASE)
    if m is None:
        raise InvalidArgument(f"invalid size: '{text}'")
    try:
        value = float(m.group(1))
    except ValueError:  # "1.2.3" passes the grammar but is not a number
        raise InvalidArgument(f"invalid size: '{text}'") from None
    if m.group(2):
        value *= units[m.group(2).lower()]
    return int(value)


def parse_size(text: str) -> int:
    """Docker's ``RAMInBytes``: "512m" -> 536870912; b,k,m,g,t,p, any case, binary."""
    return _parse(text, _BINARY)


parse_bytes = parse_size


def from_human_size(text: str) -> int:
    """Docker's ``FromHumanSize``: "44kB" -> 44000 (decimal units)."""
    return _parse(text, _DECIMAL)
