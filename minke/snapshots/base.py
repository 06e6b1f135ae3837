"""What a snapshotter is: the data it hands out and the lifecycle it keeps.

Lifecycle (containerd's snapshots model)::

    prepare(key, parent)  -> active snapshot (writable), returns its Mounts
    view(key, parent)     -> view snapshot (read-only), returns its Mounts
    commit(name, key)     active -> committed under `name`; it can now be a parent
    remove(key)           any snapshot without children
    mounts(key), stat(key), walk(), usage(key)

Snapshotters never mount anything: they return ``Mount``s and the caller mounts them
(``minke.snapshots.mount``) or applies into them (``minke.snapshots.apply``).  Metadata
lives in the ``snapshots`` table of the store's Database; directories under the
snapshotter's root are named by the row's integer id, so a commit (a rename of the key)
never moves files.
"""

from __future__ import annotations

import os
import time

from minke import fastjson as json  # json's defaults, without re and enum
from minke.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from minke.record import factory, record
from minke.rmtree import rmtree as _rmtree  # not shutil's: its imports cost a `run --rm` ~8 ms

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing: for mypy only (its import costs a short command ~4 ms)
    from collections.abc import Iterator
    from typing import Any, Protocol
else:
    Protocol = object  # Snapshotter below documents the interface; nothing inherits it


@record
class Mount:
    type: str  # "overlay" or "bind"
    source: str
    options: tuple[str, ...] = ()

    def option(self, name: str) -> str | None:
        prefix = name + "="
        for o in self.options:
            if o.startswith(prefix):
                return o[len(prefix):]
        return None


@record
class Info:
    key: str
    parent: str | None
    kind: str  # "committed", "active" or "view"
    created: float
    labels: dict[str, str] = factory(dict)
    id: int = 0


class Snapshotter(Protocol):
    def prepare(self, key: str, parent: str | None = None, labels: dict[str, str] | None = None) -> list[Mount]: ...
    def view(self, key: str, parent: str | None = None, labels: dict[str, str] | None = None) -> list[Mount]: ...
    def mounts(self, key: str) -> list[Mount]: ...
    def commit(self, name: str, key: str, labels: dict[str, str] | None = None) -> None: ...
    def remove(self, key: str) -> None: ...
    def stat(self, key: str) -> Info: ...
    def walk(self) -> Iterator[Info]: ...
    def usage(self, key: str) -> int: ...


class MetaSnapshotter:
    """Shared metadata handling; subclasses say how directories and mounts look."""

    name = "base"

    def __init__(self, root: str, db: Any) -> None:
        self.root = os.path.join(root, self.name)
        self.db = db
        os.makedirs(self.root, mode=0o700, exist_ok=True)

    # --- subclass hooks --------------------------------------------------------------
    def _make_dirs(self, info: Info) -> None:
        raise NotImplementedError

    def _mounts(self, info: Info) -> list[Mount]:
        raise NotImplementedError

    # --- metadata --------------------------------------------------------------------
    def dir(self, sid: int) -> str:
        return os.path.join(self.root, str(sid))

    @staticmethod
    def _row_info(r: Any) -> Info:
        return Info(r["key"], r["parent"], r["kind"], r["created"], json.loads(r["labels"] or "{}"), r["id"])

    def stat(self, key: str) -> Info:
        r = self.db.query_one("SELECT * FROM snapshots WHERE key = ?", (key,))
        if r is None:
            raise NotFound(f"snapshot {key} not found")
        return self._row_info(r)

    def walk(self) -> Iterator[Info]:
        for r in self.db.query("SELECT * FROM snapshots ORDER BY id"):
            yield self._row_info(r)

    def chain(self, key: str) -> list[Info]:
        """The snapshot and its ancestors, nearest first."""
        out = []
        cur: str | None = key
        while cur is not None:
            info = self.stat(cur)
            out.append(info)
            cur = info.parent
        return out

    def _create(self, key: str, parent: str | None, kind: str, labels: dict[str, str] | None) -> Info:
        if not key:
            raise InvalidArgument("snapshot key must not be empty")
        with self.db.transaction():
            if self.db.query_one("SELECT 1 FROM snapshots WHERE key = ?", (key,)):
                raise AlreadyExists(f"snapshot {key} already exists")
            if parent is not None:
                p = self.db.query_one("SELECT kind FROM snapshots WHERE key = ?", (parent,))
                if p is None:
                    raise NotFound(f"parent snapshot {parent} not found")
                if p["kind"] != "committed":
                    raise FailedPrecondition(f"parent snapshot {parent} is {p['kind']}, not committed")
            row = self.db.query_one("SELECT COALESCE(MAX(id), 0) + 1 AS n FROM snapshots")
            sid = int(row["n"])
            # A directory left by a crash between mkdir and the row would collide: skip it.
            while os.path.lexists(self.dir(sid)):
                sid += 1
            info = Info(key, parent, kind, time.time(), dict(labels or {}), sid)
            self.db.execute(
                "INSERT INTO snapshots (key, id, parent, kind, created, labels) VALUES (?, ?, ?, ?, ?, ?)",
                (key, sid, parent, kind, info.created, json.dumps(info.labels)),
            )
            # Inside the transaction: if the directories cannot be made, the row goes too.
            try:
                self._make_dirs(info)
            except BaseException:
                _rmtree(self.dir(sid), ignore_errors=True)
                raise
        return info

    def prepare(self, key: str, parent: str | None = None, labels: dict[str, str] | None = None) -> list[Mount]:
        return self._mounts(self._create(key, parent, "active", labels))

    def view(self, key: str, parent: str | None = None, labels: dict[str, str] | None = None) -> list[Mount]:
        return self._mounts(self._create(key, parent, "view", labels))

    def mounts(self, key: str) -> list[Mount]:
        return self._mounts(self.stat(key))

    def commit(self, name: str, key: str, labels: dict[str, str] | None = None) -> None:
        with self.db.transaction():
            info = self.stat(key)
            if info.kind != "active":
                raise FailedPrecondition(f"snapshot {key} is {info.kind}: only an active snapshot can be committed")
            if self.db.query_one("SELECT 1 FROM snapshots WHERE key = ?", (name,)):
                raise AlreadyExists(f"snapshot {name} already exists")
            merged = {**info.labels, **(labels or {})}
            self.db.execute("UPDATE snapshots SET key = ?, kind = 'committed', labels = ? WHERE key = ?",
                            (name, json.dumps(merged), key))
            self._committed(info)

    def _committed(self, info: Info) -> None:
        """Hook: tidy an active snapshot's directories once it is committed."""

    def remove(self, key: str) -> None:
        with self.db.transaction():
            info = self.stat(key)
            child = self.db.query_one("SELECT key FROM snapshots WHERE parent = ? LIMIT 1", (key,))
            if child is not None:
                raise FailedPrecondition(f"cannot remove snapshot {key}: snapshot {child['key']} depends on it")
            self.db.execute("DELETE FROM snapshots WHERE key = ?", (key,))
            # Rename first so a crash mid-delete leaves a trash directory, not half a layer
            # that a new snapshot could be mistaken for.
            path = self.dir(info.id)
            trash = os.path.join(self.root, f"trash-{info.id}-{os.getpid()}-{os.urandom(4).hex()}")
            try:
                os.rename(path, trash)
            except FileNotFoundError:
                return
        _rmtree(trash, ignore_errors=True)

    def clean_trash(self, older_than: float = 3600.0) -> int:
        """Delete ``trash-*`` directories (removals or unpacks a crash interrupted) older
        than ``older_than`` seconds; young ones may belong to a running operation.
        Returns bytes freed."""
        freed = 0
        now = time.time()
        for name in os.listdir(self.root):
            if not name.startswith("trash-"):
                continue
            path = os.path.join(self.root, name)
            try:
                if now - os.lstat(path).st_mtime < older_than:
                    continue
            except FileNotFoundError:
                continue
            freed += _du(path)
            _rmtree(path, ignore_errors=True)
        return freed

    def usage(self, key: str) -> int:
        info = self.stat(key)
        return _du(self._data_dir(info))

    def _data_dir(self, info: Info) -> str:
        raise NotImplementedError


def _du(path: str) -> int:
    """Bytes of regular file content below path, each inode counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            total += st.st_size
    return total
