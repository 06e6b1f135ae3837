"""Read and validate an OCI runtime spec (config.json) into frozen dataclasses.

``load_spec(bundle)`` reads ``<bundle>/config.json``; ``parse_spec(dict)`` validates one
already read; ``parse_process(dict)`` validates an ``exec --process`` file.  Every problem
raises ``InvalidArgument`` with one lowercase line naming the field (``process.args: must
be a non-empty list of strings``).  The raw dict is kept on ``Spec.raw`` so the state file
can store exactly what was validated.

Only what Linux uses is modelled; Windows, Solaris and VM sections are ignored.
"""

from __future__ import annotations

import os

from minke import fastjson
from minke.errors import InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs every runtime call ~5 ms of import
    from typing import Any

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup")

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}  # fmt: skip

HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")
PROPAGATIONS = ("", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable")


# Value classes.  Not dataclasses: the decorator generates and compiles code for every
# class, which cost more than the rest of `create` put together; this base does the same
# job (keyword or positional construction, defaults, frozen, equality) at no import cost.
_MISSING = object()
_NEW_DICT = object()  # default: a fresh empty dict


class _Frozen:
    _fields: tuple[str, ...] = ()

    def __init_subclass__(cls) -> None:
        cls._fields = tuple(cls.__dict__.get("__annotations__", {}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(self._fields):
            raise TypeError(f"{type(self).__name__}: too many arguments")
        values = dict(zip(self._fields, args, strict=False))
        for k, v in kwargs.items():
            if k not in self._fields or k in values:
                raise TypeError(f"{type(self).__name__}: bad argument {k!r}")
            values[k] = v
        for name in self._fields:
            v = values.get(name, _MISSING)
            if v is _MISSING:
                v = getattr(type(self), name, _MISSING)
                if v is _MISSING:
                    raise TypeError(f"{type(self).__name__}: missing argument {name!r}")
                if v is _NEW_DICT:
                    v = {}
            object.__setattr__(self, name, v)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self._fields if f != "raw")

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields if f != "raw")
        return f"{type(self).__name__}({shown})"


class User(_Frozen):
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()


class Rlimit(_Frozen):
    type: str
    resource: int
    soft: int
    hard: int


class Process(_Frozen):
    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    user: User = User()
    terminal: bool = False
    console_size: tuple[int, int] | None = None  # (height, width)
    capabilities: dict[str, list[str]] | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    oom_score_adj: int | None = None
    apparmor_profile: str = ""
    selinux_label: str = ""


class Mount(_Frozen):
    destination: str
    type: str = ""
    source: str = ""
    options: tuple[str, ...] = ()


class Hook(_Frozen):
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


class Namespace(_Frozen):
    type: str
    path: str = ""


class IDMapping(_Frozen):
    container_id: int
    host_id: int
    size: int


class Device(_Frozen):
    type: str
    path: str
    major: int = 0
    minor: int = 0
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


class Linux(_Frozen):
    namespaces: tuple[Namespace, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()
    devices: tuple[Device, ...] = ()
    cgroups_path: str = ""
    resources: dict[str, Any] = _NEW_DICT
    rootfs_propagation: str = ""
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    sysctl: dict[str, str] = _NEW_DICT
    seccomp: dict[str, Any] | None = None
    mount_label: str = ""

    def namespace(self, type_: str) -> Namespace | None:
        for ns in self.namespaces:
            if ns.type == type_:
                return ns
        return None


class Spec(_Frozen):
    oci_version: str
    root_path: str
    root_readonly: bool = False
    process: Process | None = None
    hostname: str = ""
    domainname: str = ""
    mounts: tuple[Mount, ...] = ()
    hooks: dict[str, tuple[Hook, ...]] = _NEW_DICT
    annotations: dict[str, str] = _NEW_DICT
    linux: Linux = Linux()
    raw: dict[str, Any] = _NEW_DICT  # not compared


# --- reading -------------------------------------------------------------------------------


def load_spec(bundle: str) -> Spec:
    """Read and validate ``<bundle>/config.json``."""
    if not os.path.isdir(bundle):
        raise NotFound(f"bundle {bundle}: no such directory")
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            data = fastjson.load(f)
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except ValueError as e:
        raise InvalidArgument(f"{path}: invalid json: {e}") from None
    return parse_spec(data)


def parse_spec(data: Any) -> Spec:
    """Validate a decoded config.json."""
    if not isinstance(data, dict):
        raise InvalidArgument("config.json: must be a json object")
    oci_version = _str(data, "ociVersion", "ociVersion", required=True)
    root = _obj(data, "root", "root", required=True)
    root_path = _str(root, "path", "root.path", required=True)
    if not root_path:
        raise InvalidArgument("root.path: must not be empty")
    process = None
    if data.get("process") is not None:
        process = parse_process(_obj(data, "process", "process"), prefix="process")
    mounts = tuple(_mount(m, f"mounts[{i}]") for i, m in enumerate(_list(data, "mounts", "mounts")))
    hooks_obj = _obj(data, "hooks", "hooks")
    hooks: dict[str, tuple[Hook, ...]] = {}
    for name in hooks_obj:
        if name not in HOOK_NAMES:
            continue  # unknown hook kinds are ignored, as runc does
        hooks[name] = tuple(_hook(h, f"hooks.{name}[{i}]") for i, h in enumerate(_list(hooks_obj, name, f"hooks.{name}")))
    return Spec(
        oci_version=oci_version,
        root_path=root_path,
        root_readonly=_bool(root, "readonly", "root.readonly"),
        process=process,
        hostname=_str(data, "hostname", "hostname"),
        domainname=_str(data, "domainname", "domainname"),
        mounts=mounts,
        hooks=hooks,
        annotations=_str_map(data, "annotations", "annotations"),
        linux=_linux(_obj(data, "linux", "linux")),
        raw=data,
    )


def parse_process(p: Any, prefix: str = "process") -> Process:
    """Validate a process object (config.json's ``process`` or an exec process.json)."""
    if not isinstance(p, dict):
        raise InvalidArgument(f"{prefix}: must be a json object")
    args = _str_list(p, "args", f"{prefix}.args")
    if not args:
        raise InvalidArgument(f"{prefix}.args: must be a non-empty list of strings")
    cwd = _str(p, "cwd", f"{prefix}.cwd") or "/"
    if not cwd.startswith("/"):
        raise InvalidArgument(f"{prefix}.cwd: must be an absolute path")
    u = _obj(p, "user", f"{prefix}.user")
    umask = u.get("umask")
    if umask is not None and not _is_int(umask):
        raise InvalidArgument(f"{prefix}.user.umask: must be an integer")
    user = User(
        uid=_int(u, "uid", f"{prefix}.user.uid", minimum=0),
        gid=_int(u, "gid", f"{prefix}.user.gid", minimum=0),
        umask=umask,
        additional_gids=tuple(_int_list(u, "additionalGids", f"{prefix}.user.additionalGids")),
    )
    caps = None
    if p.get("capabilities") is not None:
        c = _obj(p, "capabilities", f"{prefix}.capabilities")
        caps = {}
        for name in CAP_SETS:
            if name in c:
                caps[name] = list(_str_list(c, name, f"{prefix}.capabilities.{name}"))
        _validate_caps(caps, f"{prefix}.capabilities")
    rlimits = []
    seen: set[str] = set()
    for i, r in enumerate(_list(p, "rlimits", f"{prefix}.rlimits")):
        where = f"{prefix}.rlimits[{i}]"
        if not isinstance(r, dict):
            raise InvalidArgument(f"{where}: must be a json object")
        typ = _str(r, "type", f"{where}.type", required=True)
        if typ not in RLIMITS:
            raise InvalidArgument(f"{where}.type: unknown rlimit {typ!r}")
        if typ in seen:
            raise InvalidArgument(f"{where}.type: duplicate rlimit {typ}")
        seen.add(typ)
        soft = _int(r, "soft", f"{where}.soft", minimum=0, required=True)
        hard = _int(r, "hard", f"{where}.hard", minimum=0, required=True)
        rlimits.append(Rlimit(typ, RLIMITS[typ], soft, hard))
    size = None
    if p.get("consoleSize") is not None:
        cs = _obj(p, "consoleSize", f"{prefix}.consoleSize")
        size = (_int(cs, "height", f"{prefix}.consoleSize.height", minimum=0), _int(cs, "width", f"{prefix}.consoleSize.width", minimum=0))
    oom = p.get("oomScoreAdj")
    if oom is not None and (not _is_int(oom) or not -1000 <= oom <= 1000):
        raise InvalidArgument(f"{prefix}.oomScoreAdj: must be an integer from -1000 to 1000")
    env = _str_list(p, "env", f"{prefix}.env")
    for i, e in enumerate(env):
        if "=" not in e:
            raise InvalidArgument(f"{prefix}.env[{i}]: {e!r} is not of the form NAME=value")
    return Process(
        args=tuple(args),
        env=tuple(env),
        cwd=cwd,
        user=user,
        terminal=_bool(p, "terminal", f"{prefix}.terminal"),
        console_size=size,
        capabilities=caps,
        rlimits=tuple(rlimits),
        no_new_privileges=_bool(p, "noNewPrivileges", f"{prefix}.noNewPrivileges"),
        oom_score_adj=oom,
        apparmor_profile=_str(p, "apparmorProfile", f"{prefix}.apparmorProfile"),
        selinux_label=_str(p, "selinuxLabel", f"{prefix}.selinuxLabel"),
    )


def _validate_caps(caps: dict[str, list[str]], where: str) -> None:
    # The capabilities module owns the list of names; it is written in parallel, so fall
    # back to the CAP_ prefix rule only while it is absent.
    try:
        from minke.runtime.capabilities import validate_capabilities
    except ImportError:
        for name, values in caps.items():
            for v in values:
                if not v.startswith("CAP_"):
                    raise InvalidArgument(f"{where}.{name}: unknown capability {v!r}") from None
        return
    try:
        validate_capabilities(caps)
    except InvalidArgument as e:
        raise InvalidArgument(f"{where}: {e}") from None


def _mount(m: Any, where: str) -> Mount:
    if not isinstance(m, dict):
        raise InvalidArgument(f"{where}: must be a json object")
    dest = _str(m, "destination", f"{where}.destination", required=True)
    if not dest.startswith("/"):
        raise InvalidArgument(f"{where}.destination: {dest!r} must be an absolute path")
    return Mount(
        destination=dest,
        type=_str(m, "type", f"{where}.type"),
        source=_str(m, "source", f"{where}.source"),
        options=tuple(_str_list(m, "options", f"{where}.options")),
    )


def _hook(h: Any, where: str) -> Hook:
    if not isinstance(h, dict):
        raise InvalidArgument(f"{where}: must be a json object")
    path = _str(h, "path", f"{where}.path", required=True)
    if not path.startswith("/"):
        raise InvalidArgument(f"{where}.path: {path!r} must be an absolute path")
    timeout = h.get("timeout")
    if timeout is not None and (not _is_int(timeout) or timeout <= 0):
        raise InvalidArgument(f"{where}.timeout: must be a positive integer")
    return Hook(path, tuple(_str_list(h, "args", f"{where}.args")), tuple(_str_list(h, "env", f"{where}.env")), timeout)


def _linux(lx: dict[str, Any]) -> Linux:
    namespaces = []
    seen: set[str] = set()
    for i, ns in enumerate(_list(lx, "namespaces", "linux.namespaces")):
        where = f"linux.namespaces[{i}]"
        if not isinstance(ns, dict):
            raise InvalidArgument(f"{where}: must be a json object")
        typ = _str(ns, "type", f"{where}.type", required=True)
        if typ not in NAMESPACE_TYPES:
            raise InvalidArgument(f"{where}.type: unknown namespace type {typ!r}")
        if typ in seen:
            raise InvalidArgument(f"{where}.type: duplicate namespace {typ}")
        seen.add(typ)
        path = _str(ns, "path", f"{where}.path")
        if path and not path.startswith("/"):
            raise InvalidArgument(f"{where}.path: {path!r} must be an absolute path")
        namespaces.append(Namespace(typ, path))
    uid_maps = _id_maps(lx, "uidMappings")
    gid_maps = _id_maps(lx, "gidMappings")
    if (uid_maps or gid_maps) and "user" not in seen:
        raise InvalidArgument("linux.uidMappings: user mappings need a user namespace")
    devices = []
    for i, d in enumerate(_list(lx, "devices", "linux.devices")):
        where = f"linux.devices[{i}]"
        if not isinstance(d, dict):
            raise InvalidArgument(f"{where}: must be a json object")
        typ = _str(d, "type", f"{where}.type", required=True)
        if typ not in ("c", "b", "u", "p"):
            raise InvalidArgument(f"{where}.type: unknown device type {typ!r}")
        path = _str(d, "path", f"{where}.path", required=True)
        if not path.startswith("/"):
            raise InvalidArgument(f"{where}.path: {path!r} must be an absolute path")
        need = typ != "p"
        devices.append(
            Device(
                type=typ,
                path=path,
                major=_int(d, "major", f"{where}.major", required=need),
                minor=_int(d, "minor", f"{where}.minor", required=need),
                file_mode=_opt_int(d, "fileMode", f"{where}.fileMode"),
                uid=_opt_int(d, "uid", f"{where}.uid"),
                gid=_opt_int(d, "gid", f"{where}.gid"),
            )
        )
    prop = _str(lx, "rootfsPropagation", "linux.rootfsPropagation")
    if prop not in PROPAGATIONS:
        raise InvalidArgument(f"linux.rootfsPropagation: unknown propagation {prop!r}")
    seccomp = None
    if lx.get("seccomp") is not None:
        seccomp = _obj(lx, "seccomp", "linux.seccomp")
    return Linux(
        namespaces=tuple(namespaces),
        uid_mappings=uid_maps,
        gid_mappings=gid_maps,
        devices=tuple(devices),
        cgroups_path=_str(lx, "cgroupsPath", "linux.cgroupsPath"),
        resources=_obj(lx, "resources", "linux.resources"),
        rootfs_propagation=prop,
        masked_paths=tuple(_str_list(lx, "maskedPaths", "linux.maskedPaths")),
        readonly_paths=tuple(_str_list(lx, "readonlyPaths", "linux.readonlyPaths")),
        sysctl=_str_map(lx, "sysctl", "linux.sysctl"),
        seccomp=seccomp,
        mount_label=_str(lx, "mountLabel", "linux.mountLabel"),
    )


def _id_maps(lx: dict[str, Any], key: str) -> tuple[IDMapping, ...]:
    out = []
    for i, m in enumerate(_list(lx, key, f"linux.{key}")):
        where = f"linux.{key}[{i}]"
        if not isinstance(m, dict):
            raise InvalidArgument(f"{where}: must be a json object")
        out.append(
            IDMapping(
                _int(m, "containerID", f"{where}.containerID", minimum=0, required=True),
                _int(m, "hostID", f"{where}.hostID", minimum=0, required=True),
                _int(m, "size", f"{where}.size", minimum=1, required=True),
            )
        )
    return tuple(out)


# --- typed getters: each names the field on failure ----------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _missing(where: str) -> InvalidArgument:
    return InvalidArgument(f"{where}: missing required field")


def _str(d: dict, key: str, where: str, required: bool = False) -> str:
    v = d.get(key)
    if v is None:
        if required:
            raise _missing(where)
        return ""
    if not isinstance(v, str):
        raise InvalidArgument(f"{where}: must be a string")
    return v


def _bool(d: dict, key: str, where: str) -> bool:
    v = d.get(key)
    if v is None:
        return False
    if not isinstance(v, bool):
        raise InvalidArgument(f"{where}: must be a boolean")
    return v


def _int(d: dict, key: str, where: str, minimum: int | None = None, required: bool = False) -> int:
    v = d.get(key)
    if v is None:
        if required:
            raise _missing(where)
        return 0
    if not _is_int(v):
        raise InvalidArgument(f"{where}: must be an integer")
    if minimum is not None and v < minimum:
        raise InvalidArgument(f"{where}: must be at least {minimum}")
    return v


def _opt_int(d: dict, key: str, where: str) -> int | None:
    return None if d.get(key) is None else _int(d, key, where)


def _obj(d: dict, key: str, where: str, required: bool = False) -> dict:
    v = d.get(key)
    if v is None:
        if required:
            raise _missing(where)
        return {}
    if not isinstance(v, dict):
        raise InvalidArgument(f"{where}: must be a json object")
    return v


def _list(d: dict, key: str, where: str) -> list:
    v = d.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise InvalidArgument(f"{where}: must be a list")
    return v


def _str_list(d: dict, key: str, where: str) -> list[str]:
    v = _list(d, key, where)
    for x in v:
        if not isinstance(x, str):
            raise InvalidArgument(f"{where}: must be a list of strings")
    return v


def _int_list(d: dict, key: str, where: str) -> list[int]:
    v = _list(d, key, where)
    for x in v:
        if not _is_int(x) or x < 0:
            raise InvalidArgument(f"{where}: must be a list of non-negative integers")
    return v


def _str_map(d: dict, key: str, where: str) -> dict[str, str]:
    v = _obj(d, key, where)
    for k, x in v.items():
        if not isinstance(x, str):
            raise InvalidArgument(f"{where}.{k}: must be a string")
    return v
