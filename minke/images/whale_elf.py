"""The executable inside hello-whale: a tiny static ELF64 program, assembled here by hand.

minke must make hello-whale with no network, no compiler and no external binary, so this
module writes the machine code itself (x86_64 and aarch64), a few hundred bytes each.

The program, in order:

1. ``uname(buf)`` with ``buf`` (a ``struct utsname``, 6 fields of 65 bytes) on the stack;
   ``nodename`` is the second field, the hostname of the UTS namespace it runs in, so it
   names the container (``--hostname``) without reading any file;
2. measures ``nodename`` by scanning for its NUL (the kernel always terminates it);
3. ``write(1, ...)`` the greeting piece by piece: each literal piece of ``HELLO_TEXT`` is
   one write, each ``{hostname}`` in it is a write of ``nodename``;
4. ``exit_group(0)``.

The layout is the smallest the kernel accepts: ELF header, two program headers (one
``PT_LOAD`` mapping the whole file read+execute at 0x400000, and ``PT_GNU_STACK`` so the
stack is not executable), then code, then the text pieces.  No sections, no libc.

The instruction encoders below emit fixed-size forms only (``mov r32, imm32`` on x86_64,
``movz``+``movk`` on aarch64) so that code size does not depend on the addresses it
holds: assembly is two passes, the first to learn where the text lands.
"""

from __future__ import annotations

import struct

from minke.errors import Unsupported

HOSTNAME = "{hostname}"

HELLO_TEXT = (
    "\n"
    "Hello from {hostname}, a minke container!\n"
    "\n"
    "An image is an application packaged to run: its files and its config.\n"
    "A container is one running instance of an image, with its own writable layer,\n"
    "processes, network and name -- many containers can run from one image, the way\n"
    'many whales are made from one class:  Whale("{hostname}").\n'
    "\n"
    "This container's hostname is {hostname}. Run it again and another whale is born:\n"
    "  minke run --rm --hostname Nemo hello-whale\n"
    "\n"
)

BASE_VADDR = 0x400000
_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")  # Elf64_Ehdr, 64 bytes
_PHDR = struct.Struct("<IIQQQQQQ")  # Elf64_Phdr, 56 bytes
_HEADERS = _EHDR.size + 2 * _PHDR.size
_UTSNAME = 6 * 65  # struct utsname on Linux: six char[65] fields
_NODENAME = 65  # offset of nodename inside it
_STACK = 400  # room for utsname, a multiple of 16 (aarch64 sp alignment)

EM_X86_64 = 62
EM_AARCH64 = 183
PT_LOAD = 1
PT_GNU_STACK = 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4

_ARCH_ALIASES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def expected_output(hostname: str) -> str:
    """What the program prints when its UTS hostname is ``hostname``."""
    return HELLO_TEXT.replace(HOSTNAME, hostname)


def host_arch(machine: str | None = None) -> str:
    """The OCI architecture ("amd64" or "arm64") of ``machine`` (default: this host's
    ``uname -m``), if hello-whale has an executable for it."""
    if machine is None:
        import os

        machine = os.uname().machine
    arch = _ARCH_ALIASES.get(machine)
    if arch is None:
        raise Unsupported(f"hello-whale has no executable for architecture {machine}")
    return arch


def _pieces() -> list[bytes | None]:
    """HELLO_TEXT split into literal byte strings, with None where the hostname goes."""
    out: list[bytes | None] = []
    parts = HELLO_TEXT.split(HOSTNAME)
    for i, part in enumerate(parts):
        if i:
            out.append(None)
        if part:
            out.append(part.encode())
    return out


# --- x86_64 ------------------------------------------------------------------------------
# Linux x86_64 syscall ABI: number in eax, args in rdi, rsi, rdx; `syscall` clobbers only
# rax, rcx and r11, so rbp (nodename pointer) and rbx (its length) survive every call.
def _x86_64(text_addr: dict[int, int]) -> bytes:
    def imm32(v: int) -> bytes:
        return struct.pack("<I", v)

    syscall = b"\x0f\x05"
    code = bytearray()
    code += b"\x48\x81\xec" + imm32(_STACK)  # sub rsp, 400
    code += b"\xb8" + imm32(63)  # mov eax, 63 (uname)
    code += b"\x48\x89\xe7"  # mov rdi, rsp
    code += syscall
    code += b"\x48\x8d\x6c\x24" + bytes([_NODENAME])  # lea rbp, [rsp+65]
    code += b"\x31\xdb"  # xor ebx, ebx
    # loop: cmp byte [rbp+rbx], 0 ; je done ; inc ebx ; jmp loop
    code += b"\x80\x7c\x1d\x00\x00"  # cmp byte [rbp+rbx+0], 0
    code += b"\x74\x04"  # je +4 (over inc and jmp)
    code += b"\xff\xc3"  # inc ebx
    code += b"\xeb\xf5"  # jmp -11 (back to cmp)
    for i, piece in enumerate(_pieces()):
        code += b"\xb8" + imm32(1)  # mov eax, 1 (write)
        code += b"\xbf" + imm32(1)  # mov edi, 1 (stdout)
        if piece is None:
            code += b"\x48\x89\xee"  # mov rsi, rbp
            code += b"\x89\xda"  # mov edx, ebx
        else:
            code += b"\xbe" + imm32(text_addr.get(i, 0))  # mov esi, piece address
            code += b"\xba" + imm32(len(piece))  # mov edx, piece length
        code += syscall
    code += b"\xb8" + imm32(231)  # mov eax, 231 (exit_group)
    code += b"\x31\xff"  # xor edi, edi
    code += syscall
    return bytes(code)


# --- aarch64 -----------------------------------------------------------------------------
# Linux arm64 syscall ABI: number in x8, args in x0..x2, `svc #0`; every register but x0
# survives, so x20 (nodename pointer) and x19 (its length) do.
def _a64_movz(rd: int, imm16: int, hw: int = 0) -> int:
    return 0xD2800000 | (hw << 21) | (imm16 << 5) | rd


def _a64_movk(rd: int, imm16: int, hw: int) -> int:
    return 0xF2800000 | (hw << 21) | (imm16 << 5) | rd


def _a64_add_imm(rd: int, rn: int, imm12: int) -> int:  # add xd, xn|sp, #imm12
    return 0x91000000 | (imm12 << 10) | (rn << 5) | rd


def _a64_sub_imm(rd: int, rn: int, imm12: int) -> int:  # sub xd, xn|sp, #imm12
    return 0xD1000000 | (imm12 << 10) | (rn << 5) | rd


def _a64_mov_reg(rd: int, rm: int) -> int:  # orr xd, xzr, xm
    return 0xAA0003E0 | (rm << 16) | rd


_SP = 31
_A64_SVC0 = 0xD4000001


def _aarch64(text_addr: dict[int, int]) -> bytes:
    ins: list[int] = [
        _a64_sub_imm(_SP, _SP, _STACK),  # sub sp, sp, #400
        _a64_add_imm(0, _SP, 0),  # mov x0, sp
        _a64_movz(8, 160),  # mov x8, #160 (uname)
        _A64_SVC0,
        _a64_add_imm(20, _SP, _NODENAME),  # add x20, sp, #65
        _a64_movz(19, 0),  # mov x19, #0
        # loop: ldrb w2, [x20, x19] ; cbz w2, done ; add x19, x19, #1 ; b loop
        0x38606800 | (19 << 16) | (20 << 5) | 2,  # ldrb w2, [x20, x19]
        0x34000000 | (3 << 5) | 2,  # cbz w2, +12
        _a64_add_imm(19, 19, 1),  # add x19, x19, #1
        0x14000000 | (-3 & 0x3FFFFFF),  # b -12
    ]
    for i, piece in enumerate(_pieces()):
        ins += [_a64_movz(8, 64), _a64_movz(0, 1)]  # write(1, ...)
        if piece is None:
            ins += [_a64_mov_reg(1, 20), _a64_mov_reg(2, 19)]
        else:
            addr = text_addr.get(i, 0)
            ins += [
                _a64_movz(1, addr & 0xFFFF),
                _a64_movk(1, addr >> 16, 1),
                _a64_movz(2, len(piece)),
            ]
        ins.append(_A64_SVC0)
    ins += [_a64_movz(8, 94), _a64_movz(0, 0), _A64_SVC0]  # exit_group(0)
    return struct.pack(f"<{len(ins)}I", *ins)


_ARCHES = {
    # arch: (e_machine, assembler, p_align: arm64 kernels may use 64 KiB pages)
    "amd64": (EM_X86_64, _x86_64, 0x1000),
    "arm64": (EM_AARCH64, _aarch64, 0x10000),
}


def build_elf(arch: str) -> bytes:
    """A static ELF64 executable for ``arch`` ("amd64"/"x86_64" or "arm64"/"aarch64")."""
    name = _ARCH_ALIASES.get(arch)
    if name is None:
        raise Unsupported(f"hello-whale has no executable for architecture {arch}")
    machine, assemble, align = _ARCHES[name]
    pieces = _pieces()
    # Pass 1 learns the code size (addresses do not change it); pass 2 fills them in.
    code_len = len(assemble({}))
    addrs: dict[int, int] = {}
    offset = _HEADERS + code_len
    for i, piece in enumerate(pieces):
        if piece is not None:
            addrs[i] = BASE_VADDR + offset
            offset += len(piece)
    code = assemble(addrs)
    assert len(code) == code_len
    body = code + b"".join(p for p in pieces if p is not None)
    size = _HEADERS + len(body)
    entry = BASE_VADDR + _HEADERS
    ident = b"\x7fELF" + bytes([2, 1, 1, 0])  # ELFCLASS64, little-endian, EV_CURRENT, SYSV
    ehdr = _EHDR.pack(
        ident.ljust(16, b"\0"),
        2,  # ET_EXEC
        machine,
        1,  # EV_CURRENT
        entry,
        _EHDR.size,  # e_phoff: program headers right after this header
        0,  # e_shoff: no section headers
        0,  # e_flags
        _EHDR.size,
        _PHDR.size,
        2,  # e_phnum
        64,  # e_shentsize
        0,  # e_shnum
        0,  # e_shstrndx
    )
    load = _PHDR.pack(PT_LOAD, PF_R | PF_X, 0, BASE_VADDR, BASE_VADDR, size, size, align)
    stack = _PHDR.pack(PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0, 0, 16)
    return ehdr + load + stack + body
