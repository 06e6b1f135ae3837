"""Seccomp: compile an OCI ``linux.seccomp`` object to classic BPF and load it.

No libseccomp: the compiler is pure Python and the program it writes is the one the kernel
runs (``struct sock_filter`` array, seccomp(2)).  Lifecycle::

    program = compile_seccomp(spec["linux"]["seccomp"])   # at create: config errors early
    ... in the container's init, after no_new_privs (or with CAP_SYS_ADMIN), last thing
        before execve so the runtime's own syscalls are not filtered ...
    load_seccomp(program, flags=spec["linux"]["seccomp"].get("flags", ()))

Shape of the program (every conditional jump is short; long ones go through ``ja``)::

    ld arch; one "jeq AUDIT_ARCH_X / ja block_X" pair per architecture; ret KILL_PROCESS
    block_X: ld nr
             (x86_64: nr >= 0x40000000 is x32: ja block_x32, or kill if x32 not listed)
             ranges of syscalls with one unconditional action: jge lo / jgt hi / ret ACT
             syscalls with argument rules: jeq nr; conditions; ret ACT; ...; ret DEFAULT
             nr > newest syscall minke knows: ret ERRNO(ENOSYS)   (runc does the same, so a
                 libc probing a new syscall falls back instead of seeing EPERM)
             ret DEFAULT

Semantics follow runc + libseccomp where the OCI spec is silent: names an architecture
lacks are skipped; the native architecture is always in the filter; a foreign
architecture is killed; conditions of one rule are ANDed unless two of them test the same
argument, then each is its own rule (ORed), as runc does; for one syscall, rules with
conditions are tried in spec order before an unconditional rule.
"""

from __future__ import annotations

import errno as _errno
import struct
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from minke.errors import InvalidArgument, Unsupported
from minke.runtime.seccomp_load import (  # noqa: F401  (re-exported: the runtime's side)
    BPF_MAXINSNS,
    NATIVE_ARCH,
    SECCOMP_FILTER_FLAGS,
    LibcSeccompSyscalls,
    compile_cached,
    filter_flags,
    load_seccomp,
    native_arch,
)
from minke.runtime.seccomp_tables import TABLES, X32_SYSCALL_BIT

# --- kernel ABI (linux/seccomp.h, linux/filter.h, linux/audit.h) --------------------------

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_DATA = 0x0000FFFF
MAX_ERRNO = 4095  # the kernel clamps SECCOMP_RET_ERRNO data to this


# Classic BPF opcodes used here.
BPF_LD_W_ABS = 0x20
BPF_ALU_AND_K = 0x54
BPF_JMP_JA = 0x05
BPF_JMP_JEQ_K = 0x15
BPF_JMP_JGT_K = 0x25
BPF_JMP_JGE_K = 0x35
BPF_JMP_JSET_K = 0x45
BPF_RET_K = 0x06

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6].
# Both supported architectures are little-endian: an argument's low word comes first.
OFFSET_NR = 0
OFFSET_ARCH = 4
OFFSET_ARGS = 16

AUDIT_ARCH_X86_64 = 0xC000003E  # EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7
AUDIT_ARCH_ARM = 0x40000028

# Every architecture name the OCI spec knows; only some can be compiled on a given host.
OCI_ARCHES = frozenset(
    {
        "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
        "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
        "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
        "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
        "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
    }
)  # fmt: skip

# Which other ABIs a native kernel can run, hence may appear in its seccomp_data.
COMPAT_ARCHES = {
    "SCMP_ARCH_X86_64": ("SCMP_ARCH_X86", "SCMP_ARCH_X32"),
    "SCMP_ARCH_AARCH64": ("SCMP_ARCH_ARM",),
}
AUDIT_ARCH = {
    "SCMP_ARCH_X86_64": AUDIT_ARCH_X86_64,
    "SCMP_ARCH_X86": AUDIT_ARCH_I386,
    "SCMP_ARCH_X32": AUDIT_ARCH_X86_64,  # same audit arch; told apart by the x32 bit in nr
    "SCMP_ARCH_AARCH64": AUDIT_ARCH_AARCH64,
    "SCMP_ARCH_ARM": AUDIT_ARCH_ARM,
}
_WIDE_ARGS = {
    "SCMP_ARCH_X86_64": True,
    "SCMP_ARCH_X32": True,
    "SCMP_ARCH_AARCH64": True,
    "SCMP_ARCH_X86": False,
    "SCMP_ARCH_ARM": False,
}
# ARM's private syscalls (set_tls, cacheflush, ...) live at 0x0f0000 + n, far above the
# ordinary ones; the "newer than minke knows" stub must not swallow them.
_PRIVATE_BASE = {"SCMP_ARCH_ARM": 0x0F0000}

BAD_ARCH_ACTION = SECCOMP_RET_KILL_PROCESS

OPS = frozenset(
    {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"}
)
_U64 = (1 << 64) - 1
_U32 = 0xFFFFFFFF


def action_value(action: str, errno_ret: int | None = None) -> int:
    """The SECCOMP_RET_* value of an OCI action name (with its errnoRet)."""
    if errno_ret is not None:
        if action not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
            raise InvalidArgument(f"errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {action}")
        if not isinstance(errno_ret, int) or isinstance(errno_ret, bool) or not 0 <= errno_ret <= MAX_ERRNO:
            raise InvalidArgument(f"invalid seccomp errnoRet {errno_ret!r}")
    if action in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return SECCOMP_RET_KILL_THREAD
    if action == "SCMP_ACT_KILL_PROCESS":
        return SECCOMP_RET_KILL_PROCESS
    if action == "SCMP_ACT_TRAP":
        return SECCOMP_RET_TRAP
    if action == "SCMP_ACT_ERRNO":
        # runc answers EPERM when no errnoRet is given.
        return SECCOMP_RET_ERRNO | (_errno.EPERM if errno_ret is None else errno_ret)
    if action == "SCMP_ACT_TRACE":
        return SECCOMP_RET_TRACE | (_errno.EPERM if errno_ret is None else errno_ret)
    if action == "SCMP_ACT_ALLOW":
        return SECCOMP_RET_ALLOW
    if action == "SCMP_ACT_LOG":
        return SECCOMP_RET_LOG
    if action == "SCMP_ACT_NOTIFY":
        raise Unsupported("seccomp action SCMP_ACT_NOTIFY is not supported by minke's runtime")
    raise InvalidArgument(f"unknown seccomp action {action!r}")


# --- rules -----------------------------------------------------------------------------------


class Condition(NamedTuple):
    index: int
    op: str
    value: int
    value_two: int = 0


class _Rule(NamedTuple):
    alternatives: tuple[tuple[Condition, ...], ...]  # ORed; each one ANDed; () = always
    action: int


def _parse_condition(raw: Any) -> Condition:
    if not isinstance(raw, Mapping):
        raise InvalidArgument("seccomp syscall args entries must be objects")
    index, op = raw.get("index"), raw.get("op")
    value, value_two = raw.get("value", 0), raw.get("valueTwo", 0)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= 5:
        raise InvalidArgument(f"invalid seccomp argument index {index!r}")
    if op not in OPS:
        raise InvalidArgument(f"unknown seccomp operator {op!r}")
    for v in (value, value_two):
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= _U64:
            raise InvalidArgument(f"invalid seccomp argument value {v!r}")
    return Condition(index, op, value, value_two)


def _parse_rule(raw: Any) -> tuple[list[str], _Rule]:
    if not isinstance(raw, Mapping):
        raise InvalidArgument("seccomp syscalls entries must be objects")
    names = raw.get("names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise InvalidArgument("seccomp syscalls entry needs a non-empty names list")
    action = raw.get("action")
    if not isinstance(action, str):
        raise InvalidArgument(f"seccomp syscall action must be a string, not {action!r}")
    value = action_value(action, raw.get("errnoRet"))
    args = raw.get("args") or []
    if not isinstance(args, list):
        raise InvalidArgument("seccomp syscall args must be a list")
    conds = tuple(_parse_condition(a) for a in args)
    indexes = [c.index for c in conds]
    if len(set(indexes)) != len(indexes):
        # libseccomp ANDs conditions and cannot AND two on one argument; runc therefore
        # turns each into its own rule, which ORs them.  Same here.
        alternatives = tuple((c,) for c in conds)
    else:
        alternatives = (conds,)
    return names, _Rule(alternatives, value)


# --- assembler -------------------------------------------------------------------------------


class _Label:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _Code:
    """A list of instructions with symbolic labels; jt/jf (and ja's k) may name a label."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._n = 0

    def label(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def put(self, code: int, k: int | str = 0, jt: int | str = 0, jf: int | str = 0) -> None:
        self.items.append((code, jt, jf, k))

    def mark(self, name: str) -> None:
        self.items.append(_Label(name))

    def extend(self, other: _Code) -> None:
        self.items.extend(other.items)

    def __len__(self) -> int:
        return sum(1 for i in self.items if not isinstance(i, _Label))

    @staticmethod
    def _rel(where: dict[str, int], pos: int, target: int | str, limit: int) -> int:
        if isinstance(target, int):
            return target
        off = where[target] - pos - 1
        if not 0 <= off <= limit:  # a bug in the generator, not in the input
            raise AssertionError(f"bpf jump to {target} out of range: {off}")
        return off

    def assemble(self) -> bytes:
        where: dict[str, int] = {}
        pos = 0
        for item in self.items:
            if isinstance(item, _Label):
                where[item.name] = pos
            else:
                pos += 1
        if pos > BPF_MAXINSNS:
            raise InvalidArgument(f"seccomp profile too large: {pos} bpf instructions (max {BPF_MAXINSNS})")
        out = bytearray()
        pos = 0
        for item in self.items:
            if isinstance(item, _Label):
                continue
            code, jt, jf, k = item

            if code == BPF_JMP_JA:
                k = self._rel(where, pos, k, _U32)
            else:
                jt, jf = self._rel(where, pos, jt, 255), self._rel(where, pos, jf, 255)
            out += struct.pack("=HBBI", code, jt, jf, k)
            pos += 1
        return bytes(out)


def _ld(code: _Code, offset: int) -> None:
    code.put(BPF_LD_W_ABS, offset)


def _condition(code: _Code, c: Condition, wide: bool, fail: str) -> None:
    """Code that falls through when condition c holds and jumps to fail when not.

    A 64-bit comparison is done on the high words first, then the low words when the high
    words are equal.  32-bit ABIs only have the low word.
    """
    lo, hi = OFFSET_ARGS + 8 * c.index, OFFSET_ARGS + 8 * c.index + 4
    v_lo, v_hi = c.value & _U32, c.value >> 32
    ok = code.label("ok")
    if c.op == "SCMP_CMP_EQ":
        if wide:
            _ld(code, hi)
            code.put(BPF_JMP_JEQ_K, v_hi, 0, fail)
        _ld(code, lo)
        code.put(BPF_JMP_JEQ_K, v_lo, 0, fail)
    elif c.op == "SCMP_CMP_NE":
        if wide:
            _ld(code, hi)
            code.put(BPF_JMP_JEQ_K, v_hi, 0, ok)
        _ld(code, lo)
        code.put(BPF_JMP_JEQ_K, v_lo, fail, 0)
    elif c.op in ("SCMP_CMP_GT", "SCMP_CMP_GE"):
        if wide:
            _ld(code, hi)
            code.put(BPF_JMP_JGT_K, v_hi, ok, 0)
            code.put(BPF_JMP_JEQ_K, v_hi, 0, fail)
        _ld(code, lo)
        code.put(BPF_JMP_JGT_K if c.op == "SCMP_CMP_GT" else BPF_JMP_JGE_K, v_lo, 0, fail)
    elif c.op in ("SCMP_CMP_LT", "SCMP_CMP_LE"):
        if wide:
            _ld(code, hi)
            code.put(BPF_JMP_JGT_K, v_hi, fail, 0)
            code.put(BPF_JMP_JEQ_K, v_hi, 0, ok)
        _ld(code, lo)
        code.put(BPF_JMP_JGE_K if c.op == "SCMP_CMP_LT" else BPF_JMP_JGT_K, v_lo, fail, 0)
    else:  # SCMP_CMP_MASKED_EQ: (arg & value) == valueTwo
        t_lo, t_hi = c.value_two & _U32, c.value_two >> 32
        if wide:
            _ld(code, hi)
            code.put(BPF_ALU_AND_K, v_hi)
            code.put(BPF_JMP_JEQ_K, t_hi, 0, fail)
        _ld(code, lo)
        code.put(BPF_ALU_AND_K, v_lo)
        code.put(BPF_JMP_JEQ_K, t_lo, 0, fail)
    code.mark(ok)


def _syscall_body(code: _Code, rules: list[_Rule], wide: bool, default: int) -> None:
    """Rules of one syscall, nr already matched: conditional rules first, in spec order."""
    ordered = sorted(rules, key=lambda r: r.alternatives == ((),))
    for rule in ordered:
        for conds in rule.alternatives:
            if not conds:
                code.put(BPF_RET_K, rule.action)
                return
            fail = code.label("next")
            for c in conds:
                _condition(code, c, wide, fail)
            code.put(BPF_RET_K, rule.action)
            code.mark(fail)
    code.put(BPF_RET_K, default)


def _arch_block(
    code: _Code, by_nr: dict[int, list[_Rule]], wide: bool, default: int, newest: tuple[int, int | None] | None
) -> None:
    """Dispatch on nr (A holds nr) for one architecture; always ends in a ret."""
    simple: list[tuple[int, int]] = []
    for nr in sorted(by_nr):
        rules = by_nr[nr]
        if all(r.alternatives == ((),) for r in rules):
            simple.append((nr, rules[0].action))
        else:
            body = _Code()
            body._n = code._n  # share the label counter so labels stay unique
            _syscall_body(body, rules, wide, default)
            code._n = body._n
            after = code.label("after")
            if len(body) <= 255:
                code.put(BPF_JMP_JEQ_K, nr, 0, after)
            else:
                code.put(BPF_JMP_JEQ_K, nr, 1, 0)
                code.put(BPF_JMP_JA, after)
            code.extend(body)
            code.mark(after)
    # Consecutive numbers with the same action become one range test.
    ranges: list[list[int]] = []
    for nr, action in simple:
        if ranges and ranges[-1][1] == nr - 1 and ranges[-1][2] == action:
            ranges[-1][1] = nr
        else:
            ranges.append([nr, nr, action])
    for lo, hi, action in ranges:
        if lo == hi:
            code.put(BPF_JMP_JEQ_K, lo, 0, 1)
        else:
            code.put(BPF_JMP_JGE_K, lo, 0, 2)
            code.put(BPF_JMP_JGT_K, hi, 1, 0)
        code.put(BPF_RET_K, action)
    if newest is not None:
        lo, hi = newest
        if hi is None:
            code.put(BPF_JMP_JGT_K, lo, 0, 1)
        else:
            code.put(BPF_JMP_JGT_K, lo, 0, 2)
            code.put(BPF_JMP_JGE_K, hi, 1, 0)
        code.put(BPF_RET_K, SECCOMP_RET_ERRNO | _errno.ENOSYS)
    code.put(BPF_RET_K, default)


def filter_arches(linux_seccomp: Mapping[str, Any], arch: str | None = None) -> list[str]:
    """The architectures compiled into the filter: native first, then listed compat ABIs."""
    native = native_arch(arch)
    listed = linux_seccomp.get("architectures") or []
    if not isinstance(listed, list):
        raise InvalidArgument("seccomp architectures must be a list")
    for name in listed:
        if name not in OCI_ARCHES:
            raise InvalidArgument(f"unknown seccomp architecture {name!r}")
    arches = [native]
    for name in listed:
        if name in arches:
            continue
        if name in COMPAT_ARCHES[native] and name in TABLES:
            arches.append(name)
    return arches


def compile_seccomp(linux_seccomp: Mapping[str, Any], arch: str | None = None) -> bytes:
    """Compile an OCI ``linux.seccomp`` object into a ``struct sock_filter`` array.

    ``arch`` is the native architecture (``x86_64``/``amd64``, ``aarch64``/``arm64``);
    the host's by default.  Raises InvalidArgument for bad actions, operators, values,
    flags or architectures; Unsupported for SCMP_ACT_NOTIFY.
    """
    if not isinstance(linux_seccomp, Mapping):
        raise InvalidArgument("linux.seccomp must be an object")
    default_name = linux_seccomp.get("defaultAction")
    if not isinstance(default_name, str):
        raise InvalidArgument("linux.seccomp.defaultAction is required")
    default = action_value(default_name, linux_seccomp.get("defaultErrnoRet"))
    filter_flags(linux_seccomp.get("flags"))
    arches = filter_arches(linux_seccomp, arch)
    raw_rules = linux_seccomp.get("syscalls") or []
    if not isinstance(raw_rules, list):
        raise InvalidArgument("linux.seccomp.syscalls must be a list")
    parsed = [_parse_rule(r) for r in raw_rules]

    per_arch: dict[str, dict[int, list[_Rule]]] = {}
    for name in arches:
        table = TABLES[name]
        by_nr: dict[int, list[_Rule]] = {}
        for names, rule in parsed:
            for syscall in names:
                nr = table.get(syscall)
                if nr is None:
                    continue  # not on this architecture (or unknown): skipped, as libseccomp does
                existing = by_nr.setdefault(nr, [])
                if rule.alternatives == ((),):
                    clash = [r for r in existing if r.alternatives == ((),) and r.action != rule.action]
                    if clash:
                        raise InvalidArgument(f"conflicting seccomp actions for syscall {syscall!r}")
                    if any(r.alternatives == ((),) for r in existing):
                        continue
                existing.append(rule)
        per_arch[name] = by_nr

    # The stub for syscalls newer than any minke knows; pointless when those are allowed.
    stub = default not in (SECCOMP_RET_ALLOW, SECCOMP_RET_LOG)
    code = _Code()
    _ld(code, OFFSET_ARCH)
    blocks = {name: code.label("arch") for name in arches}
    for name in arches:
        if name == "SCMP_ARCH_X32":
            continue  # reached from the x86_64 block
        code.put(BPF_JMP_JEQ_K, AUDIT_ARCH[name], 0, 1)
        code.put(BPF_JMP_JA, blocks[name])
    code.put(BPF_RET_K, BAD_ARCH_ACTION)
    for name in arches:
        code.mark(blocks[name])
        _ld(code, OFFSET_NR)
        table = TABLES[name]
        if name == "SCMP_ARCH_X86_64":
            # x32 processes share AUDIT_ARCH_X86_64 and set bit 30 in nr.  nr -1 is not
            # x32: tracers use it to skip a syscall, and libseccomp lets it through too.
            code.put(BPF_JMP_JEQ_K, 0xFFFFFFFF, 2, 0)
            if "SCMP_ARCH_X32" in blocks:
                code.put(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 0, 1)
                code.put(BPF_JMP_JA, blocks["SCMP_ARCH_X32"])
            else:
                code.put(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 0, 1)
                code.put(BPF_RET_K, BAD_ARCH_ACTION)
        newest = None
        if stub:
            private = _PRIVATE_BASE.get(name)
            ordinary = [nr for nr in table.values() if private is None or nr < private]
            newest = (max(ordinary), private)
        _arch_block(code, per_arch[name], _WIDE_ARGS[name], default, newest)
    return code.assemble()


# --- loading -----------------------------------------------------------------------------


class SeccompSyscalls(Protocol):
    """The kernel calls load_seccomp needs."""

    def seccomp_set_mode_filter(self, flags: int, program: bytes) -> int:
        ...

    def prctl_set_seccomp_filter(self, program: bytes) -> None:
        ...


class RecordingSeccompSyscalls:
    """A fake SeccompSyscalls: records what would have been loaded."""

    def __init__(self, enosys: bool = False) -> None:
        self.calls: list[tuple[str, int, bytes]] = []
        self._enosys = enosys

    def seccomp_set_mode_filter(self, flags: int, program: bytes) -> int:
        if self._enosys:
            raise OSError(_errno.ENOSYS, "seccomp: Function not implemented")
        self.calls.append(("seccomp", flags, program))
        return 0

    def prctl_set_seccomp_filter(self, program: bytes) -> None:
        self.calls.append(("prctl", 0, program))


from minke.runtime.seccomp_default import default_profile  # noqa: E402  (re-export)

__all__ = [
    "compile_seccomp",
    "load_seccomp",
    "default_profile",
    "action_value",
    "filter_flags",
    "filter_arches",
    "Condition",
    "SeccompSyscalls",
    "LibcSeccompSyscalls",
    "RecordingSeccompSyscalls",
]
