"""VolumeService: local volumes under ROOT/volumes/NAME/_data.

A volume is a row (name, labels, options, created) and a directory.  ``-o`` options are
Docker's local driver ones: ``type``, ``device`` and ``o`` make the volume a mount of
``device`` (``type=tmpfs,device=tmpfs,o=size=64m``) on ``_data``, done on first use and
undone by ``rm``; without them the volume is a plain directory.

``prepare(mounts, rootfs)`` is what ``start`` calls: it creates missing named volumes and
anonymous ones (random 64-hex names, label ``com.docker.volume.anonymous``), fills a volume
that is still empty from the image's content at the mount point (Docker's copy-up, unless
``nocopy``), and returns the OCI mounts.  A volume is in use while a container's
HostConfig.Mounts names it (the ``containers`` table, when that table exists); ``rm``
refuses such a volume unless forced, ``prune`` skips it.
"""

from __future__ import annotations

import os
import stat
import time

from minke import fastjson
from minke.errors import AlreadyExists, Conflict, InvalidArgument, MinkeError, NotFound
from minke.record import record
from minke.rmtree import rmtree
from minke.volumes.mounts import MountSpec, check_volume_name, oci_mount

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing for annotations only: its import costs a short command ~5 ms
    from typing import Any

ANON_LABEL = "com.docker.volume.anonymous"
_OPTS = ("type", "device", "o")
_COPIED = ".minke-copied"  # marker beside _data: the copy-up happened (or was skipped)


@record
class Volume:
    name: str
    driver: str
    labels: dict[str, str]
    options: dict[str, str]
    anonymous: bool
    created: float
    mountpoint: str


def _rfc3339_local(ts: float) -> str:
    """Docker's CreatedAt: RFC 3339 in local time with its offset, seconds precision."""
    lt = time.localtime(ts)
    off = lt.tm_gmtoff or 0
    sign = "+" if off >= 0 else "-"
    off = abs(off)
    tz = "Z" if lt.tm_gmtoff == 0 else f"{sign}{off // 3600:02d}:{off % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", lt) + tz


class VolumeService:
    def __init__(self, config: Any, db: Any) -> None:
        self.config = config
        self.db = db

    @property
    def volumes_dir(self) -> str:
        return os.path.join(self.config.root, "volumes")

    def _dir(self, name: str) -> str:
        return os.path.join(self.volumes_dir, name)

    def _from_row(self, r: Any) -> Volume:
        return Volume(r["name"], r["driver"], fastjson.loads(r["labels"]), fastjson.loads(r["options"]), bool(r["anonymous"]),
                      r["created"], os.path.join(self._dir(r["name"]), "_data"))

    # --- create / lookup ----------------------------------------------------------------------
    def create(self, name: str = "", *, driver: str = "local", labels: dict[str, str] | None = None,
               options: dict[str, str] | None = None, anonymous: bool = False, exist_ok: bool = True) -> Volume:
        """Docker's ``volume create``: creating an existing name returns it (when the
        options agree), as Docker does."""
        if driver != "local":
            raise InvalidArgument(f"unsupported volume driver {driver!r}: only local")
        opts = dict(options or {})
        for k in opts:
            if k not in _OPTS:
                raise InvalidArgument(f"invalid option key: {k!r}")
        if ("type" in opts) != ("device" in opts):
            raise InvalidArgument("missing required option: \"type\" and \"device\" go together")
        anon = not name
        name = name or os.urandom(32).hex()
        check_volume_name(name)
        labs = dict(labels or {})
        if anon or anonymous:
            labs.setdefault(ANON_LABEL, "")
        existing = self.db.query_one("SELECT * FROM volumes WHERE name = ?", (name,))
        if existing is not None:
            v = self._from_row(existing)
            if not exist_ok:
                raise AlreadyExists(f"volume {name} already exists")
            if opts and opts != v.options:
                raise Conflict(f"volume {name} already exists with different options")
            return v
        d = self._dir(name)
        os.makedirs(self.volumes_dir, mode=0o701, exist_ok=True)
        try:
            os.makedirs(os.path.join(d, "_data"), mode=0o755, exist_ok=True)
            self.db.execute(
                "INSERT INTO volumes (name, driver, labels, options, anonymous, created) VALUES (?, 'local', ?, ?, ?, ?)",
                (name, fastjson.dumps(labs), fastjson.dumps(opts), int(anon or anonymous), time.time()),
            )
        except BaseException as e:
            if "UNIQUE" in str(e):  # created by a concurrent command: theirs stands
                return self.get(name)
            rmtree(d, ignore_errors=True)
            raise
        self._event("create", name)
        return self.get(name)

    def get(self, name: str) -> Volume:
        r = self.db.query_one("SELECT * FROM volumes WHERE name = ?", (name,))
        if r is None:
            raise NotFound(f"get {name}: no such volume")
        return self._from_row(r)

    def list(self) -> list[Volume]:
        return [self._from_row(r) for r in self.db.query("SELECT * FROM volumes ORDER BY name")]

    def inspect(self, name: str) -> dict[str, Any]:
        v = self.get(name)
        return {
            "CreatedAt": _rfc3339_local(v.created),
            "Driver": v.driver,
            "Labels": v.labels or None,
            "Mountpoint": v.mountpoint,
            "Name": v.name,
            "Options": v.options or None,
            "Scope": "local",
        }

    # --- use ------------------------------------------------------------------------------------
    def size(self, name: str) -> int:
        """Bytes of the volume's files (``system df``, the space a prune reclaims)."""
        return _du(self._dir(name))

    def users(self, name: str) -> list[str]:
        """Ids of the containers whose HostConfig.Mounts name the volume."""
        try:
            rows = self.db.query("SELECT id, host_config FROM containers")
        except Exception as e:  # noqa: BLE001 - a store without the containers table
            if "no such table" in str(e):
                return []
            raise
        out = []
        for r in rows:
            for m in (fastjson.loads(r["host_config"]).get("Mounts") or []):
                if m.get("Type") == "volume" and m.get("Source") == name:
                    out.append(r["id"])
                    break
        return out

    def remove(self, name: str, force: bool = False) -> str:
        """Refuse a volume in use unless ``force``; ``force`` also ignores a missing one."""
        try:
            v = self.get(name)
        except NotFound:
            if force:
                return name
            raise
        users = self.users(name)
        if users and not force:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        self._unmount(v)
        with self.db.transaction():
            self.db.execute("DELETE FROM volumes WHERE name = ?", (name,))
        rmtree(self._dir(name), ignore_errors=True)
        self._event("destroy", name)
        return name

    def _event(self, action: str, name: str) -> None:
        from minke import events

        events.record(self.config.root, "volume", action, name, {"driver": "local"})

    def prune(self, all: bool = False, labels: list[str] | None = None) -> tuple[list[str], int]:
        """Unused volumes: anonymous ones only, as Docker 23+, unless ``all``."""
        removed: list[str] = []
        space = 0
        for v in self.list():
            if not all and not v.anonymous:
                continue
            if labels and not all_labels_match(v.labels, labels):
                continue
            if self.users(v.name):
                continue
            space += self.size(v.name)
            self.remove(v.name)
            removed.append(v.name)
        return removed, space

    # --- a container's mounts ---------------------------------------------------------------------
    def resolve(self, mounts: list[MountSpec]) -> list[MountSpec]:
        """Give anonymous volume mounts a name (creating the volume), create missing named
        ones; the result goes into HostConfig.Mounts so ``rm -v`` and in-use checks see it."""
        out = []
        for m in mounts:
            if m.type != "volume":
                out.append(m)
                continue
            v = self.create(m.source, labels=m.volume_labels, options=m.volume_options or None, anonymous=not m.source)
            out.append(MountSpec(**{**m.__dict__, "source": v.name}))
        return out

    def prepare(self, mounts: list[MountSpec], rootfs: str) -> list[dict[str, Any]]:
        """OCI mounts for the container; volumes created, mounted (``-o type/device``) and
        filled from ``rootfs`` (the container's mounted root) when empty."""
        out = []
        for m in self.resolve(mounts):
            if m.type == "bind":
                if m.create_source and not os.path.exists(m.source):
                    os.makedirs(m.source, mode=0o755, exist_ok=True)
                if not os.path.exists(m.source):
                    raise InvalidArgument(f'invalid mount config for type "bind": bind source path does not exist: {m.source}')
                out.append(oci_mount(m))
            elif m.type == "tmpfs":
                out.append(oci_mount(m))
            else:
                v = self.get(m.source)
                self._mount(v)
                if not m.nocopy:
                    self.copy_up(v, rootfs, m.target)
                out.append(oci_mount(m, v.mountpoint))
        return out

    def copy_up(self, v: Volume, rootfs: str, target: str) -> bool:
        """Docker's first-use copy: an empty volume gets the image's files at ``target``
        (ownership, modes, symlinks, times).  Done once per volume."""
        marker = os.path.join(self._dir(v.name), _COPIED)
        if os.path.exists(marker):
            return False
        try:
            empty = not os.listdir(v.mountpoint)
        except OSError as e:
            raise MinkeError(f"volume {v.name}: {e}") from None
        src = _inside(rootfs, target)
        copied = False
        if empty and src is not None and os.path.isdir(src) and not os.path.islink(src):
            copy_tree(src, v.mountpoint)
            st = os.lstat(src)
            os.chown(v.mountpoint, st.st_uid, st.st_gid)
            os.chmod(v.mountpoint, stat.S_IMODE(st.st_mode))
            copied = True
        with open(marker, "w"):
            pass
        return copied

    def _mount(self, v: Volume) -> None:
        if "type" not in v.options:
            return
        from minke.runtime import libc

        if os.path.ismount(v.mountpoint):
            return
        try:
            libc.mount(v.options["device"], v.mountpoint, v.options["type"], 0, v.options.get("o") or None)
        except OSError as e:
            raise MinkeError(f"error while mounting volume {v.name}: {e}") from None

    def _unmount(self, v: Volume) -> None:
        if os.path.ismount(v.mountpoint):
            from minke.runtime import libc

            libc.umount2(v.mountpoint, libc.MNT_DETACH)


def _inside(rootfs: str, path: str) -> str | None:
    """``path`` resolved inside ``rootfs`` (symlinks followed within it), or None."""
    cur = os.path.realpath(rootfs)
    for part in [p for p in path.split("/") if p]:
        nxt = os.path.join(cur, part)
        hops = 0
        while os.path.islink(nxt):
            hops += 1
            if hops > 40:
                return None
            link = os.readlink(nxt)
            nxt = os.path.normpath(os.path.join(os.path.realpath(rootfs) if link.startswith("/") else cur, link.lstrip("/")))
            if not (nxt + "/").startswith(os.path.realpath(rootfs) + "/") and nxt != os.path.realpath(rootfs):
                return None
        cur = nxt
    return cur


def copy_tree(src: str, dst: str) -> None:
    """Copy ``src``'s contents into the existing ``dst``: files, dirs, symlinks, device
    nodes and fifos, with owners, modes and times (not following symlinks)."""
    for name in os.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        st = os.lstat(s)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(d, stat.S_IMODE(st.st_mode))
            copy_tree(s, d)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(s), d)
        elif stat.S_ISREG(st.st_mode):
            import shutil  # here: its import (fnmatch, re, bz2, lzma) is ~12 ms of `volume ls`

            shutil.copyfile(s, d, follow_symlinks=False)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            os.mknod(d, st.st_mode, st.st_rdev)
        else:
            continue  # sockets are not copied
        os.lchown(d, st.st_uid, st.st_gid)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(d, stat.S_IMODE(st.st_mode))
        os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _du(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def all_labels_match(labels: dict[str, str], specs: list[str]) -> bool:
    for spec in specs:
        k, eq, v = spec.partition("=")
        if k not in labels or (eq and labels[k] != v):
            return False
    return True
