"""COPY's destination resolved inside the image root: symlinks followed as if the root
were /, never out of it."""

from __future__ import annotations

import os

from minke.build.builder import _resolve_in_root


def tree(tmp_path):
    root = tmp_path / "root"
    (root / "real" / "d").mkdir(parents=True)
    (root / "file").write_text("x")
    os.symlink("/real", root / "abs")
    os.symlink("real", root / "rel")
    os.symlink("../../..", root / "real" / "up")
    os.symlink("/file", root / "tofile")
    os.symlink("loop", root / "loop")
    return str(root)


def test_plain_and_missing_paths(tmp_path):
    root = tree(tmp_path)
    assert _resolve_in_root(root, ["real", "d"]) == "real/d"
    assert _resolve_in_root(root, ["new", "a", "b"]) == "new/a/b"
    assert _resolve_in_root(root, []) == ""


def test_symlinks_in_the_middle_are_followed_inside_the_root(tmp_path):
    root = tree(tmp_path)
    assert _resolve_in_root(root, ["abs", "d", "x"]) == "real/d/x"
    assert _resolve_in_root(root, ["rel", "new"]) == "real/new"
    # ../../.. from /real cannot climb above the root
    assert _resolve_in_root(root, ["real", "up", "real", "d"]) == "real/d"


def test_final_symlink_followed_only_to_a_directory(tmp_path):
    root = tree(tmp_path)
    assert _resolve_in_root(root, ["abs"]) == "real"
    assert _resolve_in_root(root, ["tofile"]) == "tofile"
    assert _resolve_in_root(root, ["loop"]) == "loop"


def test_a_symlink_loop_in_the_middle_ends(tmp_path):
    root = tree(tmp_path)
    assert isinstance(_resolve_in_root(root, ["loop", "x"]), str)
