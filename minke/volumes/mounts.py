"""Mount flags of ``run``/``create``, parsed as Docker's client does, and their OCI form.

- ``-v NAME:/path[:ro]``  named volume;  ``-v /path``  anonymous volume;
  ``-v /host:/path[:ro,rw,z,Z,nocopy,(r)private,(r)shared,(r)slave]``  bind mount
- ``--mount type=volume|bind|tmpfs,source=|src=,target=|destination=|dst=,readonly|ro,
  volume-nocopy,volume-opt=K=V,volume-label=K=V,bind-propagation=,tmpfs-size=,tmpfs-mode=``
- ``--tmpfs /path[:size=64m,mode=1777,...]``

Everything is a ``MountSpec``; ``to_api``/``from_api`` convert to and from Docker's
HostConfig.Mounts entries (what the API server receives and what ``inspect`` shows), and
``oci_mount`` makes the spec's ``mounts`` entry once a volume's source directory is known.
"""

from __future__ import annotations

from minke.errors import InvalidArgument
from minke.record import factory, record

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing: for mypy only (a short command saves its import)
    from typing import Any

_PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
# Compiled on first use (re caches them): importing re on the way to a `run` costs ~8 ms.
_VOLUME_NAME = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$"
_SIZE = r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$"


@record
class MountSpec:
    type: str  # "volume", "bind", "tmpfs"
    target: str
    source: str = ""  # volume name ("" = anonymous) or host path
    readonly: bool = False
    propagation: str = ""  # bind: "" means rprivate
    nocopy: bool = False  # volume: do not fill a new volume from the image
    create_source: bool = False  # bind from -v: a missing host path is created (Docker)
    tmpfs_size: int = 0
    tmpfs_mode: int = 0
    tmpfs_options: tuple[str, ...] = ()  # --tmpfs extra options, as given
    volume_options: dict[str, str] = factory(dict)
    volume_labels: dict[str, str] = factory(dict)


def parse_size(value: str) -> int:
    import re

    m = re.match(_SIZE, value.strip(), re.IGNORECASE)
    if not m:
        raise InvalidArgument(f"invalid size: '{value}'")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}[m.group(2).lower()]
    return int(float(m.group(1)) * mult)


def check_volume_name(name: str) -> str:
    import re

    if not re.match(_VOLUME_NAME, name):
        raise InvalidArgument(f'"{name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path')
    return name


def _check_target(target: str, spec: str) -> str:
    if not target.startswith("/"):
        raise InvalidArgument(f"invalid mount config: invalid mount path: '{target}' mount path must be absolute")
    if target.rstrip("/") == "":
        raise InvalidArgument(f"invalid specification: destination can't be '/' in '{spec}'")
    return target


def parse_volume(spec: str) -> MountSpec:
    """One ``-v`` / ``--volume`` value."""
    if not spec:
        raise InvalidArgument("invalid empty volume spec")
    parts = spec.split(":")
    if len(parts) == 1:
        return MountSpec("volume", _check_target(parts[0], spec))
    if len(parts) > 3:
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    if not source:
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    _check_target(target, spec)
    readonly, propagation, nocopy = False, "", False
    for opt in filter(None, mode.split(",")):
        if opt in ("ro", "rw"):
            readonly = opt == "ro"
        elif opt in ("z", "Z"):
            continue  # SELinux relabelling: no SELinux on minke's hosts
        elif opt in _PROPAGATIONS:
            propagation = opt
        elif opt == "nocopy":
            nocopy = True
        else:
            raise InvalidArgument(f"invalid volume specification: '{spec}': invalid mode: {opt}")
    if source.startswith("/"):
        if nocopy:
            raise InvalidArgument(f"invalid volume specification: '{spec}': invalid mode: nocopy")
        return MountSpec("bind", target, source, readonly, propagation, create_source=True)
    if propagation:
        raise InvalidArgument(f"invalid volume specification: '{spec}': propagation applies to bind mounts only")
    return MountSpec("volume", target, check_volume_name(source), readonly, nocopy=nocopy)


def _kv(text: str, what: str) -> tuple[str, str]:
    k, eq, v = text.partition("=")
    if not eq or not k:
        raise InvalidArgument(f"invalid {what} '{text}': must be key=value")
    return k, v


def parse_mount(spec: str) -> MountSpec:
    """One ``--mount`` value (comma-separated key=value fields, CSV-quoted or not)."""
    import csv

    try:
        fields = next(csv.reader([spec]))
    except (csv.Error, StopIteration):
        raise InvalidArgument(f"invalid argument for --mount: {spec!r}") from None
    kind = "volume"
    source = target = ""
    readonly = nocopy = False
    propagation = ""
    size = mode = 0
    vopts: dict[str, str] = {}
    vlabels: dict[str, str] = {}
    for f in fields:
        key, eq, value = f.partition("=")
        key = key.strip().lower()
        if not eq:
            if key in ("readonly", "ro"):
                readonly = True
                continue
            if key == "volume-nocopy":
                nocopy = True
                continue
            raise InvalidArgument(f"invalid field '{f}' must be a key=value pair")
        if key == "type":
            if value not in ("volume", "bind", "tmpfs"):
                raise InvalidArgument(f"invalid mount type: {value!r}")
            kind = value
        elif key in ("source", "src"):
            source = value
        elif key in ("target", "destination", "dst"):
            target = value
        elif key in ("readonly", "ro"):
            if value.lower() not in ("1", "true", "0", "false"):
                raise InvalidArgument(f"invalid value for {key}: {value}")
            readonly = value.lower() in ("1", "true")
        elif key == "volume-nocopy":
            nocopy = value.lower() in ("1", "true", "")
        elif key == "volume-opt":
            k, v = _kv(value, "volume-opt")
            vopts[k] = v
        elif key == "volume-label":
            k, v = _kv(value, "volume-label")
            vlabels[k] = v
        elif key == "volume-driver":
            if value != "local":
                raise InvalidArgument(f"unsupported volume driver {value!r}: only local")
        elif key == "bind-propagation":
            if value not in _PROPAGATIONS:
                raise InvalidArgument(f"invalid bind-propagation: {value!r}")
            propagation = value
        elif key == "tmpfs-size":
            size = parse_size(value)
        elif key == "tmpfs-mode":
            try:
                mode = int(value, 8)
            except ValueError:
                raise InvalidArgument(f"invalid tmpfs-mode: {value!r}") from None
        else:
            raise InvalidArgument(f"unexpected key '{key}' in '{spec}'")
    if not target:
        raise InvalidArgument("invalid argument for --mount: target is required")
    _check_target(target, spec)
    if kind == "bind":
        if not source:
            raise InvalidArgument('invalid mount config for type "bind": field Source must not be empty')
        if not source.startswith("/"):
            raise InvalidArgument(f'invalid mount config for type "bind": invalid mount path: \'{source}\' mount path must be absolute')
        if nocopy or vopts or vlabels or size or mode:
            raise InvalidArgument('invalid mount config for type "bind": only bind options apply')
        return MountSpec("bind", target, source, readonly, propagation)
    if kind == "tmpfs":
        if source:
            raise InvalidArgument('invalid mount config for type "tmpfs": field Source must not be specified')
        if propagation or nocopy or vopts or vlabels:
            raise InvalidArgument('invalid mount config for type "tmpfs": only tmpfs options apply')
        return MountSpec("tmpfs", target, "", readonly, tmpfs_size=size, tmpfs_mode=mode)
    if propagation or size or mode:
        raise InvalidArgument('invalid mount config for type "volume": bind and tmpfs options do not apply')
    if source:
        check_volume_name(source)
    return MountSpec("volume", target, source, readonly, nocopy=nocopy, volume_options=vopts, volume_labels=vlabels)


def parse_tmpfs(spec: str) -> MountSpec:
    """One ``--tmpfs /path[:opts]``: size= and mode= understood, the rest passed on."""
    target, _, opts = spec.partition(":")
    _check_target(target, spec)
    size = mode = 0
    rest: list[str] = []
    for o in filter(None, opts.split(",")):
        k, eq, v = o.partition("=")
        if k == "size" and eq:
            size = parse_size(v)
        elif k == "mode" and eq:
            try:
                mode = int(v, 8)
            except ValueError:
                raise InvalidArgument(f"invalid tmpfs mode: {v!r}") from None
        elif k in ("ro", "rw"):
            rest.append(o)
        elif k in ("exec", "noexec", "suid", "nosuid", "dev", "nodev", "nr_inodes", "uid", "gid", "atime", "noatime", "relatime", "strictatime", "nr_blocks"):
            rest.append(o)
        else:
            raise InvalidArgument(f"invalid tmpfs option {o!r} in '{spec}'")
    return MountSpec("tmpfs", target, "", "ro" in rest, tmpfs_size=size, tmpfs_mode=mode, tmpfs_options=tuple(rest))


def check_unique_targets(mounts: list[MountSpec]) -> None:
    seen: set[str] = set()
    for m in mounts:
        t = m.target.rstrip("/") or "/"
        if t in seen:
            raise InvalidArgument(f"duplicate mount point: {m.target}")
        seen.add(t)


# --- Docker's HostConfig.Mounts ------------------------------------------------------------------


def to_api(m: MountSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"Type": m.type, "Source": m.source, "Target": m.target, "ReadOnly": m.readonly}
    if m.type == "bind":
        if m.propagation:
            out["BindOptions"] = {"Propagation": m.propagation}
        if m.create_source:
            out["CreateMountpoint"] = True
    elif m.type == "volume":
        vo: dict[str, Any] = {}
        if m.nocopy:
            vo["NoCopy"] = True
        if m.volume_labels:
            vo["Labels"] = dict(m.volume_labels)
        if m.volume_options:
            vo["DriverConfig"] = {"Name": "local", "Options": dict(m.volume_options)}
        if vo:
            out["VolumeOptions"] = vo
    else:
        to: dict[str, Any] = {}
        if m.tmpfs_size:
            to["SizeBytes"] = m.tmpfs_size
        if m.tmpfs_mode:
            to["Mode"] = m.tmpfs_mode
        if to:
            out["TmpfsOptions"] = to
    return out


def from_api(d: dict[str, Any]) -> MountSpec:
    kind = d.get("Type") or "volume"
    if kind not in ("volume", "bind", "tmpfs"):
        raise InvalidArgument(f"invalid mount type: {kind!r}")
    target = d.get("Target") or ""
    _check_target(target, target)
    vo = d.get("VolumeOptions") or {}
    to = d.get("TmpfsOptions") or {}
    return MountSpec(
        kind, target, d.get("Source") or "", bool(d.get("ReadOnly")),
        propagation=(d.get("BindOptions") or {}).get("Propagation") or "",
        nocopy=bool(vo.get("NoCopy")), create_source=bool(d.get("CreateMountpoint")),
        tmpfs_size=int(to.get("SizeBytes") or 0), tmpfs_mode=int(to.get("Mode") or 0),
        volume_options=dict((vo.get("DriverConfig") or {}).get("Options") or {}),
        volume_labels=dict(vo.get("Labels") or {}),
    )


# --- OCI -----------------------------------------------------------------------------------------


def oci_mount(m: MountSpec, source: str = "") -> dict[str, Any]:
    """The spec's ``mounts`` entry.  ``source`` is the directory a volume resolved to
    (``VolumeService.prepare``); binds and tmpfs need none."""
    if m.type == "tmpfs":
        opts = ["nosuid", "nodev", "noexec"]
        for o in m.tmpfs_options:
            if o in ("exec", "suid", "dev"):
                opts = [x for x in opts if x != "no" + o]
            if o not in ("ro", "rw"):
                opts.append(o)
        if m.tmpfs_size:
            opts.append(f"size={m.tmpfs_size}")
        if m.tmpfs_mode:
            opts.append(f"mode={m.tmpfs_mode:o}")
        if m.readonly:
            opts.append("ro")
        return {"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts}
    if m.type == "bind":
        src = m.source
    else:
        if not source:
            raise InvalidArgument(f"volume mount at {m.target} has no resolved source")
        src = source
    return {
        "destination": m.target,
        "type": "bind",
        "source": src,
        "options": ["rbind", m.propagation or "rprivate", "ro" if m.readonly else "rw"],
    }


# --- a container's whole set ------------------------------------------------------------------


def container_mounts(host_config: dict[str, Any], image_volumes: dict[str, Any] | None = None) -> list[MountSpec]:
    """Every mount of a container, in Docker's order of precedence: HostConfig.Binds
    (``-v`` strings, as the API sends them), HostConfig.Mounts (``--mount``),
    HostConfig.Tmpfs (``--tmpfs``), then an anonymous volume for each of the image's
    VOLUMEs that no user mount covers.  Two user mounts on one target are refused."""
    hc = host_config or {}
    user = [parse_volume(b) for b in hc.get("Binds") or []]
    user += [from_api(m) for m in hc.get("Mounts") or []]
    user += [parse_tmpfs(f"{path}:{opts}" if opts else path) for path, opts in sorted((hc.get("Tmpfs") or {}).items())]
    check_unique_targets(user)
    taken = {m.target.rstrip("/") for m in user}
    for path in sorted(image_volumes or {}):
        if path.rstrip("/") not in taken and path.startswith("/"):
            user.append(MountSpec("volume", path))
    return user


def anonymous_volumes(host_config: dict[str, Any], anonymous: set[str]) -> list[str]:
    """Names of the volumes in HostConfig.Mounts that are anonymous (for ``rm -v``)."""
    return [m["Source"] for m in (host_config or {}).get("Mounts") or []
            if m.get("Type") == "volume" and m.get("Source") in anonymous]
