from __future__ import annotations

import pytest

from minke.build.shell_words import process_word, process_words
from minke.errors import InvalidArgument

ENV = {"A": "x", "E": "", "SP": "a b"}


@pytest.mark.parametrize(("word", "expected"), [
    ("$A", "x"),
    ("${A}", "x"),
    ("$A$A", "xx"),
    ("${A}y", "xy"),
    ("$Ay", ""),
    ("$UNSET", ""),
    ("${UNSET:-d}", "d"),
    ("${E:-d}", "d"),
    ("${A:-d}", "x"),
    ("${UNSET-d}", "d"),
    ("${E-d}", ""),
    ("${A:+alt}", "alt"),
    ("${E:+alt}", ""),
    ("${E+alt}", "alt"),
    ("${UNSET+alt}", ""),
    ("${UNSET:-$A}", "x"),
    ("${UNSET:-${A}z}", "xz"),
    ("'$A'", "$A"),
    ('"$A"', "x"),
    ('"${A} and $SP"', "x and a b"),
    ("\\$A", "$A"),
    ('"\\$A"', "$A"),
    ('"a\\b"', "a\\b"),
    ('"a\\"b"', 'a"b'),
    ("a\\ b", "a b"),
    ("$", "$"),
    ("a$", "a$"),
    ("$-", "$-"),
    ("", ""),
    ("pre'$A'post", "pre$Apost"),
])
def test_substitution_table(word, expected):
    assert process_word(word, ENV) == expected


def test_backtick_escape():
    assert process_word("`$A", ENV, escape="`") == "$A"
    assert process_word("c:\\dir", ENV, escape="`") == "c:\\dir"


def test_required_modifier():
    assert process_word("${A:?oops}", ENV) == "x"
    with pytest.raises(InvalidArgument, match="UNSET: oops"):
        process_word("${UNSET:?oops}", ENV)
    with pytest.raises(InvalidArgument):
        process_word("${E:?}", ENV)


def test_errors():
    with pytest.raises(InvalidArgument, match="single-quote"):
        process_word("'abc", ENV)
    with pytest.raises(InvalidArgument, match="double-quote"):
        process_word('"abc', ENV)
    with pytest.raises(InvalidArgument, match="missing '}'"):
        process_word("${A:-x", ENV)
    with pytest.raises(InvalidArgument, match="bad substitution"):
        process_word("${}", ENV)


def test_used_names_recorded():
    used: set[str] = set()
    process_word("$A ${B:-$C}", ENV, used=used)
    assert used == {"A", "B", "C"}


def test_process_words_splits_outside_quotes():
    assert process_words('$SP "$SP" c', ENV) == ["a", "b", "a b", "c"]
