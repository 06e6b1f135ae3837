from __future__ import annotations

import pytest

from minke.errors import InvalidArgument
from minke.images.filters import parse_filters, parse_until, path_match


@pytest.mark.parametrize(
    "pattern,name,ok",
    [
        ("busybox", "busybox", True),
        ("busy*", "busybox", True),
        ("*", "user/app", False),  # * does not cross "/"
        ("*/*", "user/app", True),
        ("busybox:1.*", "busybox:1.36", True),
        ("b?sybox", "busybox", True),
        ("[ab]usybox", "busybox", True),
        ("[^b]usybox", "busybox", False),
        ("busybox", "busybox:latest", False),
    ],
)
def test_path_match_is_go_path_match(pattern, name, ok):
    assert path_match(pattern, name) is ok


def test_parse_filters():
    assert parse_filters(["dangling=true", "label=a=b", "label=c"]) == {
        "dangling": ["true"],
        "label": ["a=b", "c"],
    }
    with pytest.raises(InvalidArgument):
        parse_filters(["nokey"])


def test_until():
    assert parse_until("10m", now=1000.0) == 400.0
    assert parse_until("1h30m", now=10000.0) == 10000.0 - 5400
    assert parse_until("1700000000") == 1700000000.0
    assert parse_until("1970-01-02T00:00:00Z") == 86400.0
    with pytest.raises(InvalidArgument):
        parse_until("yesterday")
