"""Persistent network namespaces: a namespace kept alive by a bind mount of its nsfs file.

``create(path)`` starts a short-lived thread that ``unshare(CLONE_NEWNET)`` and
bind-mounts its own ``/proc/thread-self/ns/net`` on ``path`` (an empty file), then ends:
the mount holds the namespace, so a container (``linux.namespaces: [{"type": "network",
"path": path}]``), ``ip netns exec`` style tools (``nsenter --net=path``) and
``netlink.configure_in_netns`` join it by path.  A thread, because a network namespace
belongs to a thread (unshare(2) moves only the caller, and CLONE_NEWNET is allowed in a
multi-threaded process): the caller stays where it is, and it costs a thread start, not
a fork of the whole engine (~10 ms).
``delete(path)`` unmounts (lazily, in case a process still holds it open: the namespace
then lives until that process lets go) and removes the file.
"""

from __future__ import annotations

import os

from minke.errors import MinkeError


def create(path: str) -> str:
    from minke.runtime import libc

    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_CLOEXEC, 0o444)
    os.close(fd)
    box: dict[str, BaseException] = {}

    def run() -> None:
        try:
            libc.unshare(libc.CLONE_NEWNET)
            libc.mount("/proc/thread-self/ns/net", path, None, libc.MS_BIND, None)
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = e

    import threading

    t = threading.Thread(target=run, name="minke-netns-new", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        try:
            os.unlink(path)
        except OSError:
            pass
        raise MinkeError(f"cannot create network namespace {path}: {box['error']}")
    return path


def is_netns(path: str) -> bool:
    """True when ``path`` is a bind mount of an nsfs file (a kept network namespace)."""
    try:
        st = os.stat(path)
        parent = os.stat(os.path.dirname(path) or ".")
    except OSError:
        return False
    return st.st_dev != parent.st_dev


def delete(path: str) -> None:
    from minke.runtime import libc

    if is_netns(path):
        try:
            libc.umount2(path, libc.MNT_DETACH)
        except OSError as e:
            raise MinkeError(f"cannot unmount network namespace {path}: {e}") from None
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def same(path_a: str, path_b: str) -> bool:
    """Whether two namespace files name the same namespace."""
    a, b = os.stat(path_a), os.stat(path_b)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
