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


_OLD_TIME = r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:?\d{2})?$"


def test_split_time_matches_the_regular_expression_it_replaced() -> None:
    import re

    from minke.images.model import _split_time

    rnd = random.Random(11)
    pieces = ["2020", "-", "09", "13", "T", "t", " ", "12", ":", "26", "40", ".", "5", "123456789", "Z", "z",
              "+", "-", "02", "00", "0", "1", "x", "", "99", "+02:00", "-0530", "Zz", ":00"]
    texts = ["2020-09-13T12:26:40Z", "2020-09-13t12:26:40.5+02:00", "2020-09-13 12:26:40-0530",
             "2020-09-13T12:26:40.", "2020-09-13T12:26:40+2:00", "2020-09-13T12:26:40+02:0", "2020-09-13T12:26:40+02:000"]
    base = "2020-09-13T12:26:40"
    for _ in range(20000):
        tail = "".join(rnd.choice(pieces) for _ in range(rnd.randrange(0, 5)))
        text = base + tail if rnd.random() < 0.7 else "".join(rnd.choice(pieces) for _ in range(rnd.randrange(1, 14)))
        texts.append(text)
        if len(text) > 4 and rnd.random() < 0.3:  # one character changed
            i = rnd.randrange(len(text))
            texts.append(text[:i] + rnd.choice("0123456789-:T .Z+x") + text[i + 1:])
    for text in texts:
        m = re.match(_OLD_TIME, text)
        assert _split_time(text) == (m.groups() if m else None), text
