"""COPY sources never leave the context through a symlink on the way."""

from __future__ import annotations

import os

import pytest

from minke.build.context import BuildContext
from minke.errors import NotFound


@pytest.fixture
def ctx(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s")
    root = tmp_path / "ctx"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_text("f")
    os.symlink(str(outside), root / "out")
    os.symlink("d", root / "in")
    os.symlink(str(outside / "secret"), root / "d" / "link")
    return BuildContext.from_directory(str(root))


def test_symlinked_directory_leading_outside_is_refused(ctx):
    with pytest.raises(NotFound, match=r"^out/secret: not found \(outside the build context\)"):
        ctx.resolve("out/secret")
    with pytest.raises(NotFound, match="outside the build context"):
        ctx.resolve("out/*")


def test_symlinks_inside_the_context_still_work(ctx):
    assert ctx.resolve("in/f") == ["in/f"]
    assert ctx.resolve("d/*") == ["d/f", "d/link"]  # the link itself is copied, not followed
    assert ctx.resolve("out") == ["out"]


def test_parent_components_cannot_climb_out(ctx):
    with pytest.raises(NotFound, match="outside the build context"):
        ctx.resolve("../outside/secret")
    assert ctx.resolve("/d/../d/f") == ["d/f"]
