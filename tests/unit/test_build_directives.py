"""Parser directives as Docker's reference defines them."""

from __future__ import annotations

import pytest

from minke.build.parser import parse
from minke.errors import InvalidArgument


def test_unknown_directive_is_a_comment_and_ends_the_directives():
    df = parse("# unknowndirective=value\n# escape=`\nFROM x\nRUN a \\\n b\n")
    assert df.escape == "\\" and df.directive("escape") is None
    assert [i.args for i in df.instructions] == [("x",), ("a  b",)]


def test_known_directives_case_and_spacing():
    df = parse("# Syntax = docker/dockerfile:1\n# ESCAPE = `\nFROM x\nRUN a `\n b\n")
    assert df.escape == "`" and df.directive("syntax") == "docker/dockerfile:1"
    assert df.instructions[1].args == ("a  b",)


def test_directive_after_an_empty_line_or_instruction_is_a_comment():
    assert parse("\n# escape=`\nFROM x\n").escape == "\\"
    assert parse("FROM x\n# escape=`\n").escape == "\\"


def test_repeated_and_bad_directives_name_the_line():
    with pytest.raises(InvalidArgument, match=r"^dockerfile:2: only one escape"):
        parse("# escape=`\n# escape=\\\nFROM x\n")
    with pytest.raises(InvalidArgument, match=r"^dockerfile:1: invalid escape token"):
        parse("# escape=x\nFROM x\n")


def test_unknown_instruction_names_its_line_after_continuations():
    with pytest.raises(InvalidArgument, match=r"^dockerfile:4: unknown instruction: RUNN$"):
        parse("FROM x\nRUN a \\\n  b\nRUNN c\n")
