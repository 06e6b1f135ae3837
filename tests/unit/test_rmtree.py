"""minke.rmtree.rmtree: removes what shutil.rmtree removes, never follows a symlink."""

from __future__ import annotations

import os

import pytest

from minke.rmtree import rmtree


def _tree(root) -> None:
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "a" / "f").write_text("x")
    (root / "a" / "b" / "c" / "g").write_text("y")
    (root / "empty").mkdir()
    os.mkfifo(root / "a" / "fifo")


def test_removes_a_tree_and_leaves_link_targets(tmp_path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("k")
    tree = tmp_path / "tree"
    _tree(tree)
    os.symlink(outside, tree / "a" / "link")
    os.symlink(outside / "keep", tree / "filelink")
    rmtree(str(tree))
    assert not tree.exists()
    assert (outside / "keep").read_text() == "k"


def test_a_symlink_as_the_tree_is_refused(tmp_path) -> None:
    (tmp_path / "d").mkdir()
    os.symlink(tmp_path / "d", tmp_path / "l")
    with pytest.raises(OSError):
        rmtree(str(tmp_path / "l"))
    assert (tmp_path / "d").is_dir()
    rmtree(str(tmp_path / "l"), ignore_errors=True)  # quietly left alone
    assert (tmp_path / "d").is_dir()


def test_missing_and_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        rmtree(str(tmp_path / "nope"))
    rmtree(str(tmp_path / "nope"), ignore_errors=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        rmtree(str(tmp_path / "file"))
    assert (tmp_path / "file").exists()
