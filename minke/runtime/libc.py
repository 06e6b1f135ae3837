"""Every ctypes declaration of minke, in one place.

Each foreign function gets argtypes, restype and an errcheck that turns a failing return
into ``OSError(errno, "<call>(<args>): <strerror>")``, so a failure names the call and its
arguments.  Nothing outside this module touches ctypes; the runtime calls these through
the ``Syscalls`` protocol in ``minke.runtime.syscalls`` so tests can record them.

Built on ``_ctypes``, the C half of ctypes, with the few C types we use declared here the
way ``ctypes/__init__.py`` declares them: that module defines ~40 types and checks their
sizes on import, ~5 ms here, on the critical path of every container's create (the
init's set-up child loads this module before anything else can happen).

Layout (keep it stable: two engineers edit this file with small edits):
constants, loader, the namespace/mount/process section, then at the END the
``# --- seccomp / capabilities ---`` section.
"""

from __future__ import annotations

import _ctypes
import os
from _ctypes import Structure, byref

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


class c_int(_ctypes._SimpleCData):
    _type_ = "i"


class c_long(_ctypes._SimpleCData):
    _type_ = "l"


class c_ulong(_ctypes._SimpleCData):
    _type_ = "L"


class c_uint32(_ctypes._SimpleCData):
    _type_ = "I"


class c_uint16(_ctypes._SimpleCData):
    _type_ = "H"


class c_uint8(_ctypes._SimpleCData):
    _type_ = "B"


class c_char_p(_ctypes._SimpleCData):
    _type_ = "z"


class c_void_p(_ctypes._SimpleCData):
    _type_ = "P"


c_size_t = c_ulong
c_ushort = c_uint16
POINTER = _ctypes.POINTER


class _Function(_ctypes.CFuncPtr):
    """A C function of libc, cdecl, errno saved after each call (ctypes.CDLL's with
    ``use_errno=True``)."""

    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = c_int


class _Libc:
    """The process's own symbols (dlopen(NULL)), which include libc's."""

    _handle = _ctypes.dlopen(None, _ctypes.RTLD_LOCAL)

    def __getitem__(self, name: str) -> _Function:
        """A new function object for the symbol: its argtypes are its own."""
        return _Function((name, self))

    __getattr__ = __getitem__


_libc = _Libc()


def _errcheck(name: str):
    def check(result, func, args):
        if result == -1:
            err = _ctypes.get_errno()
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


_mount = _declare("mount", c_int, c_char_p, c_char_p, c_char_p, c_ulong, c_char_p)
_umount2 = _declare("umount2", c_int, c_char_p, c_int)
_unshare = _declare("unshare", c_int, c_int)
_setns = _declare("setns", c_int, c_int, c_int)
_sethostname = _declare("sethostname", c_int, c_char_p, c_size_t)
_setdomainname = _declare("setdomainname", c_int, c_char_p, c_size_t)
_prctl = _declare("prctl", c_int, c_int, c_ulong, c_ulong, c_ulong, c_ulong)


class Rlimit(Structure):
    """struct rlimit (sys/resource.h)."""

    _fields_ = [("cur", c_ulong), ("max", c_ulong)]


_setrlimit = _declare("setrlimit", c_int, c_int, POINTER(Rlimit))
_syscall_pivot = _declare("pivot_root", c_long, c_long, c_char_p, c_char_p, symbol="syscall")


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
    _setrlimit(resource, byref(Rlimit(min(soft, top), min(hard, top))))


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2), which glibc does not wrap."""
    machine = os.uname().machine
    nr = _SYS_PIVOT_ROOT.get(machine)
    if nr is None:
        raise OSError(38, f"pivot_root: unknown syscall number on {machine}")
    _syscall_pivot(nr, _b(new_root), _b(put_old))


# --- seccomp / capabilities ---
# Used by minke.runtime.seccomp and minke.runtime.capabilities; prctl() is declared above.


class SockFilter(Structure):
    """struct sock_filter (linux/filter.h): one classic BPF instruction, 8 bytes."""

    _fields_ = [("code", c_uint16), ("jt", c_uint8), ("jf", c_uint8), ("k", c_uint32)]


# Kept here, not looked up again: importing the ctypes package later (a test does) clears
# _ctypes' cache of pointer types, and a second LP_SockFilter would not fit the field.
_SockFilterP = POINTER(SockFilter)


class SockFprog(Structure):
    """struct sock_fprog: the program handed to seccomp(2) or prctl(PR_SET_SECCOMP)."""

    _fields_ = [("len", c_ushort), ("filter", _SockFilterP)]


class CapUserHeader(Structure):
    """struct __user_cap_header_struct (linux/capability.h)."""

    _fields_ = [("version", c_uint32), ("pid", c_int)]


class CapUserData(Structure):
    """struct __user_cap_data_struct; version 3 takes an array of two (caps 0-31, 32-63)."""

    _fields_ = [("effective", c_uint32), ("permitted", c_uint32), ("inheritable", c_uint32)]


_capget = _declare("capget", c_int, POINTER(CapUserHeader), POINTER(CapUserData))
_capset = _declare("capset", c_int, POINTER(CapUserHeader), POINTER(CapUserData))
# glibc has no seccomp() wrapper.  _libc["syscall"] is a fresh function object, so these
# argtypes do not clash with the pivot_root declaration of the same symbol above.
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}
_syscall_seccomp = _libc["syscall"]
_syscall_seccomp.argtypes = [c_long, c_uint32, c_uint32, POINTER(SockFprog)]
_syscall_seccomp.restype = c_long
_syscall_seccomp.errcheck = _errcheck("seccomp")
_prctl_seccomp = _libc["prctl"]
_prctl_seccomp.argtypes = [c_int, c_ulong, POINTER(SockFprog), c_ulong, c_ulong]
_prctl_seccomp.restype = c_int
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
    return _syscall_seccomp(nr, 1, flags, byref(prog))


def sock_fprog(program: bytes) -> tuple:
    """(buffer, struct sock_fprog) for a BPF program of 8-byte instructions; the buffer
    must outlive the call the program is given to."""
    count = len(program) // 8
    buf = (SockFilter * count).from_buffer_copy(program)
    return buf, SockFprog(count, _SockFilterP(buf[0]))


def prctl_set_seccomp_filter(prog: SockFprog) -> None:
    """prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog): the pre-3.17 way, no flags."""
    _prctl_seccomp(22, 2, byref(prog), 0, 0)
