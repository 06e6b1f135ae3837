from __future__ import annotations

import pytest

from minke.errors import InvalidArgument
from minke.oci.digest import (
    Digester,
    algorithm_of,
    digest_error,
    hex_of,
    is_digest,
    sha256_digest,
    short_id,
    validate_digest,
)

EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
HELLO = "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"  # "hello\n"
ABC512 = (
    "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
)


def test_sha256_digest_known_values():
    assert sha256_digest(b"") == EMPTY
    assert sha256_digest(b"hello\n") == HELLO


def test_digester_incremental_matches_one_shot():
    d = Digester()
    for chunk in (b"he", b"", b"llo", bytearray(b"\n")):
        d.update(chunk)
    assert d.digest == HELLO
    assert d.size == 6
    assert d.hexdigest == hex_of(HELLO)
    d512 = Digester("sha512")
    d512.update(memoryview(b"abc"))
    assert d512.digest == ABC512
    assert d512.algorithm == "sha512"


def test_digester_rejects_unknown_algorithm():
    with pytest.raises(InvalidArgument, match="unsupported digest algorithm 'md5'"):
        Digester("md5")


@pytest.mark.parametrize("good", [EMPTY, HELLO, ABC512])
def test_validate_accepts(good):
    assert validate_digest(good) == good
    assert is_digest(good)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "invalid checksum digest format"),
        ("sha256", "invalid checksum digest format"),
        ("sha256:", "invalid checksum digest format"),
        (":" + "a" * 64, "invalid checksum digest format"),
        ("sha256:" + "a" * 63, "invalid checksum digest length"),
        ("sha256:" + "a" * 65, "invalid checksum digest length"),
        ("sha256:" + "A" * 64, "invalid checksum digest format"),
        ("sha256:" + "g" * 64, "invalid checksum digest format"),
        ("sha512:" + "a" * 64, "invalid checksum digest length"),
        ("md5:" + "a" * 32, "unsupported digest algorithm"),
        ("sha384:" + "a" * 96, "unsupported digest algorithm"),
        ("SHA256:" + "a" * 64, "invalid checksum digest format"),
        ("sha256 :" + "a" * 64, "invalid checksum digest format"),
    ],
)
def test_validate_rejects(bad, reason):
    assert digest_error(bad) == reason
    assert not is_digest(bad)
    with pytest.raises(InvalidArgument, match=r"^invalid digest "):
        validate_digest(bad)


def test_validate_rejects_non_string():
    with pytest.raises(InvalidArgument, match="not a string"):
        validate_digest(None)  # type: ignore[arg-type]
    assert not is_digest(42)  # type: ignore[arg-type]


def test_short_id_and_parts():
    assert short_id(HELLO) == "5891b5b522d5"
    assert short_id(hex_of(HELLO)) == "5891b5b522d5"
    assert algorithm_of(ABC512) == "sha512"
    assert hex_of(EMPTY) == EMPTY[7:]
    with pytest.raises(InvalidArgument):
        short_id("not-an-id")
    with pytest.raises(InvalidArgument):
        hex_of("sha256:abc")
