from __future__ import annotations

import pytest

from minke.errors import InvalidArgument
from minke.oci.platform import (
    Platform,
    best_match,
    compatible,
    host_platform,
    matches,
    normalize,
    parse_platform,
)


def P(os: str, arch: str, variant: str | None = None, *features: str) -> Platform:
    return Platform(os, arch, variant, os_features=tuple(features))


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        ("x86_64", "linux/amd64"),
        ("aarch64", "linux/arm64/v8"),
        ("armv7l", "linux/arm/v7"),
        ("armv6l", "linux/arm/v6"),
        ("armv5tel", "linux/arm/v5"),
        ("i686", "linux/386"),
        ("ppc64le", "linux/ppc64le"),
        ("s390x", "linux/s390x"),
        ("riscv64", "linux/riscv64"),
        ("loongarch64", "linux/loong64"),
    ],
)
def test_host_platform_from_machine(machine, expected):
    assert str(host_platform(machine)) == expected


def test_host_platform_of_this_machine_is_linux():
    host = host_platform()
    assert host.os == "linux" and host.architecture


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", P("linux", "amd64")),
        ("linux/arm64/v8", P("linux", "arm64", "v8")),
        ("linux/arm64", P("linux", "arm64")),
        ("linux/aarch64", P("linux", "arm64")),
        ("linux/x86_64", P("linux", "amd64")),
        ("linux/arm", P("linux", "arm")),
        ("linux/arm/7", P("linux", "arm", "v7")),
        ("linux/armhf", P("linux", "arm")),  # containerd drops the default v7
        ("linux/armel", P("linux", "arm", "v6")),
        ("linux/amd64/v3", P("linux", "amd64", "v3")),
        ("Linux/AMD64", P("linux", "amd64")),
        ("macos/arm64", P("darwin", "arm64")),
        ("arm64", P("linux", "arm64")),
        ("windows/amd64", P("windows", "amd64")),
    ],
)
def test_parse_platform(text, expected):
    assert parse_platform(text) == expected


def test_parse_platform_os_only_uses_host_arch():
    p = parse_platform("linux")
    assert (p.os, p.architecture) == ("linux", host_platform().architecture)


@pytest.mark.parametrize(
    "text", ["", "linux/", "/amd64", "linux/amd64/v8/x", "linux/*", "lin ux/amd64", "nonsense", "linux/amd 64"]
)
def test_parse_platform_rejects(text):
    with pytest.raises(InvalidArgument, match="^invalid platform"):
        parse_platform(text)


def test_str():
    assert str(P("linux", "amd64")) == "linux/amd64"
    assert str(P("linux", "arm", "v7")) == "linux/arm/v7"
    assert str(P("", "")) == "unknown"


def test_normalize():
    assert normalize(P("linux", "aarch64", "v8")) == P("linux", "arm64")
    assert normalize(P("linux", "arm")) == P("linux", "arm", "v7")
    assert normalize(P("linux", "x86_64", "v1")) == P("linux", "amd64")
    assert normalize(P("linux", "i386")) == P("linux", "386")
    assert normalize(P("", "amd64")) == P("linux", "amd64")
    assert normalize(P("linux", "amd64", None, "b", "a", "b")).os_features == ("a", "b")


@pytest.mark.parametrize(
    ("want", "have", "expected"),
    [
        (P("linux", "arm64", "v8"), P("linux", "arm64"), True),
        (P("linux", "arm64"), P("linux", "arm64", "v8"), True),
        (P("linux", "arm"), P("linux", "arm", "v7"), True),
        (P("linux", "amd64"), P("linux", "x86_64"), True),
        (P("linux", "amd64"), P("linux", "arm64"), False),
        (P("linux", "amd64"), P("windows", "amd64"), False),
        (P("linux", "arm", "v7"), P("linux", "arm", "v6"), False),
        (P("linux", "amd64"), P("unknown", "unknown"), False),
        (P("linux", "amd64", None, "f"), P("linux", "amd64", None, "f"), True),
        (P("linux", "amd64"), P("linux", "amd64", None, "f"), False),
        (P("linux", "amd64", None, "f", "g"), P("linux", "amd64"), True),
    ],
)
def test_matches(want, have, expected):
    assert matches(want, have) is expected


def test_best_match_prefers_exact_then_fallbacks():
    candidates = [
        P("linux", "amd64"),
        P("linux", "arm", "v6"),
        P("unknown", "unknown"),
        P("linux", "arm64", "v8"),
        P("linux", "arm", "v7"),
    ]
    assert best_match(P("linux", "amd64"), candidates) == 0
    assert best_match(P("linux", "arm64"), candidates) == 3
    assert best_match(P("linux", "arm", "v7"), candidates) == 4
    assert best_match(P("linux", "arm", "v6"), candidates) == 1
    # An arm64 host runs 32-bit arm images when there is no arm64 one, v7 before v6.
    assert best_match(P("linux", "arm64"), [candidates[1], candidates[4]]) == 1
    # arm/v5 cannot run v6; s390x matches nothing.
    assert best_match(P("linux", "arm", "v5"), candidates) is None
    assert best_match(P("linux", "s390x"), candidates) is None
    assert best_match(P("linux", "amd64"), []) is None


def test_best_match_amd64_levels_and_386():
    cands = [P("linux", "386"), P("linux", "amd64", "v2"), P("linux", "amd64", "v4")]
    assert best_match(P("linux", "amd64", "v3"), cands) == 1
    assert best_match(P("linux", "amd64"), cands) == 0
    assert compatible(P("linux", "amd64"), P("linux", "386"))
    assert not compatible(P("linux", "386"), P("linux", "amd64"))


def test_best_match_first_of_equals_wins():
    cands = [P("linux", "amd64"), P("linux", "amd64")]
    assert best_match(P("linux", "amd64"), cands) == 0


def test_dict_round_trip_and_validation():
    p = Platform("windows", "amd64", None, "10.0.17763.1", ("win32k",))
    d = p.to_dict()
    assert d == {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1", "os.features": ["win32k"]}
    assert Platform.from_dict(d) == p
    assert Platform.from_dict({"architecture": "arm", "os": "linux", "variant": "v7"}) == P("linux", "arm", "v7")
    with pytest.raises(InvalidArgument, match="missing os"):
        Platform.from_dict({"architecture": "amd64"})
    with pytest.raises(InvalidArgument, match="architecture must be a string"):
        Platform.from_dict({"architecture": 1, "os": "linux"})
    with pytest.raises(InvalidArgument, match="os.features"):
        Platform.from_dict({"architecture": "amd64", "os": "linux", "os.features": "x"})
    with pytest.raises(InvalidArgument, match="expected an object"):
        Platform.from_dict([])
