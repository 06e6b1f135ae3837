"""hello-whale's executables run and greet by the hostname of their UTS namespace.

(Named ``_runs`` so its module name differs from tests/unit/test_whale_elf.py.)
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from minke.images.whale_elf import build_elf, expected_output, host_arch

pytestmark = pytest.mark.root

_QEMU = {"arm64": "qemu-aarch64-static", "amd64": "qemu-x86_64-static"}


def _write(tmp_path, arch):
    path = tmp_path / f"hello-{arch}"
    path.write_bytes(build_elf(arch))
    path.chmod(0o755)
    return str(path)


def _in_uts(hostname: str, *argv: str) -> subprocess.CompletedProcess:
    # A private UTS namespace, so setting the hostname leaves the machine's alone.
    cmd = 'hostname "$0" && exec "$@"'
    return subprocess.run(
        ["unshare", "--uts", "sh", "-c", cmd, hostname, *argv],
        capture_output=True, text=True, timeout=20,
    )


def test_host_binary_greets_by_uts_hostname(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("unshare --uts needs root")
    exe = _write(tmp_path, host_arch())
    for name in ("Willy", "Nemo", "a" * 64):
        out = _in_uts(name, exe)
        assert (out.returncode, out.stderr) == (0, "")
        assert out.stdout == expected_output(name)


def test_host_binary_run_directly_names_the_machine(tmp_path):
    exe = _write(tmp_path, host_arch())
    out = subprocess.run([exe], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0
    assert out.stdout == expected_output(os.uname().nodename)


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_other_arch_under_qemu_user(tmp_path, arch):
    if arch == host_arch():
        pytest.skip("the host architecture is tested natively")
    if os.geteuid() != 0:
        pytest.skip("unshare --uts needs root")
    qemu = shutil.which(_QEMU[arch])
    if qemu is None:
        pytest.skip(f"{_QEMU[arch]} not installed (Debian qemu-user-static): {arch} run not checked")
    exe = _write(tmp_path, arch)
    out = _in_uts("Nemo", qemu, exe)
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout == expected_output("Nemo")
