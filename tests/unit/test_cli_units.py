"""Docker's go-units: sizes, durations and size parsing, table-driven."""

from __future__ import annotations

import pytest

from minke.cli.units import (
    bytes_size,
    from_human_size,
    human_duration,
    human_size,
    parse_bytes,
    parse_size,
)
from minke.errors import InvalidArgument

SEC, MIN, HOUR = 1, 60, 3600
DAY, WEEK, MONTH, YEAR = 24 * HOUR, 7 * 24 * HOUR, 30 * 24 * HOUR, 365 * 24 * HOUR


@pytest.mark.parametrize(
    ("size", "precision", "text"),
    [
        (0, 3, "0B"),
        (1, 3, "1B"),
        (999, 3, "999B"),
        (1000, 3, "1kB"),
        (1024, 3, "1.02kB"),
        (4265600, 3, "4.27MB"),
        (1_200_000_000, 3, "1.2GB"),
        (999_900, 3, "1e+03kB"),  # Go's %.3g does this too
        (7_800_000, 3, "7.8MB"),
        (1e27, 3, "1e+03YB"),
        (1e30, 3, "1e+06YB"),
        (2_746_000, 4, "2.746MB"),
        (796_000, 4, "796kB"),
        (1_000_000_000_000, 4, "1TB"),
        (-5, 3, "-5B"),
    ],
)
def test_human_size(size, precision, text):
    assert human_size(size, precision) == text


def test_human_size_default_precision_is_docker_images_three():
    assert human_size(123_456_789) == "123MB"


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (1023, "1023B"),
        (1024, "1KiB"),
        (1536 * 1024, "1.5MiB"),
        (1024**3, "1GiB"),
        (int(10.5 * 1024**4), "10.5TiB"),
        (1024**8 * 3, "3YiB"),
    ],
)
def test_bytes_size(size, text):
    assert bytes_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "Less than a second"),
        (0.45, "Less than a second"),
        (-3, "Less than a second"),
        (1, "1 second"),
        (1.9, "1 second"),
        (47, "47 seconds"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (3 * MIN, "3 minutes"),
        (35 * MIN + 40, "35 minutes"),
        (59 * MIN, "59 minutes"),
        (HOUR, "About an hour"),
        (HOUR + 29 * MIN, "About an hour"),
        (HOUR + 31 * MIN, "2 hours"),
        (3 * HOUR + 29 * MIN, "3 hours"),
        (3 * HOUR + 31 * MIN, "4 hours"),
        (DAY, "24 hours"),
        (DAY + 12 * HOUR, "36 hours"),
        (2 * DAY, "2 days"),
        (13 * DAY + 5 * HOUR, "13 days"),
        (2 * WEEK, "2 weeks"),
        (2 * WEEK + 4 * DAY, "2 weeks"),
        (MONTH, "4 weeks"),
        (MONTH + 2 * WEEK, "6 weeks"),
        (2 * MONTH, "2 months"),
        (5 * MONTH + 2 * WEEK, "5 months"),
        (24 * MONTH, "24 months"),
        (24 * MONTH + 2 * WEEK, "2 years"),
        (3 * YEAR + 2 * MONTH, "3 years"),
    ],
)
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("32", 32),
        ("32b", 32),
        ("32B", 32),
        ("32k", 32 * 1024),
        ("32K", 32 * 1024),
        ("32kb", 32 * 1024),
        ("32Kb", 32 * 1024),
        ("32Kib", 32 * 1024),
        ("32KIB", 32 * 1024),
        ("32 KiB", 32 * 1024),
        ("512m", 512 * 1024**2),
        ("32Mb", 32 * 1024**2),
        ("32Gb", 32 * 1024**3),
        ("32G", 32 * 1024**3),
        ("32Tb", 32 * 1024**4),
        ("32Pb", 32 * 1024**5),
        ("1.5g", 1610612736),
        ("0.5k", 512),
        ("0", 0),
        ("32.3", 32),
    ],
)
def test_parse_size_binary(text, size):
    assert parse_size(text) == size
    assert parse_bytes(text) == size


@pytest.mark.parametrize(
    "text",
    ["", " ", "1x", "-1", "-1m", "m", "32bm", "32mm", "32kbi", "32  m", " 32m", "32m ", "1.2.3",
     "32.", ".5m", "1e3", "12 a", "32\n", "３２"],
)
def test_parse_size_invalid(text):
    with pytest.raises(InvalidArgument) as e:
        parse_size(text)
    assert str(e.value) == f"invalid size: '{text}'"


@pytest.mark.parametrize(
    ("text", "size"),
    [("32", 32), ("32kb", 32_000), ("32KB", 32_000), ("32Mb", 32_000_000), ("1.5g", 1_500_000_000), ("2tb", 2 * 10**12)],
)
def test_from_human_size_decimal(text, size):
    assert from_human_size(text) == size
