"""From an image and the user's options to what runs: Docker's ``Config`` and the OCI spec.

Two pure functions, in the order Docker applies them:

- ``make_config(image_config, ...)`` at create time: the container's ``Config`` (Docker's
  JSON), with the image's Env merged with ``-e``, ENTRYPOINT/CMD merged by Docker's rules
  (``--entrypoint`` resets the image's CMD), the image's User / WorkingDir / StopSignal
  unless overridden.
- ``build_spec(config, host_config, ...)`` at start time: the OCI runtime spec with Docker's
  defaults — default capabilities, masked and read-only paths, the default mounts, the
  container's /etc/hosts, /etc/hostname and /etc/resolv.conf bind-mounted from its dir,
  rlimits, namespaces, the cgroup path, resources, seccomp.  The user name is resolved in
  the image's /etc/passwd and /etc/group, whose text the caller reads from the mounted
  rootfs and passes in, so this module does no I/O.

Networking: the container gets a new network namespace with only loopback up (the runtime
brings ``lo`` up).  Bridges, veths and published ports belong to the network package.
"""

from __future__ import annotations

from minke.errors import InvalidArgument
from minke.record import factory, record

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing: for mypy only (a short command saves its import)
    from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Docker's oci/defaults.go, kept here too so the spec can be built when the runtime package
# is absent; the runtime's DOCKER_DEFAULT_CAPS wins when it exists (see default_caps()).
_DOCKER_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)

# Every capability Linux 6.x knows, in number order (linux/capability.h).
ALL_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)

MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# Docker's default device cgroup rules: deny all, allow mknod of any, and the usual nodes.
_DEVICE_RULES = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},  # null
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},  # random
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},  # full
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},  # tty
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},  # zero
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},  # urandom
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},  # console
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},  # pts
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},  # ptmx
]

INIT_PATH_IN_CONTAINER = "/sbin/docker-init"


def cpu_resources(hc: dict[str, Any]) -> dict[str, Any]:
    """linux.resources.cpu from HostConfig (a container's start and ``update`` alike):
    shares, --cpus as a quota over a 100 ms period, else --cpu-period / --cpu-quota
    (Docker refuses them together), the cpuset."""
    cpu: dict[str, Any] = {}
    if int(hc.get("CpuShares") or 0) > 0:
        cpu["shares"] = int(hc["CpuShares"])
    nano = int(hc.get("NanoCpus") or 0)
    if nano > 0:
        cpu["period"] = 100000
        cpu["quota"] = nano * 100000 // 1_000_000_000
    else:
        if int(hc.get("CpuPeriod") or 0) > 0:
            cpu["period"] = int(hc["CpuPeriod"])
        if int(hc.get("CpuQuota") or 0) != 0:
            cpu["quota"] = int(hc["CpuQuota"])
    if hc.get("CpusetCpus"):
        cpu["cpus"] = hc["CpusetCpus"]
    if hc.get("CpusetMems"):
        cpu["mems"] = hc["CpusetMems"]
    return cpu

def cgroups_path(cgroup_parent: str, container_id: str) -> str:
    """The container's linux.cgroupsPath: ``/PARENT/ID``."""
    return f"/{cgroup_parent.strip('/')}/{container_id}"


def bounding_caps(status_text: str) -> tuple[str, ...]:
    """The capabilities in the CapBnd line of a /proc/PID/status text."""
    for line in status_text.splitlines():
        if line.startswith("CapBnd:"):
            mask = int(line.split()[1], 16)
            return tuple(c for i, c in enumerate(ALL_CAPS) if mask >> i & 1)
    return ALL_CAPS


def default_caps() -> tuple[str, ...]:
    try:
        from minke.runtime.capabilities import DOCKER_DEFAULT_CAPS
    except ImportError:
        return _DOCKER_CAPS
    return tuple(c for c in ALL_CAPS if c in DOCKER_DEFAULT_CAPS)


# --- create time ---------------------------------------------------------------------------


def make_config(
    image_config: dict[str, Any] | None,
    *,
    image: str,
    cmd: list[str] | None = None,
    entrypoint: list[str] | None = None,
    env: list[str] | None = None,
    user: str | None = None,
    workdir: str | None = None,
    hostname: str | None = None,
    labels: dict[str, str] | None = None,
    tty: bool = False,
    open_stdin: bool = False,
    stop_signal: str | None = None,
    stop_timeout: int | None = None,
) -> dict[str, Any]:
    """The container's Docker ``Config``.

    ``cmd`` is what followed the image on the command line (empty: use the image's CMD);
    ``entrypoint`` is ``--entrypoint`` split (None: not given; ``[]``: ``--entrypoint ""``,
    no entrypoint).  Docker's rule: giving ``--entrypoint`` drops the image's CMD too.
    """
    ic = image_config or {}
    from minke.containers.options import merge_env

    if entrypoint is not None:
        ep = list(entrypoint)
        command = list(cmd or [])
    else:
        ep = list(ic.get("Entrypoint") or [])
        command = list(cmd) if cmd else list(ic.get("Cmd") or [])
    if not ep and not command:
        raise InvalidArgument("no command specified")
    if workdir is not None and workdir and not workdir.startswith("/"):
        raise InvalidArgument(f"the working directory '{workdir}' is invalid, it needs to be an absolute path")
    merged_labels = dict(ic.get("Labels") or {})
    merged_labels.update(labels or {})
    return {
        "Hostname": hostname or "",
        "Domainname": "",
        "User": user if user is not None else (ic.get("User") or ""),
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "ExposedPorts": ic.get("ExposedPorts") or None,
        "Tty": bool(tty),
        "OpenStdin": bool(open_stdin),
        "StdinOnce": False,
        "Env": merge_env(list(ic.get("Env") or []), list(env or [])),
        "Cmd": command or None,
        "Image": image,
        "Volumes": ic.get("Volumes") or None,
        "WorkingDir": workdir if workdir else (ic.get("WorkingDir") or ""),
        "Entrypoint": ep or None,
        "OnBuild": None,
        "Labels": merged_labels,
        "StopSignal": stop_signal or ic.get("StopSignal") or "SIGTERM",
        **({"StopTimeout": stop_timeout} if stop_timeout is not None else {}),
    }


def command_of(config: dict[str, Any]) -> list[str]:
    return list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])


# --- users -----------------------------------------------------------------------------------


@record
class User:
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()
    home: str = "/"


def _parse_db(text: str | None, nfields: int) -> list[list[str]]:
    rows = []
    for line in (text or "").splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) >= nfields:
            rows.append(parts)
    return rows


def resolve_user(spec: str, passwd: str | None, group: str | None) -> User:
    """Docker's user lookup: ``name``, ``uid``, ``name:group``, ``uid:gid``.

    Names must exist in the image's /etc/passwd (/etc/group); numbers need not.  The
    primary group comes from passwd unless given; supplementary groups are the groups
    listing the user by name.
    """
    spec = spec or ""
    user_part, _, group_part = spec.partition(":")
    users = _parse_db(passwd, 7)
    groups = _parse_db(group, 4)
    name = None
    home = "/"
    if not user_part:
        uid, gid = 0, 0
        match = next((u for u in users if u[2] == "0"), None)
    elif user_part.isdigit():
        uid = int(user_part)
        match = next((u for u in users if u[2] == user_part), None)
        gid = int(match[3]) if match and match[3].isdigit() else 0
    else:
        match = next((u for u in users if u[0] == user_part), None)
        if match is None:
            raise InvalidArgument(f"unable to find user {user_part}: no matching entries in passwd file")
        uid = int(match[2])
        gid = int(match[3])
    if match is not None:
        name = match[0]
        home = match[5] or "/"
        if not user_part:
            uid, gid = int(match[2]), int(match[3])
    if group_part:
        if group_part.isdigit():
            gid = int(group_part)
        else:
            g = next((g for g in groups if g[0] == group_part), None)
            if g is None:
                raise InvalidArgument(f"unable to find group {group_part}: no matching entries in group file")
            gid = int(g[2])
    extra: list[int] = []
    if name is not None:
        for g in groups:
            members = [m for m in g[3].split(",") if m]
            if name in members and g[2].isdigit() and int(g[2]) != gid and int(g[2]) not in extra:
                extra.append(int(g[2]))
    return User(uid=uid, gid=gid, additional_gids=tuple(extra), home=home)


# --- capabilities ---------------------------------------------------------------------------


def _cap_name(name: str) -> str:
    n = name.strip().upper()
    if n == "ALL":
        return n
    if not n.startswith("CAP_"):
        n = "CAP_" + n
    if n not in ALL_CAPS:
        raise InvalidArgument(f'unknown capability: "{n}"')
    return n


def capabilities(
    cap_add: list[str], cap_drop: list[str], privileged: bool, base: tuple[str, ...],
    all_caps: tuple[str, ...] = ALL_CAPS,
) -> list[str]:
    """Docker's TweakCapabilities: start from the default set (or all when privileged),
    drop ``--cap-drop`` (ALL empties), then add ``--cap-add`` (ALL adds every one).
    "All" means every capability the engine itself holds (``all_caps``): a runtime cannot
    grant one missing from its own bounding set."""
    if privileged:
        return list(all_caps)
    adds = [_cap_name(c) for c in cap_add or []]
    drops = [_cap_name(c) for c in cap_drop or []]
    caps = [] if "ALL" in drops else [c for c in base if c not in drops]
    if "ALL" in adds:
        return list(all_caps)
    for c in adds:
        if c not in caps:
            caps.append(c)
    return caps


# --- seccomp ------------------------------------------------------------------------------


def docker_seccomp_to_oci(profile: dict[str, Any], caps: list[str], arch: str = "x86_64") -> dict[str, Any]:
    """A Docker-format seccomp profile (``--security-opt seccomp=FILE``) to linux.seccomp.

    Docker's format adds ``names``, ``includes``/``excludes`` (by capability or arch) and
    ``archMap``; OCI's has one syscall rule list.  A profile already in OCI shape (no
    ``archMap``, rules with ``names`` but no includes) passes through the same code.
    """
    if not isinstance(profile, dict) or "defaultAction" not in profile:
        raise InvalidArgument("invalid seccomp profile: defaultAction is required")
    native = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}.get(arch, "SCMP_ARCH_X86_64")
    architectures = list(profile.get("architectures") or [])
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == native:
            architectures = [native] + list(entry.get("subArchitectures") or [])
    syscalls = []
    for rule in profile.get("syscalls") or []:
        inc = rule.get("includes") or {}
        exc = rule.get("excludes") or {}
        if inc.get("caps") and not all(c in caps for c in inc["caps"]):
            continue
        if inc.get("arches") and arch not in inc["arches"] and native not in inc["arches"]:
            continue
        if exc.get("caps") and any(c in caps for c in exc["caps"]):
            continue
        if exc.get("arches") and (arch in exc["arches"] or native in exc["arches"]):
            continue
        names = list(rule.get("names") or ([rule["name"]] if rule.get("name") else []))
        if not names:
            continue
        out: dict[str, Any] = {"names": names, "action": rule.get("action", "SCMP_ACT_ALLOW")}
        if rule.get("args"):
            out["args"] = rule["args"]
        if rule.get("errnoRet") is not None:
            out["errnoRet"] = rule["errnoRet"]
        syscalls.append(out)
    result: dict[str, Any] = {"defaultAction": profile["defaultAction"], "architectures": architectures, "syscalls": syscalls}
    if profile.get("defaultErrnoRet") is not None:
        result["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return result


# --- the spec ----------------------------------------------------------------------------------


@record
class SpecInputs:
    """What ``build_spec`` needs besides the Config and HostConfig; all plain data."""

    container_id: str
    rootfs: str
    container_dir: str  # holds hosts, hostname, resolv.conf
    passwd: str | None = None  # text of the image's /etc/passwd
    group: str | None = None  # text of the image's /etc/group
    cgroup_parent: str = "minke"
    default_caps: tuple[str, ...] = _DOCKER_CAPS
    all_caps: tuple[str, ...] = ALL_CAPS  # what "all" means: the engine's bounding set
    seccomp: dict[str, Any] | None = None  # the default linux.seccomp, built for the caps
    seccomp_file: dict[str, Any] | None = None  # parsed --security-opt seccomp=FILE
    init_path: str | None = None  # host path of the init binary for --init
    arch: str = "x86_64"
    nofile: tuple[int, int] = (1048576, 1048576)
    extra: dict[str, Any] = factory(dict)


def security_options(opts: list[str]) -> dict[str, Any]:
    """``--security-opt`` values -> {"no_new_privileges": bool, "seccomp": "default" |
    "unconfined" | path}."""
    out: dict[str, Any] = {"no_new_privileges": False, "seccomp": "default"}
    for opt in opts or []:
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")
        if key == "no-new-privileges":
            if value in ("", "true"):
                out["no_new_privileges"] = True
            elif value == "false":
                out["no_new_privileges"] = False
            else:
                raise InvalidArgument(f"invalid --security-opt 2: {opt!r}")
        elif key == "seccomp" and value:
            out["seccomp"] = value
        elif key in ("apparmor", "label"):
            continue  # neither AppArmor nor SELinux on this host: ignored as Docker does there
        else:
            raise InvalidArgument(f"invalid --security-opt: {opt!r}")
    return out


def _tmpfs_options(opts: str) -> list[str]:
    out = ["nosuid", "nodev", "noexec"]
    for o in filter(None, opts.split(",")):
        if o in ("exec", "suid", "dev"):
            out = [x for x in out if x != "no" + o]
        out.append(o)
    return out


def build_spec(config: dict[str, Any], host_config: dict[str, Any], inp: SpecInputs) -> dict[str, Any]:
    """The OCI runtime spec (config.json) for a container, with Docker's defaults."""
    hc = host_config
    privileged = bool(hc.get("Privileged"))
    args = command_of(config)
    if not args:
        raise InvalidArgument("no command specified")
    if hc.get("Init"):
        if not inp.init_path:
            raise InvalidArgument("--init needs the init program's host path")
        args = [INIT_PATH_IN_CONTAINER, "--"] + args

    hostname = config.get("Hostname") or inp.container_id[:12]
    user = resolve_user(config.get("User") or "", inp.passwd, inp.group)

    env = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    if config.get("Tty"):
        env.append("TERM=xterm")
    from minke.containers.options import merge_env

    env = merge_env(env, list(config.get("Env") or []))
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={user.home}")

    caps = capabilities(hc.get("CapAdd") or [], hc.get("CapDrop") or [], privileged, inp.default_caps, inp.all_caps)
    sec = security_options(hc.get("SecurityOpt") or [])

    rlimits = [{"type": "RLIMIT_NOFILE", "hard": inp.nofile[1], "soft": inp.nofile[0]}]
    for u in hc.get("Ulimits") or []:
        name = "RLIMIT_" + u["Name"].upper()
        rlimits = [r for r in rlimits if r["type"] != name]
        # -1 is "unlimited" in Docker's flag; RLIM_INFINITY in the spec's uint64.
        soft = (1 << 64) - 1 if int(u["Soft"]) < 0 else int(u["Soft"])
        hard = (1 << 64) - 1 if int(u["Hard"]) < 0 else int(u["Hard"])
        rlimits.append({"type": name, "hard": hard, "soft": soft})

    process: dict[str, Any] = {
        "terminal": bool(config.get("Tty")),
        "user": {"uid": user.uid, "gid": user.gid, **({"additionalGids": list(user.additional_gids)} if user.additional_gids else {})},
        "args": args,
        "env": env,
        "cwd": config.get("WorkingDir") or "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": rlimits,
        "noNewPrivileges": sec["no_new_privileges"],
        "oomScoreAdj": int(hc.get("OomScoreAdj") or 0),
    }

    mounts = _default_mounts(privileged, shm_size=int(hc.get("ShmSize") or 64 * 1024 * 1024))
    for name in ("resolv.conf", "hostname", "hosts"):
        mounts.append({
            "destination": f"/etc/{name}",
            "type": "bind",
            "source": f"{inp.container_dir}/{name}",
            "options": ["rbind", "rprivate"],
        })
    user_mounts = []
    for path, opts in sorted((hc.get("Tmpfs") or {}).items()):
        user_mounts.append({"destination": path, "type": "tmpfs", "source": "tmpfs", "options": _tmpfs_options(opts)})
    for m in hc.get("Mounts") or []:
        if m["Type"] == "bind":
            prop = (m.get("BindOptions") or {}).get("Propagation") or "rprivate"
            opts = ["rbind", prop, "ro" if m.get("ReadOnly") else "rw"]
            user_mounts.append({"destination": m["Target"], "type": "bind", "source": m["Source"], "options": opts})
        elif m["Type"] == "tmpfs":
            topts = ["nosuid", "nodev", "noexec"]
            t = m.get("TmpfsOptions") or {}
            if t.get("SizeBytes"):
                topts.append(f"size={t['SizeBytes']}")
            if t.get("Mode"):
                topts.append(f"mode={t['Mode']:o}")
            if m.get("ReadOnly"):
                topts.append("ro")
            user_mounts.append({"destination": m["Target"], "type": "tmpfs", "source": "tmpfs", "options": topts})
    if hc.get("Init"):
        user_mounts.append({"destination": INIT_PATH_IN_CONTAINER, "type": "bind", "source": inp.init_path, "options": ["rbind", "rprivate", "ro"]})
    # A user's mount replaces a default one at the same place (--tmpfs /dev/shm); parents
    # are mounted before children (Docker sorts by depth).
    taken = {m["destination"] for m in user_mounts}
    mounts = [m for m in mounts if m["destination"] not in taken]
    mounts += sorted(user_mounts, key=lambda m: m["destination"].rstrip("/").count("/"))

    resources: dict[str, Any] = {"devices": [{"allow": True, "access": "rwm"}] if privileged else [dict(d) for d in _DEVICE_RULES]}
    memory: dict[str, Any] = {}
    mem = int(hc.get("Memory") or 0)
    swap = int(hc.get("MemorySwap") or 0)
    if mem > 0:
        memory["limit"] = mem
        # Docker: MemorySwap 0 (unset) means twice the memory; -1 means unlimited swap.
        memory["swap"] = -1 if swap == -1 else (swap if swap > 0 else 2 * mem)
    if int(hc.get("MemoryReservation") or 0) > 0:
        memory["reservation"] = int(hc["MemoryReservation"])
    if memory:
        resources["memory"] = memory
    cpu = cpu_resources(hc)
    if cpu:
        resources["cpu"] = cpu
    pids = hc.get("PidsLimit")
    if pids is not None and int(pids) != 0:
        resources["pids"] = {"limit": int(pids) if int(pids) > 0 else -1}

    linux: dict[str, Any] = {
        "resources": resources,
        "cgroupsPath": cgroups_path(inp.cgroup_parent, inp.container_id),
        # --network host shares the host's network namespace; every other mode gets a new
        # one with loopback only here (bridges are the network package's to attach).
        "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")
                       if not (t == "network" and hc.get("NetworkMode") == "host")],
    }
    if not privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
        if sec["seccomp"] == "default":
            if inp.seccomp is not None:
                linux["seccomp"] = inp.seccomp
        elif sec["seccomp"] != "unconfined":
            if inp.seccomp_file is None:
                raise InvalidArgument(f"seccomp profile {sec['seccomp']} was not read")
            linux["seccomp"] = docker_seccomp_to_oci(inp.seccomp_file, caps, inp.arch)

    return {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": inp.rootfs, "readonly": bool(hc.get("ReadonlyRootfs"))},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux,
    }


def _default_mounts(privileged: bool, shm_size: int) -> list[dict[str, Any]]:
    sys_opts = ["nosuid", "noexec", "nodev"] + ([] if privileged else ["ro"])
    cg_opts = ["nosuid", "noexec", "nodev", "relatime"] + (["rw"] if privileged else ["ro"])
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": cg_opts},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"]},
    ]


def hosts_file(hostname: str) -> str:
    """/etc/hosts for a container with loopback only."""
    return (
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "ff00::0\tip6-mcastprefix\n"
        "ff02::1\tip6-allnodes\n"
        "ff02::2\tip6-allrouters\n"
        f"127.0.1.1\t{hostname}\n"
    )


def resolv_conf(host_text: str) -> str:
    """Docker's filter of the host's resolv.conf: drop localhost nameservers (they would
    point into the container's own loopback); fall back to Google's when none remain."""
    lines = []
    have_ns = False
    for line in host_text.splitlines():
        parts = line.split()
        if parts and parts[0] == "nameserver" and len(parts) > 1:
            if parts[1].startswith("127.") or parts[1] == "::1":
                continue
            have_ns = True
        lines.append(line)
    if not have_ns:
        lines += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    return "\n".join(lines) + "\n"
