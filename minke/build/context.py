"""The build context: a directory (or a tar on stdin) filtered by .dockerignore.

Pattern rules are Docker's (moby/patternmatcher): each line is trimmed, ``#`` lines and
blank lines skipped, ``!`` marks an exception, the pattern is path-cleaned (``./`` and a
leading ``/`` dropped), ``*``/``?``/``[..]`` match within one path element as Go's
filepath.Match, ``**`` matches any number of elements, a pattern that matches a
directory excludes everything under it, and the last matching rule wins.

``content_hash`` is what the cache keys COPY/ADD on: names, file contents, modes,
uid/gid and symlink targets, never mtimes.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from collections.abc import Iterable, Iterator

from minke.build.record import record
from minke.errors import InvalidArgument, NotFound
from minke.sha256 import sha256

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing: for mypy only (its import costs a short command ~5 ms)
    from typing import BinaryIO


@record
class IgnoreRule:
    pattern: str
    exclusion: bool
    regex: re.Pattern[str]


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 2
                if i < n and pattern[i] == "/":
                    i += 1
                out.append(".*" if i >= n else "(.*/)?")
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise InvalidArgument(f"syntax error in pattern: {pattern}")
            # Go's class syntax ([^a-z], ranges, \\ escapes) is the regex one.
            out.append("[" + pattern[i + 1:end] + "]")
            i = end
        elif ch == "\\":
            i += 1
            if i < n:
                out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    try:
        return re.compile("".join(out), re.S)
    except re.error:
        raise InvalidArgument(f"syntax error in pattern: {pattern}") from None


def _clean(path: str) -> str:
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("/"):
        cleaned = cleaned.lstrip("/") or "."
    return cleaned


def parse_dockerignore(text: str) -> list[IgnoreRule]:
    """The rules of a .dockerignore file, in order."""
    rules: list[IgnoreRule] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        if not line:
            raise InvalidArgument("illegal exclusion pattern: \"!\"")
        pattern = _clean(line)
        rules.append(IgnoreRule(pattern, exclusion, _compile(pattern)))
    return rules


class Ignore:
    """Decides whether a context path (slash-separated, relative) is excluded."""

    def __init__(self, rules: Iterable[IgnoreRule] = ()) -> None:
        self.rules = list(rules)
        self.has_exceptions = any(r.exclusion for r in self.rules)

    def excluded(self, rel: str) -> bool:
        rel = _clean(rel)
        if rel == "." or not self.rules:
            return False
        parents = []
        parts = rel.split("/")
        for k in range(1, len(parts)):
            parents.append("/".join(parts[:k]))
        matched = False
        for rule in self.rules:
            hit = bool(rule.regex.match(rel))
            if not hit:
                # A rule that matches a parent directory covers everything below it.
                hit = any(rule.regex.match(p) for p in parents)
            if hit:
                matched = not rule.exclusion
        return matched

    def may_contain_included(self, rel_dir: str) -> bool:
        """Whether an excluded directory must still be walked for ``!`` exceptions."""
        if not self.has_exceptions:
            return False
        rel_dir = _clean(rel_dir)
        for rule in self.rules:
            if rule.exclusion and (rule.pattern.startswith(rel_dir + "/")
                                   or "*" in rule.pattern or "?" in rule.pattern):
                return True
        return False


def _match_component(pattern: str, name: str) -> bool:
    """Go's filepath.Match for one path element (no '/' in either)."""
    return bool(_compile(pattern).match(name))


class BuildContext:
    """A build context rooted at a local directory; use as a context manager."""

    def __init__(self, root: str, ignore: Ignore, *, owned_tmp: str | None = None) -> None:
        self.root = os.path.realpath(root)
        self.ignore = ignore
        self._tmp = owned_tmp

    @classmethod
    def from_directory(cls, path: str) -> BuildContext:
        if not os.path.isdir(path):
            raise NotFound(f"unable to prepare context: path {path!r} not found")
        return cls(path, Ignore(_read_ignore(path)))

    @classmethod
    def from_tar(cls, stream: BinaryIO, tmp_parent: str | None = None) -> BuildContext:
        """Unpack a (possibly compressed) tar, as 'minke build -' reads from stdin."""
        import tempfile

        from minke.archive.apply import apply_layer

        tmp = tempfile.mkdtemp(prefix="minke-build-context-", dir=tmp_parent)
        try:
            apply_layer(stream, tmp)
        except BaseException:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls(tmp, Ignore(_read_ignore(tmp)), owned_tmp=tmp)

    def close(self) -> None:
        if self._tmp:
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> BuildContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_dockerfile(self, name: str = "Dockerfile") -> bytes:
        """The Dockerfile (read even when .dockerignore excludes it, as Docker does)."""
        rel = _clean(name)
        if rel.startswith("../"):
            raise InvalidArgument(f"dockerfile {name!r} is outside the build context")
        path = os.path.join(self.root, rel)
        if not os.path.isfile(path) and rel == "Dockerfile" and os.path.isfile(
                os.path.join(self.root, "dockerfile")):
            path = os.path.join(self.root, "dockerfile")
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise NotFound(f"failed to read dockerfile: open {name}: no such file or "
                           "directory") from None

    # -- sources -------------------------------------------------------------------------

    def _path(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel != "." else self.root

    def exists(self, rel: str) -> bool:
        rel = _clean(rel)
        if rel.startswith("../") or rel == "..":
            return False
        return (rel == "." or not self.ignore.excluded(rel)) and os.path.lexists(self._path(rel))

    def resolve(self, source: str) -> list[str]:
        """Context-relative paths a COPY source names (wildcards as filepath.Match).

        Raises NotFound naming the source when nothing matches.
        """
        rel = _clean(source)
        if rel == ".." or rel.startswith("../"):
            raise NotFound(f"{source}: not found (outside the build context)")
        if not any(c in rel for c in "*?["):
            if self.exists(rel):
                return self._inside([rel], source)
            raise NotFound(f"failed to compute cache key: \"/{rel}\": not found")
        parts = [] if rel == "." else rel.split("/")
        found: list[str] = []
        self._glob(".", parts, found)
        if not found:
            raise NotFound(f"failed to compute cache key: no source files were specified "
                           f"(\"{source}\" matched nothing)")
        return self._inside(sorted(found), source)

    def _inside(self, rels: list[str], source: str) -> list[str]:
        """rels, unless a symlink on the way leads out of the context (`COPY link/passwd`
        with link -> /etc must not read the host's /etc/passwd)."""
        root = os.path.realpath(self.root)
        for rel in rels:
            parent = os.path.realpath(os.path.dirname(self._path(rel)) if rel != "." else root)
            if parent != root and not parent.startswith(root + os.sep):
                raise NotFound(f"{source}: not found (outside the build context)")
        return rels

    def _glob(self, base: str, parts: list[str], out: list[str]) -> None:
        if not parts:
            if base != "." and not self.ignore.excluded(base):
                out.append(base)
            return
        head, rest = parts[0], parts[1:]
        dir_path = self._path(base)
        if not any(c in head for c in "*?["):
            nxt = head if base == "." else f"{base}/{head}"
            if os.path.lexists(self._path(nxt)):
                self._glob(nxt, rest, out)
            return
        try:
            names = sorted(os.listdir(dir_path))
        except (NotADirectoryError, FileNotFoundError):
            return
        for name in names:
            if _match_component(head, name):
                self._glob(name if base == "." else f"{base}/{name}", rest, out)

    def walk(self, rel: str) -> Iterator[str]:
        """``rel`` and, for a directory, every non-excluded path below it, sorted."""
        rel = _clean(rel)
        yield rel
        path = self._path(rel)
        if os.path.isdir(path) and not os.path.islink(path):
            for name in sorted(os.listdir(path)):
                child = name if rel == "." else f"{rel}/{name}"
                if self.ignore.excluded(child):
                    if os.path.isdir(self._path(child)) and self.ignore.may_contain_included(
                            child):
                        for sub in self.walk(child):
                            if sub != child and not self.ignore.excluded(sub):
                                yield sub
                    continue
                yield from self.walk(child)

    def content_hash(self, sources: Iterable[str]) -> str:
        """sha256 over names, types, modes, uid/gid, contents and link targets (no mtimes)."""
        import hashlib

        h = hashlib.sha256()
        for src in sources:
            for rel in self.walk(src):
                path = self._path(rel)
                st = os.lstat(path)
                h.update(f"{rel}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode):o}\0"
                         f"{st.st_uid}:{st.st_gid}\0".encode("utf-8", "surrogateescape"))
                if stat.S_ISLNK(st.st_mode):
                    h.update(os.readlink(path).encode("utf-8", "surrogateescape"))
                elif stat.S_ISREG(st.st_mode):
                    with open(path, "rb") as f:
                        while chunk := f.read(1 << 20):
                            h.update(chunk)
                h.update(b"\0\0")
        return "sha256:" + h.hexdigest()

    def file_hashes(self, sources: Iterable[str]) -> dict[str, str]:
        """Per-path hash (for explaining which file changed a cache key)."""
        result: dict[str, str] = {}
        for src in sources:
            for rel in self.walk(src):
                result[rel] = self.content_hash_one(rel)
        return result

    def content_hash_one(self, rel: str) -> str:
        path = self._path(rel)
        st = os.lstat(path)
        h = sha256(f"{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode):o}\0"
                   f"{st.st_uid}:{st.st_gid}\0".encode(), st.st_size)
        if stat.S_ISLNK(st.st_mode):
            h.update(os.readlink(path).encode("utf-8", "surrogateescape"))
        elif stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        return h.hexdigest()


def _read_ignore(root: str) -> list[IgnoreRule]:
    try:
        with open(os.path.join(root, ".dockerignore"), encoding="utf-8") as f:
            return parse_dockerignore(f.read())
    except FileNotFoundError:
        return []
