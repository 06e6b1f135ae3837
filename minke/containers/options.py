"""Docker's ``run``/``create`` flag values, parsed and checked.

The CLI turns its flags into Docker's two JSON objects, ``Config`` (what runs: image, command,
environment, user ...) and ``HostConfig`` (how the host runs it: mounts, limits, security,
restart policy ...), exactly as the Docker client does before it calls the engine.  The
engine checks a ``HostConfig`` again with ``validate_host_config`` so that the API server,
which receives those objects directly, gets the same checks.

Every parse error is an ``InvalidArgument`` naming the flag and value, in Docker's words
where Docker has them.
"""

from __future__ import annotations

import os

from minke.errors import InvalidArgument

# Docker's minimum (daemon/daemon_unix.go: linuxMinMemory).
MIN_MEMORY = 6 * 1024 * 1024

# Compiled on first use (re caches it): importing re on the way to a `run` costs ~8 ms.
_SIZE_RE = r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$"
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _is_cpuset(value: str) -> bool:
    import re

    return re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", value) is not None


def ram_in_bytes(value: str) -> int:
    """Docker's RAMInBytes: ``512m``, ``1g``, ``1.5GiB``; binary multiples."""
    import re

    m = re.match(_SIZE_RE, value.strip())
    if not m:
        raise InvalidArgument(f"invalid size: '{value}'")
    try:
        number = float(m.group(1))
    except ValueError:
        raise InvalidArgument(f"invalid size: '{value}'") from None
    return int(number * _UNITS[(m.group(2) or "").lower()])


def flag_size(flag: str, value: str, *, allow_minus_one: bool = False) -> int:
    """A size flag such as ``--memory 1x``: Docker's 'invalid argument' message on error."""
    if allow_minus_one and value.strip() == "-1":
        return -1
    try:
        return ram_in_bytes(value)
    except InvalidArgument as e:
        raise InvalidArgument(f'invalid argument "{value}" for "{flag}" flag: {e}') from None


def parse_cpus(value: str) -> int:
    """``--cpus 1.5`` -> NanoCpus."""
    try:
        cpus = float(value)
    except ValueError:
        raise InvalidArgument(f'invalid argument "{value}" for "--cpus" flag: failed to parse {value} as a rational number') from None
    return int(round(cpus * 1e9))


def parse_env_list(items: list[str], environ: dict[str, str] | None = None) -> list[str]:
    """``-e K=V`` entries; a bare ``K`` takes the value from the caller's environment, as
    Docker's client does, and is dropped when unset there."""
    environ = os.environ if environ is None else environ
    out = []
    for item in items:
        if not item or item.startswith("="):
            raise InvalidArgument(f"invalid environment variable: {item}")
        if "=" in item:
            out.append(item)
        elif item in environ:
            out.append(f"{item}={environ[item]}")
    return out


def read_env_file(path: str, environ: dict[str, str] | None = None) -> list[str]:
    """``--env-file``: one ``K=V`` or ``K`` per line, ``#`` comments and blank lines skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise InvalidArgument(f"open {path}: {e.strerror.lower() if e.strerror else e}") from None
    items = []
    for line in lines:
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line and " " in line.strip():
            raise InvalidArgument(f"variable '{line.strip()}' contains whitespaces")
        items.append(line)
    return parse_env_list(items, environ)


def merge_env(base: list[str], override: list[str]) -> list[str]:
    """Docker's ReplaceOrAppendEnvValues: keys in ``override`` replace those in ``base``."""
    order: list[str] = []
    values: dict[str, str] = {}
    for item in list(base) + list(override):
        key = item.split("=", 1)[0]
        if key not in values:
            order.append(key)
        values[key] = item
    return [values[k] for k in order]


def parse_labels(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid label: {item!r}")
        out[key] = value
    return out


def parse_volume(spec: str) -> str:
    """``-v`` as the API carries it: the string itself, for HostConfig.Binds (the
    volumes package turns Binds into mounts at create).  Checked here so a bad one fails
    before anything is made: ``NAME:/path[:ro]``, ``/path`` (anonymous), ``/host:/path``."""
    from minke.volumes.mounts import parse_volume as check

    check(spec)
    return spec


def parse_mount(spec: str) -> dict:
    """``--mount type=bind|volume|tmpfs,src=,dst=,readonly,...`` -> a HostConfig.Mounts entry."""
    from minke.volumes.mounts import parse_mount as parse
    from minke.volumes.mounts import to_api

    return to_api(parse(spec))


def parse_tmpfs(spec: str) -> tuple[str, str]:
    """``--tmpfs /run:size=64m,mode=1777`` -> (path, options)."""
    path, _, opts = spec.partition(":")
    if not path.startswith("/"):
        raise InvalidArgument(f"invalid mount path: '{path}' mount path must be absolute")
    return path, opts


_ULIMIT_NAMES = {
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
    "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", "as",
}


def parse_ulimit(spec: str) -> dict:
    """``--ulimit nofile=1024:2048`` -> {"Name", "Soft", "Hard"}."""
    name, eq, values = spec.partition("=")
    if not eq:
        raise InvalidArgument(f"invalid ulimit argument: {spec}")
    if name not in _ULIMIT_NAMES:
        raise InvalidArgument(f"invalid ulimit type: {name}")
    soft_s, _, hard_s = values.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if hard_s else soft
    except ValueError:
        raise InvalidArgument(f"invalid ulimit argument: {spec}") from None
    if soft > hard and hard != -1:
        raise InvalidArgument(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    return {"Name": name, "Soft": soft, "Hard": hard}


def parse_restart(value: str) -> dict:
    """``no``, ``always``, ``unless-stopped``, ``on-failure[:N]`` -> Docker's RestartPolicy."""
    name, _, count = value.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure", ""):
        raise InvalidArgument(f"invalid restart policy: {value}")
    if count:
        if name != "on-failure":
            raise InvalidArgument(f"maximum retry count cannot be used with restart policy '{name}'")
        try:
            n = int(count)
        except ValueError:
            raise InvalidArgument(f"invalid restart policy: maximum retry count must be an integer: {count}") from None
        if n < 0:
            raise InvalidArgument(f"invalid restart policy: maximum retry count cannot be negative: {n}")
    else:
        n = 0
    return {"Name": name or "no", "MaximumRetryCount": n}


def parse_signal(value: str) -> int:
    """``TERM``, ``SIGTERM``, ``15`` -> 15."""
    import signal as _signal  # its enums: only when a signal is named

    v = value.strip().upper()
    if v.isdigit():
        n = int(v)
        if 0 < n < 65:
            return n
        raise InvalidArgument(f"invalid signal: {value}")
    if not v.startswith("SIG"):
        v = "SIG" + v
    sig = getattr(_signal.Signals, v, None) if v in _signal.Signals.__members__ else None
    if sig is None:
        import re

        rt = re.fullmatch(r"SIGRTMIN(\+\d+)?", v)
        if rt:
            return _signal.SIGRTMIN + int(rt.group(1) or 0)
        raise InvalidArgument(f"invalid signal: {value}")
    return int(sig)


def parse_log_opts(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise InvalidArgument(f"invalid key value pair format in logging opts: {item}")
        if key not in ("max-size", "max-file", "compress", "labels", "env", "tag", "mode"):
            raise InvalidArgument(f"unknown log opt '{key}' for json-file log driver")
        out[key] = value
    return out


def log_limits(log_config: dict) -> tuple[int, int]:
    """(max size in bytes, max files) for the json-file driver; 10 MB x 3 when not given
    (rotation on by default, as Podman does, where Docker's default is unbounded)."""
    opts = (log_config or {}).get("Config") or {}
    size = 10 * 1024 * 1024
    files = 3
    if opts.get("max-size"):
        if opts["max-size"] == "-1":
            size = 0
        else:
            size = ram_in_bytes(opts["max-size"])
            if size <= 0:
                raise InvalidArgument(f"invalid max-size: {opts['max-size']}")
    if opts.get("max-file"):
        try:
            files = int(opts["max-file"])
        except ValueError:
            raise InvalidArgument(f"invalid max-file: {opts['max-file']}") from None
        if files < 1:
            raise InvalidArgument("max-file cannot be less than 1")
    return size, files


def validate_host_config(hc: dict, *, ncpu: int | None = None) -> None:
    """The checks Docker's daemon makes on a HostConfig before it creates a container."""
    mem = int(hc.get("Memory") or 0)
    swap = int(hc.get("MemorySwap") or 0)
    if mem < 0:
        raise InvalidArgument("invalid memory limit: it cannot be negative")
    if 0 < mem < MIN_MEMORY:
        raise InvalidArgument("minimum memory limit allowed is 6MB")
    if swap > 0 and mem == 0:
        raise InvalidArgument("you should always set the memory limit when using memoryswap limit")
    if swap > 0 and swap < mem:
        raise InvalidArgument("minimum memoryswap limit should be larger than memory limit, see usage")
    nano = int(hc.get("NanoCpus") or 0)
    ncpu = ncpu or os.cpu_count() or 1
    if nano < 0 or nano > ncpu * 1_000_000_000:
        raise InvalidArgument(f"range of cpus is from 0.01 to {ncpu}.00, as there are only {ncpu} cpus available")
    if nano and (hc.get("CpuQuota") or hc.get("CpuPeriod")):
        raise InvalidArgument("conflicting options: nano cpus and cpu period/quota cannot both be set")
    if int(hc.get("CpuShares") or 0) < 0:
        raise InvalidArgument("invalid cpu shares: it cannot be negative")
    cpuset = hc.get("CpusetCpus") or ""
    if cpuset and not _is_cpuset(cpuset):
        raise InvalidArgument(f"invalid value {cpuset} for cpuset cpus")
    policy = hc.get("RestartPolicy") or {}
    if policy.get("Name") not in (None, "", "no", "always", "unless-stopped", "on-failure"):
        raise InvalidArgument(f"invalid restart policy '{policy.get('Name')}'")
    if policy.get("Name") in ("always", "unless-stopped") and policy.get("MaximumRetryCount"):
        raise InvalidArgument("invalid restart policy: maximum retry count can only be used with 'on-failure'")
    if hc.get("AutoRemove") and policy.get("Name") not in (None, "", "no"):
        raise InvalidArgument("conflicting options: cannot specify both --restart and --rm")
    log_limits(hc.get("LogConfig") or {})
    for m in hc.get("Mounts") or []:
        if m.get("Type") == "bind" and not m.get("CreateMountpoint") and not os.path.exists(m.get("Source", "")):
            raise InvalidArgument(f'invalid mount config for type "bind": bind source path does not exist: {m.get("Source")}')
