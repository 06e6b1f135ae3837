"""Where the runtime keeps a container between commands, and how its status is worked out.

Layout under the state root (default /run/minke-runtime, runc's is /run/runc)::

    <root>/<id>/state.json   what create recorded (pid, its start time, bundle, config ...)
    <root>/<id>/state.marshal the same, read by the hot commands without importing json
    <root>/<id>/exec.fifo    exists from create until start: the init blocks writing to it

Status is derived, never stored, as runc does: no live init (or a different process under
that pid, told apart by the start time in /proc/<pid>/stat) -> stopped; the exec fifo still
there -> created; marked paused -> paused; otherwise running.

This module is on the hot path of every command: it imports only ``posix`` (``os`` costs
~2 ms of each start and delete here, most of it ``_collections_abc``), marshal to read a
state, and json only where a state file is written or the marshal copy is missing (its
decoder pulls in re, which the monitor's exit path does without).  minke.errors is
imported where an error is raised.
"""

import posix

DEFAULT_ROOT = "/run/minke-runtime"
OCI_VERSION = "1.0.2"

CREATED, RUNNING, STOPPED, PAUSED = "created", "running", "stopped", "paused"

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def validate_id(container_id: str) -> None:
    """runc's rule: letters, digits and ``_+-.``, not ``.`` or ``..``."""
    if not container_id or container_id in (".", "..") or not set(container_id) <= _ID_CHARS:
        from minke.errors import InvalidArgument

        raise InvalidArgument(f"invalid container id {container_id!r}")


def _join(*parts: str) -> str:
    """os.path.join for our paths (no part after the first is absolute)."""
    out = parts[0]
    for p in parts[1:]:
        out = f"{out}{p}" if out.endswith("/") else f"{out}/{p}"
    return out


def _exists(path: str) -> bool:
    try:
        posix.stat(path)
    except (OSError, ValueError):
        return False
    return True


def container_dir(root: str, container_id: str) -> str:
    validate_id(container_id)
    return _join(root, container_id)


def reserve(root: str, container_id: str) -> str:
    """Make the container's directory; an existing one means the id is in use."""
    import os

    path = container_dir(root, container_id)
    os.makedirs(root, 0o711, exist_ok=True)
    try:
        os.mkdir(path, 0o711)
    except FileExistsError:
        from minke.errors import AlreadyExists

        raise AlreadyExists(f"container with id {container_id} already exists") from None
    return path


_RAISE = object()


def load(root: str, container_id: str, missing=_RAISE) -> dict:
    """The recorded state of a container; NotFound when there is none (or ``missing``,
    when given)."""
    d = container_dir(root, container_id)
    # state.marshal first: the same dict, read without json (json's decoder pulls in re
    # and enum, ~10 ms of every start and delete on a small VM); state.json is the
    # fallback for a state written before it existed, and what people read.
    try:
        with open(_join(d, "state.marshal"), "rb") as f:
            import marshal

            st = marshal.load(f)
        if isinstance(st, dict):
            return st
    except (FileNotFoundError, NotADirectoryError):
        pass
    except (EOFError, ValueError, TypeError):
        pass  # damaged or from another Python: state.json says the same
    from minke.errors import NotFound

    try:
        with open(_join(d, "state.json"), "rb") as f:
            import json

            return json.load(f)
    except (FileNotFoundError, NotADirectoryError):
        if missing is not _RAISE:
            return missing
        raise NotFound(f"container {container_id} does not exist") from None
    except ValueError:
        raise NotFound(f"container {container_id}: state file is damaged") from None


def save(root: str, st: dict) -> None:
    """Write state.marshal and state.json, each atomically (temp file, then rename).
    state.json goes last: its presence is what makes the container listed."""
    import marshal

    from minke import fastjson

    d = container_dir(root, st["id"])
    text = fastjson.dumps(st).encode()
    try:
        fast = marshal.dumps(st)
    except ValueError:  # a value json takes but marshal does not (a str subclass): the same data
        fast = marshal.dumps(fastjson.loads(text))
    for name, data in (("state.marshal", fast), ("state.json", text)):
        tmp = _join(d, f".{name}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        posix.rename(tmp, _join(d, name))


def list_ids(root: str) -> list[str]:
    try:
        names = posix.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if _exists(_join(root, n, "state.json")))


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat, or None if the process is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = data[data.rindex(b")") + 2 :].split()
    if rest[0] in (b"Z", b"X"):
        return None
    return int(rest[19])


def alive(st: dict) -> bool:
    pid = st.get("pid") or 0
    return pid > 0 and proc_start_time(pid) == st.get("start_time")


def status(root: str, st: dict) -> str:
    if not alive(st):
        return STOPPED
    if _exists(_join(root, st["id"], "exec.fifo")):
        return CREATED
    if st.get("paused"):
        return PAUSED
    return RUNNING


def _precondition(msg: str) -> Exception:
    from minke.errors import FailedPrecondition

    return FailedPrecondition(msg)


def start(root: str, st: dict) -> None:
    """The start of ``start``: let a created container's init go on to exec its process.

    The init blocks opening exec.fifo for writing; we open it for reading, take its byte
    and remove the fifo (which is what makes the status "running").  Poststart hooks are
    the caller's."""
    s = status(root, st)
    if s == STOPPED:
        raise _precondition("cannot start a container that has stopped")
    if s != CREATED:
        raise _precondition(f"cannot start an already {s} container")
    import select

    fifo = _join(root, st["id"], "exec.fifo")
    try:
        # Non-blocking so a dead init cannot hang us; the poll below waits for its byte.
        fd = posix.open(fifo, posix.O_RDONLY | posix.O_NONBLOCK | posix.O_CLOEXEC)
    except FileNotFoundError:
        raise _precondition(f"cannot start an already {status(root, st)} container") from None
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        while True:
            if p.poll(100):
                if posix.read(fd, 1):
                    break
                raise _precondition("cannot start a container that has stopped")
            if not alive(st):
                raise _precondition("cannot start a container that has stopped")
    finally:
        posix.close(fd)
    try:
        posix.unlink(fifo)
    except FileNotFoundError:
        pass


def oci_state(root: str, st: dict) -> dict:
    """The OCI state object (what ``state`` prints and hooks read on stdin)."""
    s = status(root, st)
    return {
        "ociVersion": OCI_VERSION,
        "id": st["id"],
        "status": s,
        "pid": 0 if s == STOPPED else st["pid"],
        "bundle": st["bundle"],
        "rootfs": st.get("rootfs", ""),
        "created": st.get("created", ""),
        "owner": "",
        "annotations": st.get("annotations") or {},
    }


def delete_stopped(root: str, st: dict, cgroup_root: str = "/sys/fs/cgroup") -> bool:
    """``delete``'s common case for a loaded state: the init is gone and the config has no
    poststop hooks, then ``remove_stopped``.  False: not done, the full delete's turn."""
    if alive(st) or (st.get("config", {}).get("hooks") or {}).get("poststop"):
        return False
    return remove_stopped(root, st["id"], st.get("cgroups_path") or "", cgroup_root)


def remove_stopped(root: str, container_id: str, cgroups_path: str | None = None,
                   cgroup_root: str = "/sys/fs/cgroup") -> bool:
    """``delete`` of a stopped container without the runtime's imports, for the monitor
    on the exit path of a foreground ``run``.  Only the easy case: the init is gone, the
    config has no poststop hooks and every cgroup directory can be removed (rmdir fails
    while a process is left).  False means "not done": the caller runs the full delete.
    A caller that reaped the init itself and wrote a config without hooks passes the
    ``cgroups_path`` it gave: the state file is then not even read."""
    if cgroups_path is None:
        st = load(root, container_id, missing=None)
        return True if st is None else delete_stopped(root, st, cgroup_root)
    if not rmdir_cgroup(cgroups_path, cgroup_root):
        return False
    d = _join(root, container_id)
    try:
        names = posix.listdir(d)
    except FileNotFoundError:
        return True
    for name in names:
        try:
            posix.unlink(_join(d, name))
        except IsADirectoryError:
            return False
        except FileNotFoundError:
            pass
    try:
        posix.rmdir(d)
    except FileNotFoundError:
        pass
    return True


def rmdir_cgroup(cgroups_path: str, cgroup_root: str = "/sys/fs/cgroup") -> bool:
    """rmdir a container's (leaf) cgroup in every hierarchy, v1 and v2 alike: the cheap
    removal, for a cgroup the runtime made and no process is left in.  False when one
    could not be removed (EBUSY: processes in it, or sub-cgroups); what could, is gone."""
    rel = cgroups_path.strip("/")
    if not rel:
        return True
    try:
        hierarchies = ["", *posix.listdir(cgroup_root)]
    except OSError:
        return True
    ok = True
    for h in hierarchies:
        try:
            posix.rmdir(_join(cgroup_root, h, rel) if h else _join(cgroup_root, rel))
        except (FileNotFoundError, NotADirectoryError):
            pass  # not in this hierarchy; or a file directly under /sys/fs/cgroup (v2)
        except OSError:
            ok = False
    return ok
