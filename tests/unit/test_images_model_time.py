"""parse_time and format_time of minke.images.model give what the datetime-based versions
gave, without importing datetime."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from minke.images.model import format_time, parse_time


def _old_format(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        base += ("." + f"{dt.microsecond:06d}").rstrip("0")
    return base + "Z"


def _old_parse_whole(y: int, mo: int, d: int, h: int, mi: int, sec: int) -> float | None:
    try:
        return datetime(y, mo, d, h, mi, sec, tzinfo=UTC).timestamp()
    except ValueError:
        return None


def test_format_time_matches_datetime() -> None:
    rnd = random.Random(7)
    stamps = [0.0, 1.0, 1600000000.0, 1600000000.5, 1600000000.0000005, 1600000000.9999996,
              1700000000.123456, 951782400.0, 4102444799.999999]
    stamps += [rnd.uniform(0, 4_000_000_000) for _ in range(3000)]
    stamps += [float(rnd.randrange(0, 4_000_000_000)) + rnd.randrange(0, 1_000_000) / 1e6 for _ in range(3000)]
    for ts in stamps:
        assert format_time(ts) == _old_format(ts), ts


@pytest.mark.parametrize("text,want", [
    ("2020-09-13T12:26:40Z", 1600000000.0),
    ("2020-09-13T12:26:40.25Z", 1600000000.25),
    ("2020-09-13T14:26:40+02:00", 1600000000.0),
    ("2000-02-29T00:00:00Z", 951782400.0),
    ("1970-01-01T00:00:00Z", 0.0),
    ("2001-02-29T00:00:00Z", None),  # not a leap year
    ("2020-13-01T00:00:00Z", None),
    ("2020-04-31T00:00:00Z", None),
    ("2020-01-01T24:00:00Z", None),
    ("2020-01-01T00:60:00Z", None),
])
def test_parse_time(text: str, want: float | None) -> None:
    got = parse_time(text)
    assert got == want and (got is None or isinstance(got, float))


def test_parse_time_matches_datetime_on_many_dates() -> None:
    rnd = random.Random(11)
    for _ in range(5000):
        y, mo, d = rnd.randrange(1, 10000), rnd.randrange(1, 13), rnd.randrange(1, 32)
        h, mi, s = rnd.randrange(0, 25), rnd.randrange(0, 61), rnd.randrange(0, 61)
        text = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}Z"
        want = _old_parse_whole(y, mo, d, h, mi, s)
        assert parse_time(text) == want, text
