"""minke's default seccomp profile: the same effect as Docker's default profile.

An allowlist: anything not named here fails with EPERM.  Syscalls that need a
capability to be useful (mount, reboot, ptrace, ...) are allowed only when the container
is granted that capability, as Docker does.  Names an architecture lacks are skipped by the
compiler, so the arch-specific names below cost nothing elsewhere.

Not copied from moby: written from what its profile allows (profiles/seccomp/default.json).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from typing import Any

# Always allowed, whatever the capabilities.
_ALWAYS = """
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown
chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect
copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod
fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr
flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate
ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat
getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32
getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid
getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list
getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32
getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl
io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup
io_submit io_uring_enter io_uring_register io_uring_setup ipc kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen
listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat
mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv
msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open
openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free
pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64
process_mrelease process_vm_readv process_vm_writev pselect6 pselect6_time64 ptrace pwrite64
pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2
restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
sched_getaffinity sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min
sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity
sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget
semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid
setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid
setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid
setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4
sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx symlink
symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete
timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create
timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate
truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64 utimes
vfork vmsplice wait4 waitid waitpid write writev
"""

# Architecture-specific helpers Docker allows on the architectures that have them.
_ARCH_SPECIFIC = {
    "SCMP_ARCH_X86_64": "arch_prctl modify_ldt",
    "SCMP_ARCH_AARCH64": "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
}

# Allowed only when the container holds the capability.
_BY_CAPABILITY = {
    "CAP_DAC_READ_SEARCH": "open_by_handle_at",
    "CAP_SYS_ADMIN": (
        "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount"
        " mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname"
        " sethostname setns syslog umount umount2 unshare"
    ),
    "CAP_SYS_BOOT": "reboot",
    "CAP_SYS_CHROOT": "chroot",
    "CAP_SYS_MODULE": "delete_module init_module finit_module",
    "CAP_SYS_PACCT": "acct",
    "CAP_SYS_PTRACE": "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
    "CAP_SYS_RAWIO": "iopl ioperm",
    "CAP_SYS_TIME": "settimeofday stime clock_settime clock_settime64",
    "CAP_SYS_TTY_CONFIG": "vhangup",
    "CAP_SYS_NICE": "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
    "CAP_SYSLOG": "syslog",
    "CAP_BPF": "bpf",
    "CAP_PERFMON": "perf_event_open",
}

# personality(2) values a container may set: PER_LINUX, UNAME26, PER_LINUX32, UNAME26 |
# PER_LINUX32, and 0xffffffff which only queries the current persona.
_PERSONAS = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

# clone(2) flags that create namespaces: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER
# | NEWPID | NEWNET.  Without CAP_SYS_ADMIN, clone must have none of them set.
CLONE_NAMESPACE_FLAGS = 0x7E020000

_AF_VSOCK = 40

_ARCHES = {
    "SCMP_ARCH_X86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "SCMP_ARCH_AARCH64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
}


def _names(text: str) -> list[str]:
    return sorted(set(text.split()))


def default_profile(capabilities: Iterable[str] | None = None, *, arch: str | None = None) -> dict[str, Any]:
    """The default profile in OCI ``linux.seccomp`` form for a container's capabilities.

    ``capabilities`` are the container's capability names (its bounding set); None means
    Docker's 14 default capabilities.  ``arch`` picks the architecture list (host's by
    default).
    """
    from minke.runtime.capabilities import DOCKER_DEFAULT_CAPS, validate_capabilities
    from minke.runtime.seccomp_load import native_arch

    caps = set(DOCKER_DEFAULT_CAPS if capabilities is None else validate_capabilities({"bounding": list(capabilities)})["bounding"])
    native = native_arch(arch or os.uname().machine)
    allow = "SCMP_ACT_ALLOW"
    rules: list[dict[str, Any]] = [{"names": _names(_ALWAYS), "action": allow}]
    rules.append({"names": _names(_ARCH_SPECIFIC[native]), "action": allow})
    # socket(): every family but AF_VSOCK, which would reach the host's vsock services.
    rules.append(
        {"names": ["socket"], "action": allow, "args": [{"index": 0, "value": _AF_VSOCK, "op": "SCMP_CMP_NE"}]}
    )
    for persona in _PERSONAS:
        rules.append(
            {"names": ["personality"], "action": allow, "args": [{"index": 0, "value": persona, "op": "SCMP_CMP_EQ"}]}
        )
    for cap, names in _BY_CAPABILITY.items():
        if cap in caps:
            rules.append({"names": _names(names), "action": allow})
    if "CAP_SYS_ADMIN" not in caps:
        # clone without namespace flags only.  clone3 passes its flags in memory a filter
        # cannot read, so it gets ENOSYS and libc falls back to clone, which is checked.
        rules.append(
            {
                "names": ["clone"],
                "action": allow,
                "args": [
                    {"index": 0, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}
                ],
            }
        )
        rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS})
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.EPERM,
        "architectures": list(_ARCHES[native]),
        "syscalls": rules,
    }
