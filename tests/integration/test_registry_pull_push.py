"""pull, push, login, logout end to end against a real registry on loopback."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.fixtures.faulty_proxy import FaultyProxy
from tests.fixtures.registry import start_registry

pytestmark = pytest.mark.root


@pytest.fixture
def registry(tmp_path):
    reg = start_registry(str(tmp_path / "reg"))
    yield reg
    reg.stop()


@pytest.fixture(autouse=True)
def private_docker_config(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv("MINKE_CONFIG_DIR", str(tmp_path / "etc-minke"))
    (tmp_path / "etc-minke").mkdir()


def image_id(minke, ref: str) -> str:
    r = minke("image", "inspect", "-f", "{{.Id}}", ref)
    assert r.code == 0, r
    return r.out.strip()


def test_push_rmi_pull_gives_the_same_image(minke, busybox_image, registry, store_hash, minke_env):
    name = f"{registry.host}/test/busybox:1"
    assert minke("tag", "busybox", name).code == 0
    r = minke("push", name)
    assert r.code == 0, r
    assert "The push refers to repository" in r.out
    digest = r.out.strip().splitlines()[-1].split("digest: ")[1].split()[0]
    assert digest.startswith("sha256:")
    # A second push finds every layer there.
    r = minke("push", name)
    assert r.code == 0 and "Layer already exists" in r.out, r
    assert minke("rmi", "busybox", name).code == 0
    r = minke("pull", name)
    assert r.code == 0, r
    lines = r.out.strip().splitlines()
    assert lines[0] == "1: Pulling from test/busybox"
    assert f"Digest: {digest}" in lines
    assert f"Status: Downloaded newer image for {name}" in lines
    assert lines[-1] == name
    assert image_id(minke, name) == busybox_image
    r = minke("image", "inspect", "-f", "{{json .RepoDigests}}", name)
    assert json.loads(r.out) == [f"{registry.host}/test/busybox@{digest}"]
    r = minke("pull", "-q", name)
    assert r.code == 0 and r.out == f"{name}\n", r
    # By digest.
    r = minke("pull", f"{registry.host}/test/busybox@{digest}")
    assert r.code == 0, r


def test_pull_missing_image_is_a_clear_error(minke, registry, store_hash, minke_env):
    assert minke("images").code == 0  # the store exists
    before = store_hash(minke_env.root)
    r = minke("pull", f"{registry.host}/no/such:thing")
    assert r.code == 1
    assert r.err.startswith("Error: ") and "manifest unknown" in r.err and r.err.count("\n") == 1, r
    assert store_hash(minke_env.root) == before


def test_corrupt_and_truncated_blobs_are_rejected_and_the_store_stays_clean(minke, busybox_image, registry,
                                                                           store_hash, minke_env):
    name = f"{registry.host}/test/bb:1"
    minke("tag", "busybox", name)
    assert minke("push", name).code == 0
    proxy = FaultyProxy(registry.host)
    try:
        assert minke("rmi", "busybox", name).code == 0
        assert minke("image", "prune", "-a", "-f").code == 0
        before = store_hash(minke_env.root)
        via = f"{proxy.host}/test/bb:1"
        proxy.mode = "corrupt"
        r = minke("pull", via)
        assert r.code == 1 and "digest mismatch" in r.err and "sha256:" in r.err, r
        assert store_hash(minke_env.root) == before
        # A dropped connection is retried and resumed with a Range request.
        proxy.mode = "drop-once"
        proxy.blob_gets.clear()
        r = minke("pull", via)
        assert r.code == 0, r
        assert any(rng for _, rng in proxy.blob_gets), proxy.blob_gets
        assert image_id(minke, via) == busybox_image
    finally:
        proxy.stop()


def test_mirror_serves_docker_hub_names(minke, busybox_image, registry, tmp_path):
    # The mirror holds library/busybox; docker.io itself is never contacted.
    mirror_name = f"{registry.host}/library/busybox:latest"
    minke("tag", "busybox", mirror_name)
    assert minke("push", mirror_name).code == 0
    assert minke("rmi", "busybox", mirror_name).code == 0
    (tmp_path / "etc-minke" / "registries.json").write_text(
        json.dumps({"registry-mirrors": [f"http://{registry.host}"]}))
    r = minke("pull", "busybox")
    assert r.code == 0, r
    assert r.out.strip().splitlines()[-1] == "docker.io/library/busybox:latest"
    assert image_id(minke, "busybox") == busybox_image


def test_login_logout_with_htpasswd(minke, busybox_image, tmp_path):
    bcrypt = pytest.importorskip("bcrypt")
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("alice:" + bcrypt.hashpw(b"pw", bcrypt.gensalt(5, prefix=b"2a")).decode() + "\n")
    reg = start_registry(str(tmp_path / "reg"), auth="htpasswd", htpasswd_file=str(htpasswd))
    try:
        name = f"{reg.host}/private/bb:1"
        minke("tag", "busybox", name)
        r = minke("push", name)
        assert r.code == 1 and "unauthorized" in r.err, r
        r = minke("login", "-u", "alice", "--password-stdin", reg.host, input=b"wrong\n")
        assert r.code == 1, r
        r = minke("login", "-u", "alice", "--password-stdin", reg.host, input=b"pw\n")
        assert r.code == 0 and r.out == "Login Succeeded\n", r
        cfg = json.loads((tmp_path / "docker-config" / "config.json").read_text())
        assert reg.host in cfg["auths"]
        assert minke("push", name).code == 0
        r = minke("logout", reg.host)
        assert r.out == f"Removing login credentials for {reg.host}\n"
        assert minke("pull", name).code == 1
    finally:
        reg.stop()


def test_interop_with_skopeo_both_ways(minke, busybox_image, registry, tmp_path):
    name = f"{registry.host}/interop/bb:minke"
    minke("tag", "busybox", name)
    r = minke("push", name)
    assert r.code == 0, r
    digest = r.out.strip().splitlines()[-1].split("digest: ")[1].split()[0]
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{name}"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["Digest"] == digest
    # skopeo pushes, minke pulls; the digests match.
    subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--src-tls-verify=false",
                    f"docker://{name}", f"docker://{registry.host}/interop/bb:skopeo"],
                   capture_output=True, check=True)
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{registry.host}/interop/bb:skopeo"],
                         capture_output=True, text=True, check=True).stdout
    skopeo_digest = json.loads(out)["Digest"]
    r = minke("pull", f"{registry.host}/interop/bb:skopeo")
    assert r.code == 0, r
    assert f"Digest: {skopeo_digest}" in r.out
    assert image_id(minke, f"{registry.host}/interop/bb:skopeo") == busybox_image


def test_multi_platform_index_chooses_the_host_platform_or_the_asked_one(minke, registry, tmp_path):
    import io
    import tarfile

    from minke.oci.digest import sha256_digest
    from minke.oci.platform import host_platform
    from minke.registry.client import RegistryClient
    from minke.registry.hosts import RegistryConfig

    def layer(text: bytes) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            info = tarfile.TarInfo("which")
            info.size = len(text)
            t.addfile(info, io.BytesIO(text))
        return buf.getvalue()

    (ep,) = RegistryConfig().endpoints(registry.host)
    entries = []
    host = host_platform()
    with RegistryClient(ep) as c:
        for arch, variant in ((host.architecture, host.variant), ("s390x", None)):
            lay = layer(arch.encode())
            cfg = json.dumps({"architecture": arch, "os": "linux", **({"variant": variant} if variant else {}),
                              "rootfs": {"type": "layers", "diff_ids": [sha256_digest(lay)]}}).encode()
            for blob in (lay, cfg):
                c.upload_blob("multi/app", sha256_digest(blob), len(blob), iter([blob]))
            man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                              "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                         "digest": sha256_digest(cfg), "size": len(cfg)},
                              "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                          "digest": sha256_digest(lay), "size": len(lay)}]}).encode()
            d = c.put_manifest("multi/app", sha256_digest(man), man, "application/vnd.oci.image.manifest.v1+json")
            plat = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
            entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d,
                            "size": len(man), "platform": plat})
        index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                            "manifests": entries}).encode()
        index_digest = c.put_manifest("multi/app", "1", index, "application/vnd.oci.image.index.v1+json")
    name = f"{registry.host}/multi/app:1"
    r = minke("pull", name)
    assert r.code == 0 and f"Digest: {index_digest}" in r.out, r
    assert minke("image", "inspect", "-f", "{{.Architecture}}", name).out.strip() == host.architecture
    r = minke("pull", "--platform", "linux/s390x", name)
    assert r.code == 0, r
    assert minke("image", "inspect", "-f", "{{.Architecture}}", name).out.strip() == "s390x"
    r = minke("pull", "--platform", "linux/mips64", name)
    assert r.code == 1 and "no matching manifest for linux/mips64" in r.err, r


def test_pull_all_tags(minke, busybox_image, registry):
    for tag in ("a", "b"):
        assert minke("tag", "busybox", f"{registry.host}/all/bb:{tag}").code == 0
        assert minke("push", f"{registry.host}/all/bb:{tag}").code == 0
    assert minke("rmi", f"{registry.host}/all/bb:a", f"{registry.host}/all/bb:b").code == 0
    r = minke("pull", "-a", f"{registry.host}/all/bb")
    assert r.code == 0, r
    for tag in ("a", "b"):
        assert image_id(minke, f"{registry.host}/all/bb:{tag}") == busybox_image
    r = minke("pull", "-a", f"{registry.host}/all/bb:a")
    assert r.code == 1 and "tag can't be used with --all-tags/-a" in r.err, r


def test_run_pulls_what_is_missing(minke, busybox_image, registry):
    name = f"{registry.host}/run/bb:1"
    minke("tag", "busybox", name)
    assert minke("push", name).code == 0
    assert minke("rmi", name).code == 0
    r = minke("run", "--rm", "--pull", "never", name, "true")
    assert r.code == 125, r
    r = minke("run", "--rm", name, "echo", "pulled")
    assert r.code == 0, r
    assert r.out == "pulled\n"
    assert f"Unable to find image '{name}' locally" in r.err and "Pull complete" in r.err
    r = minke("run", "--rm", "-q", "--pull", "always", name, "true")
    assert r.code == 0 and "Pull complete" not in r.err, r
