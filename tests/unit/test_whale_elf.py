"""hello-whale's hand-assembled executables: well-formed ELF for both architectures."""

from __future__ import annotations

import struct

import pytest

from minke.errors import Unsupported
from minke.images.whale_elf import (
    BASE_VADDR,
    HELLO_TEXT,
    HOSTNAME,
    build_elf,
    expected_output,
    host_arch,
)


def _headers(elf: bytes):
    ehdr = struct.unpack_from("<16sHHIQQQIHHHHHH", elf, 0)
    phdrs = [struct.unpack_from("<IIQQQQQQ", elf, ehdr[5] + i * ehdr[9]) for i in range(ehdr[10])]
    return ehdr, phdrs


@pytest.mark.parametrize(
    ("arch", "machine"), [("amd64", 62), ("x86_64", 62), ("arm64", 183), ("aarch64", 183)]
)
def test_elf_header_and_segment(arch, machine):
    elf = build_elf(arch)
    ehdr, phdrs = _headers(elf)
    ident, e_type, e_machine, e_version, e_entry, e_phoff, e_shoff = ehdr[:7]
    assert ident[:4] == b"\x7fELF" and ident[4] == 2 and ident[5] == 1  # ELF64, little endian
    assert (e_type, e_machine, e_version) == (2, machine, 1)  # ET_EXEC
    assert e_phoff == 64 and e_shoff == 0 and ehdr[8] == 64 and ehdr[9] == 56
    loads = [p for p in phdrs if p[0] == 1]
    assert len(loads) == 1
    _, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, p_align = loads[0]
    assert p_flags == 5 and p_offset == 0 and p_vaddr == BASE_VADDR  # R+X, never W
    assert p_filesz == p_memsz == len(elf)
    assert p_vaddr % p_align == p_offset % p_align
    assert p_vaddr + 120 <= e_entry < p_vaddr + p_filesz
    # PT_GNU_STACK without PF_X: the stack is not executable.
    stacks = [p for p in phdrs if p[0] == 0x6474E551]
    assert len(stacks) == 1 and stacks[0][1] & 1 == 0
    assert len(elf) < 2048


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_the_literal_text_is_in_the_file_and_addressed(arch):
    elf = build_elf(arch)
    for piece in HELLO_TEXT.split(HOSTNAME):
        assert piece.encode() in elf
    first = HELLO_TEXT.split(HOSTNAME)[0].encode()
    addr = BASE_VADDR + elf.index(first, 176)
    if arch == "amd64":
        assert b"\xbe" + struct.pack("<I", addr) in elf  # mov esi, <first piece>
    else:
        movz = 0xD2800000 | ((addr & 0xFFFF) << 5) | 1
        movk = 0xF2800000 | (1 << 21) | ((addr >> 16) << 5) | 1
        assert struct.pack("<II", movz, movk) in elf


def test_aarch64_code_is_the_expected_instructions():
    # The first words, checked against objdump -D -b binary -m aarch64 while writing it.
    elf = build_elf("arm64")
    words = struct.unpack_from("<10I", elf, 176)
    assert words == (
        0xD10643FF,  # sub sp, sp, #0x190
        0x910003E0,  # mov x0, sp
        0xD2801408,  # mov x8, #160 (uname)
        0xD4000001,  # svc #0
        0x910107F4,  # add x20, sp, #0x41
        0xD2800013,  # mov x19, #0
        0x38736A82,  # ldrb w2, [x20, x19]
        0x34000062,  # cbz w2, +12
        0x91000673,  # add x19, x19, #1
        0x17FFFFFD,  # b -12
    )
    end = struct.unpack_from("<3I", elf, elf.index(HELLO_TEXT[:12].encode()) - 12)
    assert end == (0xD2800BC8, 0xD2800000, 0xD4000001)  # exit_group(0)


def test_x86_64_code_starts_with_uname_and_ends_with_exit_group():
    elf = build_elf("amd64")
    # sub rsp, 400 ; mov eax, 63 (uname) ; mov rdi, rsp ; syscall
    assert elf[176:193] == bytes.fromhex("4881ec90010000" "b83f000000" "4889e7" "0f05")
    tail = elf[: elf.index(HELLO_TEXT[:12].encode())][-9:]
    assert tail == bytes.fromhex("b8e7000000" "31ff" "0f05")  # exit_group(0)


def test_deterministic():
    assert build_elf("amd64") == build_elf("amd64")
    assert build_elf("arm64") == build_elf("aarch64")


@pytest.mark.parametrize(
    ("machine", "arch"), [("x86_64", "amd64"), ("amd64", "amd64"), ("aarch64", "arm64"), ("arm64", "arm64")]
)
def test_host_arch(machine, arch):
    assert host_arch(machine) == arch


def test_host_arch_of_this_machine():
    import os

    assert host_arch() == {"x86_64": "amd64", "aarch64": "arm64"}[os.uname().machine]


@pytest.mark.parametrize("machine", ["riscv64", "s390x", "armv7l", ""])
def test_unsupported_architectures(machine):
    with pytest.raises(Unsupported, match="architecture"):
        host_arch(machine)
    with pytest.raises(Unsupported, match="architecture"):
        build_elf(machine)


def test_expected_output_names_the_container_and_explains():
    text = expected_output("Willy")
    lines = text.splitlines()
    assert lines[1] == "Hello from Willy, a minke container!"
    assert 'Whale("Willy")' in text and "An image is" in text and "A container is" in text
    assert "This container's hostname is Willy." in text
    assert HOSTNAME not in text and 8 <= len(lines) <= 12
