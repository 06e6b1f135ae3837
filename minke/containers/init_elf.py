"""``--init``: minke's own minimal init, a static x86_64 ELF of a few hundred bytes.

Docker bind-mounts its ``docker-init`` (tini) at /sbin/docker-init; minke writes this
program instead, so ``--init`` needs nothing installed.  As PID 1 it

1. takes its command after an optional ``--`` (an absolute path: the engine resolves the
   name in the image's PATH before the start, since this program does not search PATH);
2. blocks every signal, forks, and in the child restores the mask and execve()s the
   command (exit 127 when it does not exist, 126 when it cannot run);
3. waits for signals with rt_sigtimedwait: SIGCHLD reaps every exited child (zombies of
   re-parented orphans too); any other signal is forwarded to the command;
4. when the command itself exits, exits with its code (128 + signal if it was killed),
   which ends the container.

The machine code is assembled from this source (GNU as, Intel syntax); ``CODE_X86_64`` is
``objcopy -O binary -j .text`` of it, and ``build_init`` wraps it in the smallest ELF the
kernel accepts (one PT_LOAD read+execute, PT_GNU_STACK non-executable)::

    _start: mov rbx,[rsp]; lea r12,[rsp+8]; lea r13,[r12+rbx*8+8]   # argc, argv, envp
            lea r14,[r12+8]; mov rax,[r14]; test rax,rax; jz nocmd
            cmp word ptr [rax],0x2d2d; jne 1f; cmp byte ptr [rax+2],0; jne 1f   # "--"
            add r14,8; cmp qword ptr [r14],0; je nocmd
    1:      sub rsp,160; mov qword ptr [rsp],-1                  # [rsp] all, [rsp+8] old
            rt_sigprocmask(SIG_BLOCK, rsp, rsp+8, 8); fork()
            child:  rt_sigprocmask(SIG_SETMASK, rsp+8, 0, 8); execve([r14], r14, r13)
                    exit_group(rax == -ENOENT ? 127 : 126)
    nocmd:  exit_group(125)
    parent: mov r15,rax
    wait:   rax = rt_sigtimedwait(rsp, rsp+16, 0, 8)
            if rax == SIGCHLD goto reap; if rax < 0 goto wait
            kill(r15, rax); goto wait
    reap:   rax = wait4(-1, rsp+144, WNOHANG, 0); if rax <= 0 goto wait
            if rax != r15 goto reap
            status = [rsp+144]; code = status & 0x7f ? 128 + (status & 0x7f) : status >> 8 & 0xff
            exit_group(code)

aarch64 hosts get ``Unsupported`` for ``--init`` until its encoding is written.
"""

from __future__ import annotations

import struct

from minke.errors import Unsupported

CODE_X86_64 = bytes.fromhex(
    "488b1c244c8d6424084d8d6cdc084d8d742408498b064885c00f848a0000006681382d2d751080780200"
    "750a4983c60849833e0074734881eca000000048c70424ffffffffb80e00000031ff488d3424488d5424"
    "0841ba080000000f05b8390000000f054885c0754cb80e000000bf02000000488d74240831d241ba0800"
    "00000f05498b3e4c89f64c89eab83b0000000f05bf7f0000004883f8fe7405bf7e000000b8e70000000f"
    "05bf7d000000b8e70000000f054989c7b880000000488d3c24488d74241031d241ba080000000f054883"
    "f81174144885c078dd4889c64c89ffb83e0000000f05ebceb83d00000048c7c7ffffffff488db4249000"
    "0000ba010000004531d20f054885c07eab4c39f875d88b84249000000089c783e77f750cc1e80825ff00"
    "000089c7eb0681c780000000b8e70000000f05"
)

_BASE = 0x400000
_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_PT_LOAD, _PT_GNU_STACK = 1, 0x6474E551
_PF_X, _PF_W, _PF_R = 1, 2, 4


def build_init(arch: str) -> bytes:
    """The init executable for ``arch`` (``platform.machine()`` spelling)."""
    if arch not in ("x86_64", "amd64"):
        raise Unsupported(f"--init: no built-in init for {arch} yet")
    code = CODE_X86_64
    head = _EHDR.size + 2 * _PHDR.size
    size = head + len(code)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little endian, SysV
    ehdr = _EHDR.pack(ident, 2, 0x3E, 1, _BASE + head, _EHDR.size, 0, 0, _EHDR.size, _PHDR.size, 2, 64, 0, 0)
    load = _PHDR.pack(_PT_LOAD, _PF_R | _PF_X, 0, _BASE, _BASE, size, size, 0x1000)
    stack = _PHDR.pack(_PT_GNU_STACK, _PF_R | _PF_W, 0, 0, 0, 0, 0, 16)
    return ehdr + load + stack + code
