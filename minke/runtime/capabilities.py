"""Linux capabilities: names, validation, and applying an OCI ``process.capabilities``.

Lifecycle for the runtime's init, in this order (each step needs the one before)::

    validate_capabilities(caps)          # at create time: unknown names are config errors
    drop_bounding_set(caps, sys)         # needs CAP_SETPCAP, so before capset drops it
    ... setuid/setgid with PR_SET_KEEPCAPS (the process module's job) ...
    set_capabilities(caps, sys)          # capset(): effective, permitted, inheritable
    raise_ambient(caps, sys)             # needs each cap in permitted and inheritable

``apply_capabilities`` does the three steps at once for callers that do not change user.
The kernel is reached through ``CapSyscalls``; ``RecordingCapSyscalls`` is its fake.
"""

from __future__ import annotations

from _collections_abc import Iterable, Mapping  # collections.abc imports all of collections (~4 ms)

from minke.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs every runtime call ~5 ms of import; the Protocol is for mypy only
    from typing import Any, Protocol
else:
    Protocol = object

# Numbers from linux/capability.h; CAP_CHECKPOINT_RESTORE (5.9) is the last one today.
CAPABILITIES: dict[str, int] = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}
CAP_NAMES: dict[int, str] = {number: name for name, number in CAPABILITIES.items()}
LAST_CAP = max(CAP_NAMES)

# The capabilities a Docker container gets by default (moby's oci/caps/defaults.go).
DOCKER_DEFAULT_CAPS: frozenset[str] = frozenset(
    {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    }
)

CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")

# prctl(2) options and capset(2) version (linux/prctl.h, linux/capability.h).
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def cap_number(name: str) -> int:
    """The number of a capability name ("CAP_CHOWN" or "chown"); InvalidArgument if unknown."""
    if not isinstance(name, str):
        raise InvalidArgument(f"capability name must be a string, not {name!r}")
    key = name.upper()
    if not key.startswith("CAP_"):
        key = "CAP_" + key
    try:
        return CAPABILITIES[key]
    except KeyError:
        raise InvalidArgument(f"unknown capability {name!r}") from None


def cap_name(number: int) -> str:
    """The name of a capability number; InvalidArgument if unknown."""
    try:
        return CAP_NAMES[number]
    except KeyError:
        raise InvalidArgument(f"unknown capability number {number}") from None


def to_mask(names: Iterable[str]) -> int:
    """A 64-bit capability mask (as in /proc/PID/status CapEff) from names."""
    mask = 0
    for name in names:
        mask |= 1 << cap_number(name)
    return mask


def from_mask(mask: int) -> set[str]:
    """Names of the known capabilities set in a mask; unknown high bits are ignored."""
    return {name for number, name in CAP_NAMES.items() if mask >> number & 1}


def validate_capabilities(caps: Mapping[str, Any] | None) -> dict[str, frozenset[str]]:
    """Check an OCI ``process.capabilities`` object and return it normalised.

    Keys are the five set names; each value a list of capability names.  A missing set is
    empty (as in runc).  Unknown set or capability names raise InvalidArgument naming them.
    """
    if caps is None:
        return {key: frozenset() for key in CAP_SETS}
    if not isinstance(caps, Mapping):
        raise InvalidArgument("process.capabilities must be an object")
    out: dict[str, frozenset[str]] = {}
    for key in caps:
        if key not in CAP_SETS:
            raise InvalidArgument(f"unknown capability set {key!r}")
    for key in CAP_SETS:
        names = caps.get(key) or []
        if not isinstance(names, list | tuple | set | frozenset):
            raise InvalidArgument(f"process.capabilities.{key} must be a list")
        out[key] = frozenset(CAP_NAMES[cap_number(name)] for name in names)
    return out


class CapSyscalls(Protocol):
    """The kernel calls this module needs."""

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        ...

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        ...

    def capget(self) -> tuple[int, int, int]:
        """(effective, permitted, inheritable) of the calling thread as 64-bit masks."""
        ...

    def last_cap(self) -> int:
        """The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap)."""
        ...


class LibcCapSyscalls:
    """CapSyscalls on the real kernel, through minke.runtime.libc."""

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        from minke.runtime import libc

        return int(libc.prctl(option, arg2, arg3, arg4, arg5))

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        from minke.runtime import libc

        header = libc.CapUserHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (libc.CapUserData * 2)()
        for i in range(2):
            shift = 32 * i
            data[i].effective = effective >> shift & 0xFFFFFFFF
            data[i].permitted = permitted >> shift & 0xFFFFFFFF
            data[i].inheritable = inheritable >> shift & 0xFFFFFFFF
        libc.capset(header, data)

    def capget(self) -> tuple[int, int, int]:
        from minke.runtime import libc

        header = libc.CapUserHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (libc.CapUserData * 2)()
        libc.capget(header, data)
        return (
            data[0].effective | data[1].effective << 32,
            data[0].permitted | data[1].permitted << 32,
            data[0].inheritable | data[1].inheritable << 32,
        )

    def last_cap(self) -> int:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                return int(f.read())
        except OSError:
            return LAST_CAP


class RecordingCapSyscalls:
    """A fake CapSyscalls that records calls and keeps a tiny model of the cap sets."""

    def __init__(self, last_cap: int = LAST_CAP, fail_ambient: Iterable[int] = ()) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self._last_cap = last_cap
        self.bounding = (1 << (last_cap + 1)) - 1
        self.effective = self.permitted = self.bounding
        self.inheritable = 0
        self.ambient = 0
        self._fail_ambient = set(fail_ambient)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        self.calls.append(("prctl", option, arg2, arg3, arg4, arg5))
        if option == PR_CAPBSET_DROP:
            self.bounding &= ~(1 << arg2)
        elif option == PR_CAP_AMBIENT and arg2 == PR_CAP_AMBIENT_CLEAR_ALL:
            self.ambient = 0
        elif option == PR_CAP_AMBIENT and arg2 == PR_CAP_AMBIENT_RAISE:
            allowed = self.permitted & self.inheritable
            if arg3 in self._fail_ambient or not allowed >> arg3 & 1:
                raise OSError(1, f"prctl(PR_CAP_AMBIENT_RAISE, {arg3}): Operation not permitted")
            self.ambient |= 1 << arg3
        return 0

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        self.calls.append(("capset", effective, permitted, inheritable))
        self.effective, self.permitted, self.inheritable = effective, permitted, inheritable

    def capget(self) -> tuple[int, int, int]:
        return self.effective, self.permitted, self.inheritable

    def last_cap(self) -> int:
        return self._last_cap


def drop_bounding_set(caps: Mapping[str, Any] | None, sys: CapSyscalls | None = None) -> None:
    """Drop every capability not in ``caps["bounding"]`` from the bounding set.

    Goes up to the kernel's cap_last_cap, not ours, so a capability newer than this module
    is dropped too rather than left in the container's bounding set.
    """
    sys = sys or LibcCapSyscalls()
    wanted = to_mask(validate_capabilities(caps)["bounding"])
    for number in range(sys.last_cap() + 1):
        if not wanted >> number & 1:
            sys.prctl(PR_CAPBSET_DROP, number)


def set_capabilities(caps: Mapping[str, Any] | None, sys: CapSyscalls | None = None) -> None:
    """capset() the effective, permitted and inheritable sets."""
    sys = sys or LibcCapSyscalls()
    norm = validate_capabilities(caps)
    sys.capset(to_mask(norm["effective"]), to_mask(norm["permitted"]), to_mask(norm["inheritable"]))


def raise_ambient(caps: Mapping[str, Any] | None, sys: CapSyscalls | None = None) -> None:
    """Clear the ambient set, then raise each capability of ``caps["ambient"]``.

    The kernel refuses (EPERM) an ambient capability that is not both permitted and
    inheritable; like runc we log that and go on, since such a config is common and the
    capability could not be used anyway.
    """
    sys = sys or LibcCapSyscalls()
    norm = validate_capabilities(caps)
    sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    for name in sorted(norm["ambient"], key=cap_number):
        try:
            sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap_number(name))
        except OSError as e:
            import logging  # only on this rare path: keeps logging off the hot path

            logging.getLogger(__name__).warning("cannot raise ambient capability %s: %s", name, e.strerror or e)


def apply_capabilities(caps: Mapping[str, Any] | None, sys: CapSyscalls | None = None) -> None:
    """Bounding drop, capset, ambient: the whole OCI capabilities object, in kernel order."""
    sys = sys or LibcCapSyscalls()
    validate_capabilities(caps)
    drop_bounding_set(caps, sys)
    set_capabilities(caps, sys)
    raise_ambient(caps, sys)
