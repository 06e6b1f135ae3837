"""${v#p} ${v##p} ${v%p} ${v%%p} ${v/p/r} ${v//p/r} as in Docker's reference."""

from __future__ import annotations

import pytest

from minke.build.shell_words import process_word

ENV = {"A": "abc.tar.gz", "E": ""}


@pytest.mark.parametrize(("word", "want"), [
    ("${A%.gz}", "abc.tar"),
    ("${A%%.*}", "abc"),
    ("${A%.*}", "abc.tar"),
    ("${A#abc}", ".tar.gz"),
    ("${A#*.}", "tar.gz"),
    ("${A##*.}", "gz"),
    ("${A%.zz}", "abc.tar.gz"),
    ("${A/tar/zip}", "abc.zip.gz"),
    ("${A//a/_}", "_bc.t_r.gz"),
    ("${A/a}", "bc.tar.gz"),
    ("${A/x/y}", "abc.tar.gz"),
    ("${A/[bc]*./X}", "aXgz"),  # the longest match, as in sh
    ("${N#x}", ""),
    ("${E%%*}", ""),
    ("pre-${A%%.*}-post", "pre-abc-post"),
])
def test_pattern_substitutions(word, want):
    assert process_word(word, ENV) == want


def test_pattern_variables_are_recorded_for_the_cache():
    used: set[str] = set()
    process_word("${A%.gz}", ENV, "\\", used)
    assert used == {"A"}
