"""hello-whale's hand-assembled executables: well-formed ELF for both architectures."""

from __future__ import annotations

import struct

import pytest

from minke.errors import Unsupported
from minke.images.whale_elf import BASE, build_elf, expected_output, host_arch


@pytest.mark.parametrize(("arch", "machine"), [("amd64", 62), ("x86_64", 62), ("arm64", 183), ("aarch64", 183)])
def test_elf_header_and_segment(arch, machine):
    elf = build_elf(arch)
    assert elf[:4] == b"\x7fELF" and elf[4] == 2 and elf[5] == 1  # ELF64, little endian
    e_type, e_machine, _, e_entry, e_phoff = struct.unpack_from("<HHIQQ", elf, 16)
    assert (e_type, e_machine) == (2, machine)  # ET_EXEC
    phnum = struct.unpack_from("<H", elf, 56)[0]
    assert phnum == 1
    p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, _ = struct.unpack_from("<IIQQQQQQ", elf, e_phoff)
    assert p_type == 1 and p_flags == 5 and p_offset == 0 and p_vaddr == BASE
    assert p_filesz == p_memsz == len(elf)
    assert BASE + 120 <= e_entry < BASE + len(elf)
    assert len(elf) < 2048
    # The constant text is in the file, split where the hostname goes.
    assert b"a minke container!" in elf and b"minke run --rm --hostname Nemo hello-whale" in elf


def test_aarch64_instructions_are_word_aligned_and_end_in_svc():
    elf = build_elf("arm64")
    words = struct.unpack_from("<12I", elf, 120)
    assert words[3] == 0xD4000001  # svc #0 after setting x8 = uname
    assert words[2] == 0xD2800000 | (160 << 5) | 8


def test_deterministic():
    assert build_elf("amd64") == build_elf("amd64")


def test_host_arch_and_unsupported():
    assert host_arch("x86_64") == "amd64"
    assert host_arch("aarch64") == "arm64"
    with pytest.raises(Unsupported, match="riscv64"):
        host_arch("riscv64")
    with pytest.raises(Unsupported):
        build_elf("s390x")


def test_expected_output_names_the_container_twice_and_explains():
    text = expected_output("Willy")
    assert text.startswith("Hello from Willy, a minke container!\n")
    assert 'Whale("Willy")' in text and "An image is" in text and "A container is" in text
