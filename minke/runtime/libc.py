"""Every ctypes declaration of minke, in one place.

Each foreign function gets argtypes, restype and an errcheck that turns a failing return
into ``OSError(errno, "<call>(<args>): <strerror>")``, so a failure names the call and its
arguments.  Nothing outside this module touches ctypes; the runtime calls these through
the ``Syscalls`` protocol in ``minke.runtime.syscalls`` so tests can record them.

Layout (keep it stable: two engineers edit this file with small edits):
constants, loader, the namespace/mount/process section, then at the END the
``# --- seccomp / capabilities ---`` section.
"""

from __future__ import annotations

import ctypes
import os

# --- constants (linux/sched.h, linux/mount.h, linux/prctl.h) -----------------------------

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_DETACH = 0x2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39

# pivot_root has no glibc wrapper: call it by number (asm/unistd_64.h, asm-generic/unistd.h).
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "ppc64le": 203, "s390x": 217, "riscv64": 41}

# --- loader ------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _errcheck(name: str):
    def check(result, func, args):
        if result == -1:
            err = ctypes.get_errno()
            shown = ", ".join(_show(a) for a in args)
            raise OSError(err, f"{name}({shown}): {os.strerror(err)}")
        return result

    return check


def _show(arg) -> str:
    if isinstance(arg, bytes):
        return repr(arg.decode(errors="replace"))
    if arg is None:
        return "NULL"
    return repr(arg)


def _declare(name: str, restype, *argtypes, symbol: str | None = None):
    fn = getattr(_libc, symbol or name)
    fn.argtypes = list(argtypes)
    fn.restype = restype
    fn.errcheck = _errcheck(name)
    return fn


_c = ctypes
_mount = _declare("mount", _c.c_int, _c.c_char_p, _c.c_char_p, _c.c_char_p, _c.c_ulong, _c.c_char_p)
_umount2 = _declare("umount2", _c.c_int, _c.c_char_p, _c.c_int)
_unshare = _declare("unshare", _c.c_int, _c.c_int)
_setns = _declare("setns", _c.c_int, _c.c_int, _c.c_int)
_sethostname = _declare("sethostname", _c.c_int, _c.c_char_p, _c.c_size_t)
_setdomainname = _declare("setdomainname", _c.c_int, _c.c_char_p, _c.c_size_t)
_prctl = _declare("prctl", _c.c_int, _c.c_int, _c.c_ulong, _c.c_ulong, _c.c_ulong, _c.c_ulong)


class Rlimit(ctypes.Structure):
    """struct rlimit (sys/resource.h)."""

    _fields_ = [("cur", _c.c_ulong), ("max", _c.c_ulong)]


_setrlimit = _declare("setrlimit", _c.c_int, _c.c_int, _c.POINTER(Rlimit))
_syscall_pivot = _declare("pivot_root", _c.c_long, _c.c_long, _c.c_char_p, _c.c_char_p, symbol="syscall")


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


# --- the namespace / mount / process section ---------------------------------------------


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    """mount(2)."""
    _mount(_b(source), _b(target), _b(fstype), flags, _b(data))


def umount2(target: str, flags: int = 0) -> None:
    """umount2(2)."""
    _umount2(_b(target), flags)


def unshare(flags: int) -> None:
    """unshare(2)."""
    _unshare(flags)


def setns(fd: int, nstype: int) -> None:
    """setns(2)."""
    _setns(fd, nstype)


def sethostname(name: str) -> None:
    """sethostname(2)."""
    raw = name.encode()
    _sethostname(raw, len(raw))


def setdomainname(name: str) -> None:
    """setdomainname(2)."""
    raw = name.encode()
    _setdomainname(raw, len(raw))


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2)."""
    return _prctl(option, arg2, arg3, arg4, arg5)


def setrlimit(resource: int, soft: int, hard: int) -> None:
    """setrlimit(2); values above 2**64-1 mean RLIM_INFINITY."""
    top = (1 << 64) - 1
    _setrlimit(resource, ctypes.byref(Rlimit(min(soft, top), min(hard, top))))


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2), which glibc does not wrap."""
    machine = os.uname().machine
    nr = _SYS_PIVOT_ROOT.get(machine)
    if nr is None:
        raise OSError(38, f"pivot_root: unknown syscall number on {machine}")
    _syscall_pivot(nr, _b(new_root), _b(put_old))


# --- seccomp / capabilities ---
# Used by minke.runtime.seccomp and minke.runtime.capabilities; prctl() is declared above.


class SockFilter(ctypes.Structure):
    """struct sock_filter (linux/filter.h): one classic BPF instruction, 8 bytes."""

    _fields_ = [("code", _c.c_uint16), ("jt", _c.c_uint8), ("jf", _c.c_uint8), ("k", _c.c_uint32)]


class SockFprog(ctypes.Structure):
    """struct sock_fprog: the program handed to seccomp(2) or prctl(PR_SET_SECCOMP)."""

    _fields_ = [("len", _c.c_ushort), ("filter", _c.POINTER(SockFilter))]


class CapUserHeader(ctypes.Structure):
    """struct __user_cap_header_struct (linux/capability.h)."""

    _fields_ = [("version", _c.c_uint32), ("pid", _c.c_int)]


class CapUserData(ctypes.Structure):
    """struct __user_cap_data_struct; version 3 takes an array of two (caps 0-31, 32-63)."""

    _fields_ = [("effective", _c.c_uint32), ("permitted", _c.c_uint32), ("inheritable", _c.c_uint32)]


_capget = _declare("capget", _c.c_int, _c.POINTER(CapUserHeader), _c.POINTER(CapUserData))
_capset = _declare("capset", _c.c_int, _c.POINTER(CapUserHeader), _c.POINTER(CapUserData))
# glibc has no seccomp() wrapper.  _libc["syscall"] is a fresh function object, so these
# argtypes do not clash with the pivot_root declaration of the same symbol above.
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}
_syscall_seccomp = _libc["syscall"]
_syscall_seccomp.argtypes = [_c.c_long, _c.c_uint, _c.c_uint, _c.POINTER(SockFprog)]
_syscall_seccomp.restype = _c.c_long
_syscall_seccomp.errcheck = _errcheck("seccomp")
_prctl_seccomp = _libc["prctl"]
_prctl_seccomp.argtypes = [_c.c_int, _c.c_ulong, _c.POINTER(SockFprog), _c.c_ulong, _c.c_ulong]
_prctl_seccomp.restype = _c.c_int
_prctl_seccomp.errcheck = _errcheck("prctl")


def capget(header: CapUserHeader, data) -> None:
    """capget(2); data is a (CapUserData * 2) array for version 3."""
    _capget(header, data)


def capset(header: CapUserHeader, data) -> None:
    """capset(2); data is a (CapUserData * 2) array for version 3."""
    _capset(header, data)


def seccomp_set_mode_filter(flags: int, prog: SockFprog) -> int:
    """seccomp(SECCOMP_SET_MODE_FILTER, flags, prog); returns a listener fd with NEW_LISTENER."""
    machine = os.uname().machine
    nr = _SYS_SECCOMP.get(machine)
    if nr is None:
        raise OSError(38, f"seccomp: unknown syscall number on {machine}")
    return _syscall_seccomp(nr, 1, flags, ctypes.byref(prog))


def prctl_set_seccomp_filter(prog: SockFprog) -> None:
    """prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog): the pre-3.17 way, no flags."""
    _prctl_seccomp(22, 2, ctypes.byref(prog), 0, 0)
