"""The runtime's side of seccomp: a compiled program from the cache, and loading it.

What ``create`` and the container's init need on every start, kept apart from the compiler
(``minke.runtime.seccomp``, which imports ``typing``, ``struct`` and the syscall tables:
~25 ms of imports, most of the set-up child's warm-up).  The compiler is imported only
when the cache misses.  ``minke.runtime.seccomp`` re-exports everything here.
"""

from __future__ import annotations

import errno as _errno
import os

from minke.errors import InvalidArgument, PermissionDenied, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    from minke.runtime.seccomp import SeccompSyscalls

SECCOMP_FILTER_FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
    "SECCOMP_FILTER_FLAG_NEW_LISTENER": 8,
    "SECCOMP_FILTER_FLAG_TSYNC_ESRCH": 16,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32,
}

BPF_MAXINSNS = 4096

# Host machine names (uname -m, Go/OCI names) -> the native OCI architecture.
NATIVE_ARCH = {
    "x86_64": "SCMP_ARCH_X86_64",
    "amd64": "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86_64": "SCMP_ARCH_X86_64",
    "aarch64": "SCMP_ARCH_AARCH64",
    "arm64": "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_AARCH64": "SCMP_ARCH_AARCH64",
}

# The compiler's modules: their size and mtime are part of the cache key.
_COMPILER = ("seccomp.py", "seccomp_tables.py")


def native_arch(arch: str | None = None) -> str:
    """The OCI name of the native architecture (host's by default)."""
    machine = arch or os.uname().machine
    try:
        return NATIVE_ARCH[machine]
    except KeyError:
        raise Unsupported(f"seccomp is not supported on architecture {machine}") from None


def filter_flags(names: Iterable[str] | None) -> int:
    """The seccomp(2) flag bits of OCI flag names."""
    bits = 0
    for name in names or ():
        if name not in SECCOMP_FILTER_FLAGS:
            raise InvalidArgument(f"unknown seccomp flag {name!r}")
        if name == "SECCOMP_FILTER_FLAG_NEW_LISTENER":
            raise Unsupported("seccomp flag SECCOMP_FILTER_FLAG_NEW_LISTENER is not supported")
        bits |= SECCOMP_FILTER_FLAGS[name]
    return bits


def compile_cached(linux_seccomp: Mapping[str, Any], cache_dir: str) -> bytes:
    """``compile_seccomp`` for the host's architecture through a cache of compiled
    programs in ``cache_dir`` (in the runtime's state root: root's own, on tmpfs), keyed
    by the profile as written, the architecture and the compiler's modules (their size
    and mtime: an upgraded compiler misses).  Every container of an engine carries the
    same default profile, whose compilation was ~8 ms of each create; a profile that does
    not compile is never cached."""
    from minke import fastjson
    from minke.sha256 import hexdigest

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        stamp = [(st.st_size, st.st_mtime_ns) for st in (os.stat(os.path.join(here, m)) for m in _COMPILER)]
    except OSError:
        stamp = None  # no source to stamp the key with: compile, never cache
    path = None
    if stamp is not None:
        key = hexdigest(fastjson.dumps([linux_seccomp, native_arch(), stamp]).encode())
        path = os.path.join(cache_dir, key)
        try:
            with open(path, "rb") as f:
                program = f.read()
            if program and len(program) % 8 == 0:  # whole struct sock_filter entries
                return program
        except (OSError, ValueError):
            pass
    from minke.runtime.seccomp import compile_seccomp

    program = compile_seccomp(linux_seccomp)
    if path is not None:
        try:
            os.makedirs(cache_dir, 0o700, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(program)
            os.replace(tmp, path)
            prune_cache(cache_dir)
        except OSError:
            pass  # uncached: the next create compiles it again
    return program


CACHE_ENTRIES = 64


def prune_cache(cache_dir: str) -> None:
    """Keep the ``CACHE_ENTRIES`` newest files of a seccomp cache (this one, and the engine's of
    default profiles): called after a miss wrote one, so a cache that each new profile
    or upgrade adds to stays bounded.  An entry pruned while in use is just missed:
    compiled and written again."""
    try:
        with os.scandir(cache_dir) as it:
            entries = [(e.stat(follow_symlinks=False).st_mtime_ns, e.path) for e in it if e.is_file(follow_symlinks=False)]
    except OSError:
        return
    if len(entries) <= CACHE_ENTRIES:
        return
    entries.sort()
    for _, path in entries[: len(entries) - CACHE_ENTRIES]:
        try:
            os.unlink(path)
        except OSError:
            pass  # gone already (another create pruned it)


class LibcSeccompSyscalls:
    """SeccompSyscalls on the real kernel, through minke.runtime.libc."""

    def seccomp_set_mode_filter(self, flags: int, program: bytes) -> int:
        from minke.runtime import libc

        buf, prog = libc.sock_fprog(program)  # buf must outlive the call
        return int(libc.seccomp_set_mode_filter(flags, prog))

    def prctl_set_seccomp_filter(self, program: bytes) -> None:
        from minke.runtime import libc

        buf, prog = libc.sock_fprog(program)
        libc.prctl_set_seccomp_filter(prog)


def load_seccomp(program: bytes, *, flags: Sequence[str] = (), sys: SeccompSyscalls | None = None) -> None:
    """Install a compiled filter on the calling thread (all threads with TSYNC).

    The caller must have set no_new_privs or hold CAP_SYS_ADMIN (seccomp(2)); otherwise
    PermissionDenied.  Falls back to prctl(PR_SET_SECCOMP) on kernels without seccomp(2)
    when no flags are asked for.
    """
    if not program or len(program) % 8:
        raise InvalidArgument("seccomp program must be a non-empty array of 8-byte instructions")
    if len(program) // 8 > BPF_MAXINSNS:
        raise InvalidArgument(f"seccomp program too large: {len(program) // 8} instructions")
    bits = filter_flags(flags)
    sys = sys or LibcSeccompSyscalls()
    try:
        try:
            sys.seccomp_set_mode_filter(bits, program)
        except OSError as e:
            if e.errno != _errno.ENOSYS or bits:
                raise
            sys.prctl_set_seccomp_filter(program)
    except OSError as e:
        if e.errno == _errno.EACCES:
            raise PermissionDenied("loading a seccomp filter needs no_new_privs or CAP_SYS_ADMIN") from None
        if e.errno == _errno.EINVAL:
            raise InvalidArgument(f"the kernel rejected the seccomp filter or its flags: {e.strerror}") from None
        raise
