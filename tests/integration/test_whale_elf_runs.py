"""hello-whale's executables run and greet by the hostname of their UTS namespace."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from minke.images.whale_elf import build_elf, expected_output, host_arch

pytestmark = pytest.mark.root


def _write(tmp_path, arch):
    path = tmp_path / f"hello-{arch}"
    path.write_bytes(build_elf(arch))
    path.chmod(0o755)
    return str(path)


def test_host_binary_greets_by_hostname(tmp_path):
    exe = _write(tmp_path, host_arch())
    out = subprocess.run(["unshare", "--uts", "sh", "-c", f"hostname Willy && exec {exe}"],
                         capture_output=True, text=True, check=True)
    assert out.stdout == expected_output("Willy")
    out = subprocess.run([exe], capture_output=True, text=True, check=True)
    assert out.stdout == expected_output(os.uname().nodename)


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_other_arch_under_qemu_user(tmp_path, arch):
    if arch == host_arch():
        pytest.skip("the host architecture is tested natively")
    qemu = shutil.which({"arm64": "qemu-aarch64-static", "amd64": "qemu-x86_64-static"}[arch])
    if qemu is None:
        pytest.skip("qemu-user-static is not installed (optional, 380 MB): cross-arch run not checked")
    exe = _write(tmp_path, arch)
    out = subprocess.run(["unshare", "--uts", "sh", "-c", f"hostname Nemo && exec {qemu} {exe}"],
                         capture_output=True, text=True, check=True)
    assert out.stdout == expected_output("Nemo")
