"""The str-method parse of plain references (minke.oci.reference._parse_plain) gives what
the grammar's regular expression gives, on generated references: it answers only where
the grammar accepts, with the same split."""

from __future__ import annotations

import random
import re

import pytest

from minke.errors import InvalidReference
from minke.oci import reference as R


def _by_grammar(s: str) -> R.Reference | None:
    m = re.fullmatch(R._REFERENCE, s)
    if m is None or len(m.group(3)) > R.NAME_TOTAL_LENGTH_MAX:
        return None
    return R.Reference(m.group(2) or "", m.group(3), m.group(4) or None, m.group(5) or None)


def _generated(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    atoms = ["a", "b", "z", "0", "9", "busybox", "library", "docker", "io", "localhost", "Ab", "X", ".", "_", "__",
             "-", "--", "/", ":", "5000", "latest", "v1.0", "@", "sha256:" + "a" * 64, "[::1]", "é", "", "_x", "x."]
    out = ["docker.io/library/busybox", "docker.io/library/busybox:latest", "localhost:5000/a/b:c",
           "busybox", "a/b", "a__b/c--d/e.f_g:T_-.9", "a___b/c", "-a/b", "a-/b", "a/b:", "a/b:-x", ":x",
           "A.b-c.D:1/x", "a.-b/c", "a:b/c", "a:/c", "a//b", "/a", "a/", "x" * 256, "d/" + "x" * 254, "d/" + "x" * 255,
           "a/b:" + "t" * 128, "a/b:" + "t" * 129]
    for _ in range(n):
        out.append("".join(rnd.choice(atoms) for _ in range(rnd.randrange(1, 9))))
    return out


def test_plain_parse_agrees_with_the_grammar() -> None:
    answered = 0
    for s in _generated(30000, 5):
        plain = R._parse_plain(s)
        if plain is not None:
            answered += 1
            assert plain == _by_grammar(s), s
    assert answered > 3000  # it answers for the common forms, not only for a few


@pytest.mark.parametrize("s", ["docker.io/library/busybox:latest", "localhost:5000/a/b:c", "Host.Example:443/a_b/c-d"])
def test_common_references_take_the_plain_path(s: str) -> None:
    assert R._parse_plain(s) is not None


def test_parse_results_and_errors_unchanged() -> None:
    # Every generated string: _parse (plain path first) against the grammar alone.
    for s in _generated(5000, 9):
        want = _by_grammar(s)
        try:
            got = R._parse(s)
        except InvalidReference:
            got = None
        if want is None:
            assert got is None or "@" in s, s  # a digest the grammar took but digest_error refused
        else:
            assert got == want or "@" in s, s
