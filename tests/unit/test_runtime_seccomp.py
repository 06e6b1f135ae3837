from __future__ import annotations

import errno
import os
import random
import struct

import pytest

from minke.errors import InvalidArgument, PermissionDenied, Unsupported
from minke.runtime import seccomp as sc
from minke.runtime.seccomp_tables import AARCH64, ARM, X32, X86, X86_64

ALLOW = sc.SECCOMP_RET_ALLOW
KILL = sc.SECCOMP_RET_KILL_PROCESS
EPERM = sc.SECCOMP_RET_ERRNO | errno.EPERM
ENOSYS = sc.SECCOMP_RET_ERRNO | errno.ENOSYS
X86_64_ARCH, I386_ARCH, AARCH64_ARCH = sc.AUDIT_ARCH_X86_64, sc.AUDIT_ARCH_I386, sc.AUDIT_ARCH_AARCH64


def run(prog: bytes, nr: int, arch: int = X86_64_ARCH, args=(0, 0, 0, 0, 0, 0)) -> int:
    """A classic-BPF interpreter for the instructions the seccomp compiler emits."""
    assert len(prog) % 8 == 0 and 0 < len(prog) // 8 <= 4096
    data = struct.pack("<IIQ6Q", nr & 0xFFFFFFFF, arch, 0, *args)
    insns = [struct.unpack_from("=HBBI", prog, i * 8) for i in range(len(prog) // 8)]
    pc, a = 0, 0
    while True:
        assert 0 <= pc < len(insns), "ran off the end of the program"
        code, jt, jf, k = insns[pc]
        if code == 0x20:  # ld [k]
            assert k % 4 == 0 and k + 4 <= len(data)
            a = struct.unpack_from("<I", data, k)[0]
        elif code == 0x54:  # and #k
            a &= k
        elif code == 0x05:  # ja
            pc += k
        elif code == 0x15:
            pc += jt if a == k else jf
        elif code == 0x25:
            pc += jt if a > k else jf
        elif code == 0x35:
            pc += jt if a >= k else jf
        elif code == 0x45:
            pc += jt if a & k else jf
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
        pc += 1


def profile(*rules, default="SCMP_ACT_ERRNO", **extra):
    return {"defaultAction": default, "syscalls": list(rules), **extra}


def test_allow_and_default_errno():
    prog = sc.compile_seccomp(profile({"names": ["read", "write", "getpid"], "action": "SCMP_ACT_ALLOW"}), "x86_64")
    assert run(prog, X86_64["read"]) == ALLOW
    assert run(prog, X86_64["getpid"]) == ALLOW
    assert run(prog, X86_64["mkdir"]) == EPERM
    assert run(prog, X86_64["write"]) == ALLOW


def test_errno_ret_and_default_errno_ret():
    p = profile(
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        default="SCMP_ACT_ALLOW",
    )
    prog = sc.compile_seccomp(p, "x86_64")
    assert run(prog, X86_64["mkdir"]) == sc.SECCOMP_RET_ERRNO | 38
    assert run(prog, X86_64["rmdir"]) == ALLOW
    prog = sc.compile_seccomp(profile(default="SCMP_ACT_ERRNO", defaultErrnoRet=13), "x86_64")
    assert run(prog, 0) == sc.SECCOMP_RET_ERRNO | 13


@pytest.mark.parametrize(
    ("action", "value"),
    [
        ("SCMP_ACT_KILL", 0),
        ("SCMP_ACT_KILL_THREAD", 0),
        ("SCMP_ACT_KILL_PROCESS", 0x80000000),
        ("SCMP_ACT_TRAP", 0x00030000),
        ("SCMP_ACT_ERRNO", 0x00050001),
        ("SCMP_ACT_TRACE", 0x7FF00001),
        ("SCMP_ACT_LOG", 0x7FFC0000),
        ("SCMP_ACT_ALLOW", 0x7FFF0000),
    ],
)
def test_actions(action, value):
    prog = sc.compile_seccomp(profile({"names": ["uname"], "action": action}, default="SCMP_ACT_ALLOW"), "x86_64")
    assert run(prog, X86_64["uname"]) == value


def _expect(op: str, arg: int, value: int, value_two: int, wide: bool) -> bool:
    if not wide:
        arg, value, value_two = arg & 0xFFFFFFFF, value & 0xFFFFFFFF, value_two & 0xFFFFFFFF
    return {
        "SCMP_CMP_EQ": arg == value,
        "SCMP_CMP_NE": arg != value,
        "SCMP_CMP_LT": arg < value,
        "SCMP_CMP_LE": arg <= value,
        "SCMP_CMP_GT": arg > value,
        "SCMP_CMP_GE": arg >= value,
        "SCMP_CMP_MASKED_EQ": arg & value == value_two,
    }[op]


@pytest.mark.parametrize("op", sorted(sc.OPS))
def test_64bit_argument_comparisons(op):
    rng = random.Random(op)
    edge = [0, 1, 5, 0xFFFFFFFF, 0x100000000, 0x100000005, 0xFFFFFFFF00000000, (1 << 64) - 1]
    for _ in range(150):
        value = rng.choice(edge + [rng.getrandbits(64), rng.getrandbits(33)])
        value_two = value & rng.choice(edge + [rng.getrandbits(64)])
        index = rng.randrange(6)
        cond = {"index": index, "value": value, "valueTwo": value_two, "op": op}
        p = profile({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [cond]}, architectures=["SCMP_ARCH_X86"])
        prog = sc.compile_seccomp(p, "x86_64")
        for arg in {value, value + 1 & (1 << 64) - 1, value - 1 & (1 << 64) - 1, value ^ 1 << 32,
                    value ^ 1 << 63, value ^ 1, rng.getrandbits(64), 0, value_two}:
            args = [rng.getrandbits(64) for _ in range(6)]
            args[index] = arg
            want = ALLOW if _expect(op, arg, value, value_two, True) else EPERM
            assert run(prog, X86_64["ioctl"], X86_64_ARCH, args) == want, (op, hex(value), hex(arg))
            # i386 has 32-bit arguments: only the low word is compared.
            low = [x & 0xFFFFFFFF for x in args]
            want32 = ALLOW if _expect(op, arg, value, value_two, False) else EPERM
            assert run(prog, X86["ioctl"], I386_ARCH, low) == want32, (op, hex(value), hex(arg))


def test_conditions_in_one_rule_are_anded_same_index_ored():
    anded = profile({"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [
        {"index": 0, "value": 10, "op": "SCMP_CMP_GT"}, {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]})
    prog = sc.compile_seccomp(anded, "x86_64")
    assert run(prog, X86_64["kill"], args=(11, 9, 0, 0, 0, 0)) == ALLOW
    assert run(prog, X86_64["kill"], args=(11, 8, 0, 0, 0, 0)) == EPERM
    assert run(prog, X86_64["kill"], args=(10, 9, 0, 0, 0, 0)) == EPERM
    ored = profile({"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [
        {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]})
    prog = sc.compile_seccomp(ored, "x86_64")
    assert [run(prog, X86_64["kill"], args=(v, 0, 0, 0, 0, 0)) for v in (0, 1, 2, 3)] == [EPERM, ALLOW, ALLOW, EPERM]


def test_conditional_rules_come_before_unconditional():
    p = profile(
        {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5, "args": [{"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}]},
    )
    prog = sc.compile_seccomp(p, "x86_64")
    assert run(prog, X86_64["mkdir"], args=(0, 0o700, 0, 0, 0, 0)) == sc.SECCOMP_RET_ERRNO | 5
    assert run(prog, X86_64["mkdir"], args=(0, 0o755, 0, 0, 0, 0)) == ALLOW


def test_many_alternatives_use_long_jumps():
    rules = [{"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": v, "op": "SCMP_CMP_EQ"}]}
             for v in range(100)]
    prog = sc.compile_seccomp(profile(*rules, {"names": ["read"], "action": "SCMP_ACT_ALLOW"}), "x86_64")
    assert run(prog, X86_64["ioctl"], args=(0, 99, 0, 0, 0, 0)) == ALLOW
    assert run(prog, X86_64["ioctl"], args=(0, 100, 0, 0, 0, 0)) == EPERM
    assert run(prog, X86_64["read"]) == ALLOW
    assert run(prog, X86_64["write"]) == EPERM


def test_architecture_checks():
    p = profile({"names": ["mkdir", "read"], "action": "SCMP_ACT_ALLOW"})
    prog = sc.compile_seccomp(p, "x86_64")
    assert run(prog, X86_64["mkdir"], AARCH64_ARCH) == KILL  # foreign architecture
    assert run(prog, X86["mkdir"], I386_ARCH) == KILL  # i386 not listed
    assert run(prog, X32["read"]) == KILL  # x32 not listed
    prog = sc.compile_seccomp({**p, "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]}, "x86_64")
    assert run(prog, X86["mkdir"], I386_ARCH) == ALLOW
    assert run(prog, X86["rmdir"], I386_ARCH) == EPERM
    assert run(prog, X32["read"]) == ALLOW
    assert run(prog, X32["write"]) == EPERM
    prog = sc.compile_seccomp(p, "aarch64")
    assert "mkdir" not in AARCH64  # skipped there, like libseccomp
    assert run(prog, AARCH64["read"], AARCH64_ARCH) == ALLOW
    assert run(prog, AARCH64["mkdirat"], AARCH64_ARCH) == EPERM
    assert run(prog, AARCH64["read"], X86_64_ARCH) == KILL


def test_syscall_minus_one_is_not_x32():
    prog = sc.compile_seccomp(profile({"names": ["read"], "action": "SCMP_ACT_ALLOW"}, default="SCMP_ACT_LOG"), "x86_64")
    assert run(prog, -1) == sc.SECCOMP_RET_LOG
    assert run(prog, X32["read"]) == KILL


def test_syscalls_newer_than_the_tables_get_enosys():
    prog = sc.compile_seccomp(profile({"names": ["read"], "action": "SCMP_ACT_ALLOW"}), "x86_64")
    newest = max(X86_64.values())
    assert run(prog, newest) == EPERM
    assert run(prog, newest + 1) == ENOSYS
    allow_all = sc.compile_seccomp(profile(default="SCMP_ACT_ALLOW"), "x86_64")
    assert run(allow_all, newest + 1) == ALLOW


def test_unknown_names_are_skipped():
    prog = sc.compile_seccomp(profile({"names": ["no_such_call", "read"], "action": "SCMP_ACT_ALLOW"}), "x86_64")
    assert run(prog, X86_64["read"]) == ALLOW


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"defaultAction": "SCMP_ACT_NOPE"}, InvalidArgument, "unknown seccomp action 'SCMP_ACT_NOPE'"),
        ({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_BLAH"}]}, InvalidArgument, "SCMP_ACT_BLAH"),
        ({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}]}, InvalidArgument, "SCMP_CMP_XX"),
        ({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                        "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}, InvalidArgument, "index 6"),
        ({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]}, InvalidArgument, "errnoRet"),
        ({"syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]}, InvalidArgument, "names"),
        ({"architectures": ["SCMP_ARCH_Z80"]}, InvalidArgument, "SCMP_ARCH_Z80"),
        ({"flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}, InvalidArgument, "BOGUS"),
        ({"defaultAction": "SCMP_ACT_NOTIFY"}, Unsupported, "SCMP_ACT_NOTIFY"),
        ({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["read"], "action": "SCMP_ACT_KILL"}]},
         InvalidArgument, "conflicting"),
    ],
)
def test_bad_input(change, error, message):
    with pytest.raises(error, match=message):
        sc.compile_seccomp({"defaultAction": "SCMP_ACT_ERRNO", **change}, "x86_64")


def test_too_large_program():
    rules = [{"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": v, "op": "SCMP_CMP_EQ"}]}
             for v in range(1000)]
    with pytest.raises(InvalidArgument, match="too large"):
        sc.compile_seccomp(profile(*rules), "x86_64")


def test_default_profile_without_sys_admin():
    p = sc.default_profile(arch="x86_64")
    assert p["defaultAction"] == "SCMP_ACT_ERRNO" and p["defaultErrnoRet"] == errno.EPERM
    prog = sc.compile_seccomp(p, "x86_64")
    for name in ("read", "write", "openat", "execve", "mkdir", "chown", "arch_prctl", "setuid", "chroot"):
        assert run(prog, X86_64[name]) == ALLOW, name
    for name in ("mount", "umount2", "unshare", "setns", "reboot", "init_module", "bpf", "sethostname",
                 "open_by_handle_at", "kexec_load", "add_key", "keyctl", "pivot_root", "swapon"):
        assert run(prog, X86_64[name]) == EPERM, name
    clone = X86_64["clone"]
    assert run(prog, clone, args=(0x01200011, 0, 0, 0, 0, 0)) == ALLOW  # what fork() passes
    assert run(prog, clone, args=(0x10000000 | 17, 0, 0, 0, 0, 0)) == EPERM  # CLONE_NEWUSER
    assert run(prog, clone, args=(0x40000000, 0, 0, 0, 0, 0)) == EPERM  # CLONE_NEWNET
    assert run(prog, X86_64["clone3"]) == ENOSYS
    socket = X86_64["socket"]
    assert run(prog, socket, args=(2, 1, 0, 0, 0, 0)) == ALLOW
    assert run(prog, socket, args=(40, 1, 0, 0, 0, 0)) == EPERM
    pers = X86_64["personality"]
    assert run(prog, pers, args=(0xFFFFFFFF, 0, 0, 0, 0, 0)) == ALLOW
    assert run(prog, pers, args=(8, 0, 0, 0, 0, 0)) == ALLOW
    assert run(prog, pers, args=(0x0040000, 0, 0, 0, 0, 0)) == EPERM  # ADDR_NO_RANDOMIZE
    # i386 and x32 processes get the same policy with their own numbers.
    assert run(prog, X86["socketcall"], I386_ARCH) == ALLOW
    assert run(prog, X86["mount"], I386_ARCH) == EPERM
    assert run(prog, X32["mkdir"]) == ALLOW
    assert run(prog, X32["mount"]) == EPERM


def test_default_profile_capabilities_add_syscalls():
    caps = {"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_TIME"}
    prog = sc.compile_seccomp(sc.default_profile(caps, arch="x86_64"), "x86_64")
    for name in ("mount", "unshare", "setns", "clone3", "kcmp", "settimeofday", "ptrace"):
        assert run(prog, X86_64[name]) == ALLOW, name
    assert run(prog, X86_64["clone"], args=(0x10000000, 0, 0, 0, 0, 0)) == ALLOW
    assert run(prog, X86_64["chroot"]) == EPERM  # CAP_SYS_CHROOT not granted here
    assert run(prog, X86_64["reboot"]) == EPERM
    with pytest.raises(InvalidArgument, match="CAP_WIZARD"):
        sc.default_profile({"CAP_WIZARD"})


def test_default_profile_aarch64():
    p = sc.default_profile(arch="aarch64")
    assert p["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    prog = sc.compile_seccomp(p, "aarch64")
    assert run(prog, AARCH64["mkdirat"], AARCH64_ARCH) == ALLOW
    assert run(prog, AARCH64["mount"], AARCH64_ARCH) == EPERM
    assert run(prog, AARCH64["clone"], AARCH64_ARCH, (0x20000000, 0, 0, 0, 0, 0)) == EPERM
    assert run(prog, AARCH64["clone"], AARCH64_ARCH, (0x01200011, 0, 0, 0, 0, 0)) == ALLOW
    arm = sc.AUDIT_ARCH_ARM  # 32-bit ARM processes on arm64
    assert run(prog, ARM["mkdir"], arm) == ALLOW
    assert run(prog, ARM["set_tls"], arm) == ALLOW  # private call at 0x0f0005
    assert run(prog, ARM["get_tls"], arm) == EPERM  # private, not allowed: not the ENOSYS stub
    assert run(prog, ARM["mount"], arm) == EPERM
    assert run(prog, ARM["clone"], arm, (0x10000000, 0, 0, 0, 0, 0)) == EPERM
    assert run(prog, max(n for n in ARM.values() if n < 0x0F0000) + 1, arm) == ENOSYS
    assert run(prog, X86_64["read"], X86_64_ARCH) == KILL


def test_load_uses_seccomp_then_falls_back_to_prctl():
    prog = sc.compile_seccomp(profile(default="SCMP_ACT_ALLOW"), "x86_64")
    fake = sc.RecordingSeccompSyscalls()
    sc.load_seccomp(prog, flags=["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG"], sys=fake)
    assert fake.calls == [("seccomp", 3, prog)]
    old_kernel = sc.RecordingSeccompSyscalls(enosys=True)
    sc.load_seccomp(prog, sys=old_kernel)
    assert old_kernel.calls == [("prctl", 0, prog)]
    with pytest.raises(OSError):
        sc.load_seccomp(prog, flags=["SECCOMP_FILTER_FLAG_TSYNC"], sys=sc.RecordingSeccompSyscalls(enosys=True))
    with pytest.raises(InvalidArgument):
        sc.load_seccomp(b"1234567", sys=fake)


def test_load_without_no_new_privs_is_permission_denied():
    class Refusing(sc.RecordingSeccompSyscalls):
        def seccomp_set_mode_filter(self, flags, program):
            raise OSError(errno.EACCES, "seccomp: Permission denied")

    with pytest.raises(PermissionDenied, match="no_new_privs"):
        sc.load_seccomp(sc.compile_seccomp(profile(), "x86_64"), sys=Refusing())


def test_compiled_programs_are_cached_per_profile(tmp_path, monkeypatch):
    profile = sc.default_profile(["CAP_CHOWN"])
    cache = str(tmp_path / "cache")
    first = sc.compile_cached(profile, cache)
    assert first == sc.compile_seccomp(profile)
    assert len(__import__("os").listdir(cache)) == 1
    # A hit does not compile: the same bytes come from the cache.
    monkeypatch.setattr(sc, "compile_seccomp", lambda *_a: pytest.fail("compiled despite the cache"))
    assert sc.compile_cached(profile, cache) == first
    monkeypatch.undo()
    # Another profile is another entry; a damaged entry is compiled and written again.
    other = dict(profile, syscalls=profile["syscalls"][1:])
    assert sc.compile_cached(other, cache) == sc.compile_seccomp(other) != first
    names = __import__("os").listdir(cache)
    assert len(names) == 2
    for n in names:
        (tmp_path / "cache" / n).write_bytes(b"short")
    assert sc.compile_cached(profile, cache) == first
    # A profile that does not compile raises, and is not cached.
    with pytest.raises(InvalidArgument):
        sc.compile_cached({"defaultAction": "SCMP_ACT_NOPE"}, cache)
    assert len(__import__("os").listdir(cache)) == 2


def test_a_cached_program_is_loaded_without_the_compiler(tmp_path):
    # The set-up child of every create imports seccomp_load: the compiler (typing, struct,
    # the syscall tables: ~25 ms of imports) only on a cache miss.
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = (
        "import sys\n"
        "from minke.runtime.seccomp_load import compile_cached\n"
        "profile = {'defaultAction': 'SCMP_ACT_ERRNO', 'syscalls': [{'names': ['read', 'write'],"
        " 'action': 'SCMP_ACT_ALLOW'}]}\n"
        f"program = compile_cached(profile, {str(tmp_path)!r})\n"
        "print(len(program) % 8, sorted(m for m in ('typing', 're', 'struct', 'collections',"
        " 'minke.runtime.seccomp', 'minke.runtime.seccomp_tables') if m in sys.modules))\n"
    )
    env = dict(os.environ, PYTHONPATH=repo)
    first = subprocess.run([sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "minke.runtime.seccomp" in first.stdout  # a miss compiles
    again = subprocess.run([sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, check=True)
    assert again.stdout.strip() == "0 []"


def test_the_cache_keeps_its_newest_entries_only(tmp_path, monkeypatch):
    import os

    from minke.runtime import seccomp_load

    cache = tmp_path / "cache"
    cache.mkdir()
    for i in range(5):  # older entries (another profile each, or an older compiler's)
        p = cache / f"old{i}"
        p.write_bytes(b"\0" * 8)
        os.utime(p, ns=(i * 10**9, i * 10**9))
    monkeypatch.setattr(seccomp_load, "CACHE_ENTRIES", 3)
    profile = sc.default_profile(["CAP_CHOWN"])
    first = sc.compile_cached(profile, str(cache))
    # The entry just written and the two newest of the old ones stay.
    assert len(os.listdir(cache)) == 3
    assert {"old3", "old4"} < set(os.listdir(cache))
    assert sc.compile_cached(profile, str(cache)) == first
