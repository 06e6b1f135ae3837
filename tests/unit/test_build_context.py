from __future__ import annotations

import io
import os
import tarfile

import pytest

from minke.build.context import BuildContext, Ignore, parse_dockerignore
from minke.errors import InvalidArgument, NotFound


def ignore(text: str) -> Ignore:
    return Ignore(parse_dockerignore(text))


@pytest.mark.parametrize(("rules", "path", "excluded"), [
    ("*.pyc", "a.pyc", True),
    ("*.pyc", "sub/a.pyc", False),          # * stays in one element
    ("**/*.pyc", "sub/deep/a.pyc", True),
    ("**/*.pyc", "a.pyc", True),
    ("sub", "sub/x/y", True),               # a matched directory covers its contents
    ("/sub", "sub/file", True),             # leading / cleaned
    ("./sub/", "sub/file", True),           # ./ and trailing / cleaned
    ("sub/*", "sub/a", True),
    ("sub/*", "sub", False),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
    ("[a-c].txt", "b.txt", True),
    ("[^a-c].txt", "b.txt", False),
    ("[^a-c].txt", "d.txt", True),
    ("*\n!keep.txt", "keep.txt", False),
    ("*\n!keep.txt", "other", True),
    ("!keep.txt\n*", "keep.txt", True),     # the last matching rule wins
    ("docs\n!docs/README.md", "docs/README.md", False),
    ("docs\n!docs/README.md", "docs/other.md", True),
    ("# comment\n\n  x  ", "x", True),
    ("a/../b", "b", True),
    ("**", "anything/at/all", True),
    ("dir/**", "dir/a/b", True),
    ("dir/**/x", "dir/x", True),
    ("dir/**/x", "dir/a/b/x", True),
    ("dir/**/x", "other/x", False),
    ("\\*", "*", True),
    ("\\*", "a", False),
])
def test_dockerignore_table(rules, path, excluded):
    assert ignore(rules).excluded(path) is excluded


def test_dockerignore_errors():
    with pytest.raises(InvalidArgument, match="illegal exclusion"):
        parse_dockerignore("!\n")
    with pytest.raises(InvalidArgument, match="syntax error in pattern"):
        parse_dockerignore("[abc\n")


def make_ctx(tmp_path, ignore_text: str | None = None):
    (tmp_path / "app.py").write_text("print(1)\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a")
    (tmp_path / "src" / "b.log").write_text("b")
    os.symlink("a.txt", tmp_path / "src" / "link")
    if ignore_text is not None:
        (tmp_path / ".dockerignore").write_text(ignore_text)
    return BuildContext.from_directory(str(tmp_path))


def test_content_hash_ignores_mtime_but_not_content_mode_or_link(tmp_path):
    ctx = make_ctx(tmp_path)
    h1 = ctx.content_hash(["src"])
    os.utime(tmp_path / "src" / "a.txt", (1, 1))
    assert ctx.content_hash(["src"]) == h1
    (tmp_path / "src" / "a.txt").write_text("A")
    h2 = ctx.content_hash(["src"])
    assert h2 != h1
    os.chmod(tmp_path / "src" / "a.txt", 0o600)
    h3 = ctx.content_hash(["src"])
    assert h3 != h2
    os.unlink(tmp_path / "src" / "link")
    os.symlink("b.log", tmp_path / "src" / "link")
    assert ctx.content_hash(["src"]) != h3


def test_excluded_files_do_not_count(tmp_path):
    ctx = make_ctx(tmp_path, "*.log\nsrc/*.log\n")
    h1 = ctx.content_hash(["."])
    (tmp_path / "src" / "b.log").write_text("changed")
    assert ctx.content_hash(["."]) == h1
    assert "src/b.log" not in list(ctx.walk("."))
    assert not ctx.exists("src/b.log")


def test_resolve_wildcards_and_missing(tmp_path):
    ctx = make_ctx(tmp_path, "src/b.log\n")
    assert ctx.resolve("*.py") == ["app.py"]
    assert ctx.resolve("src/*") == ["src/a.txt", "src/link"]
    assert ctx.resolve("./src") == ["src"]
    with pytest.raises(NotFound, match="not found"):
        ctx.resolve("nope.txt")
    with pytest.raises(NotFound, match="matched nothing"):
        ctx.resolve("*.go")
    with pytest.raises(NotFound):
        ctx.resolve("src/b.log")
    with pytest.raises(NotFound):
        ctx.resolve("../etc/passwd")


def test_dockerfile_read_even_if_ignored(tmp_path):
    ctx = make_ctx(tmp_path, "Dockerfile\n.dockerignore\n")
    assert ctx.read_dockerfile() == b"FROM scratch\n"
    assert not ctx.exists("Dockerfile")
    with pytest.raises(NotFound, match="failed to read dockerfile"):
        ctx.read_dockerfile("Other")


def test_exceptions_inside_excluded_dir(tmp_path):
    ctx = make_ctx(tmp_path, "src\n!src/a.txt\n")
    assert [p for p in ctx.walk(".") if p.startswith("src")] == ["src/a.txt"]


def test_from_tar(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in [("Dockerfile", b"FROM scratch\n"), (".dockerignore", b"x\n"),
                           ("x", b"1"), ("y", b"2")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    with BuildContext.from_tar(buf, str(tmp_path)) as ctx:
        root = ctx.root
        assert ctx.read_dockerfile() == b"FROM scratch\n"
        assert ctx.exists("y") and not ctx.exists("x")
    assert not os.path.exists(root)
