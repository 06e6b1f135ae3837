"""Bad input to load / import / tag / rmi: a one-line error naming what is wrong, a
non-zero exit, and the store exactly as it was (hashed before and after)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

import pytest

pytestmark = pytest.mark.root


def tar_bytes(members: dict[str, bytes | tuple[str, str]]) -> bytes:
    """A tar of name -> content, or name -> ("symlink"|"hardlink", target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type = tarfile.SYMTYPE if content[0] == "symlink" else tarfile.LNKTYPE
                info.linkname = content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def read_members(path: str) -> dict[str, bytes]:
    out = {}
    with tarfile.open(path) as tar:
        for m in tar:
            if m.isfile():
                out[m.name] = tar.extractfile(m).read()
    return out


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def saved(minke, busybox_image, tmp_path) -> dict[str, bytes]:
    path = str(tmp_path / "saved.tar")
    assert minke("save", "-o", path, "busybox").code == 0
    return read_members(path)


def small_layer() -> bytes:
    return tar_bytes({"hello.txt": b"hello\n"})


def docker_archive(layer: bytes, diff_id: str | None = None, tags=("small:1",), config_extra=None) -> dict[str, bytes]:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id or sha(layer)]},
        **(config_extra or {}),
    }
    cfg = json.dumps(config).encode()
    return {
        "cfg.json": cfg,
        "l1/layer.tar": layer,
        "manifest.json": json.dumps([{"Config": "cfg.json", "RepoTags": list(tags), "Layers": ["l1/layer.tar"]}]).encode(),
    }


def assert_fails(minke, minke_env, store_hash, archive: bytes, tmp_path, *expect: str) -> str:
    before = store_hash(minke_env.root)
    path = tmp_path / "bad.tar"
    path.write_bytes(archive)
    r = minke("load", "-i", str(path))
    assert r.code == 1, r
    assert r.out == ""
    assert r.err.startswith("Error: ") and r.err.count("\n") == 1, r.err
    for e in expect:
        assert e in r.err, r.err
    assert store_hash(minke_env.root) == before
    return r.err


def test_valid_handmade_archive_loads(minke, busybox_image, tmp_path):
    # The control for the cases below: the same construction, unbroken, loads.
    path = tmp_path / "ok.tar"
    path.write_bytes(tar_bytes(docker_archive(small_layer())))
    r = minke("load", "-i", str(path))
    assert r.code == 0 and r.out == "Loaded image: small:1\n", r


def test_garbage_and_empty(minke, minke_env, store_hash, busybox_image, tmp_path):
    assert_fails(minke, minke_env, store_hash, os.urandom(4096), tmp_path, "invalid archive")
    assert_fails(minke, minke_env, store_hash, b"", tmp_path, "invalid archive")
    assert_fails(minke, minke_env, store_hash, tar_bytes({"hello": b"x"}), tmp_path, "no manifest.json or index.json")


def test_truncated_archive(minke, minke_env, store_hash, saved, tmp_path):
    # Make the archive's layer blob new to the store, so a leftover would show.
    layer = tar_bytes({"data.bin": os.urandom(300_000)})
    whole = tar_bytes(docker_archive(layer))
    # Cut inside the layer's data, inside a header, and just before the manifest.
    for cut in (whole.find(b"data.bin") + 50_000, 700, whole.rfind(b"manifest.json") - 10):
        assert_fails(minke, minke_env, store_hash, whole[:cut], tmp_path)


def test_blob_digest_mismatch(minke, minke_env, store_hash, saved, tmp_path):
    members = dict(saved)
    manifest = json.loads(members["manifest.json"])
    layer_name = manifest[0]["Layers"][0]
    data = bytearray(members[layer_name])
    data[600] ^= 0xFF
    members[layer_name] = bytes(data)
    assert_fails(minke, minke_env, store_hash, tar_bytes(members), tmp_path, "digest mismatch", layer_name.split("/")[-1])


def test_layer_not_matching_its_diff_id(minke, minke_env, store_hash, busybox_image, tmp_path):
    layer = tar_bytes({"new.txt": os.urandom(1000)})
    wrong = "sha256:" + "0" * 64
    assert_fails(minke, minke_env, store_hash, tar_bytes(docker_archive(layer, diff_id=wrong)), tmp_path, wrong)


def test_classic_config_not_matching_its_name(minke, minke_env, store_hash, busybox_image, tmp_path):
    members = docker_archive(small_layer())
    name = "a" * 64 + ".json"
    members[name] = members.pop("cfg.json")
    members["manifest.json"] = members["manifest.json"].replace(b"cfg.json", name.encode())
    assert_fails(minke, minke_env, store_hash, tar_bytes(members), tmp_path, "does not match its digest")


def test_malformed_json(minke, minke_env, store_hash, saved, tmp_path):
    members = dict(saved)
    members["manifest.json"] = b'[{"Config": '
    assert_fails(minke, minke_env, store_hash, tar_bytes(members), tmp_path, "manifest.json", "malformed json")
    members = docker_archive(small_layer())
    members["cfg.json"] = b"{not json"
    assert_fails(minke, minke_env, store_hash, tar_bytes(members), tmp_path, "malformed json")
    members = docker_archive(small_layer())
    members["manifest.json"] = b'{"Config": "cfg.json"}'
    assert_fails(minke, minke_env, store_hash, tar_bytes(members), tmp_path, "manifest.json")


def oci_layout(layer: bytes, layer_type: str = "application/vnd.oci.image.layer.v1.tar", manifest_type: str | None = None):
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
            "layers": [{"mediaType": layer_type, "digest": sha(layer), "size": len(layer)}],
        }
    ).encode()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": manifest_type or "application/vnd.oci.image.manifest.v1+json",
                    "digest": sha(manifest),
                    "size": len(manifest),
                    "annotations": {"org.opencontainers.image.ref.name": "example.com/oci/image:1"},
                }
            ],
        }
    ).encode()
    return {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
        "index.json": index,
        "blobs/sha256/" + sha(config)[7:]: config,
        "blobs/sha256/" + sha(manifest)[7:]: manifest,
        "blobs/sha256/" + sha(layer)[7:]: layer,
    }


def test_oci_layout_control_and_unknown_media_types(minke, minke_env, store_hash, busybox_image, tmp_path):
    layer = tar_bytes({"oci.txt": os.urandom(100)})
    assert_fails(
        minke, minke_env, store_hash, tar_bytes(oci_layout(layer, layer_type="application/x-unknown")), tmp_path,
        "unsupported media type", "application/x-unknown",
    )
    assert_fails(
        minke, minke_env, store_hash, tar_bytes(oci_layout(layer, manifest_type="application/x-thing")), tmp_path,
        "application/x-thing",
    )
    missing = oci_layout(layer)
    del missing["blobs/sha256/" + sha(layer)[7:]]
    assert_fails(minke, minke_env, store_hash, tar_bytes(missing), tmp_path, "missing from the archive")
    path = tmp_path / "good.tar"
    path.write_bytes(tar_bytes(oci_layout(layer)))
    r = minke("load", "-i", str(path))
    assert r.code == 0 and r.out == "Loaded image: example.com/oci/image:1\n", r


def test_invalid_reference_in_archive(minke, minke_env, store_hash, busybox_image, tmp_path):
    members = docker_archive(small_layer(), tags=("UPPER:case",))
    assert_fails(minke, minke_env, store_hash, tar_bytes(members), tmp_path, "UPPER:case")


def test_archive_entries_escaping(minke, minke_env, store_hash, busybox_image, tmp_path):
    members = docker_archive(small_layer())
    members["../evil"] = b"x"
    assert_fails(minke, minke_env, store_hash, tar_bytes(members), tmp_path, "../evil")
    members = docker_archive(small_layer())
    members["l1/layer.tar"] = ("symlink", "../../outside.tar")
    assert_fails(minke, minke_env, store_hash, tar_bytes(members), tmp_path, "escapes")


def test_import_tar_with_path_escape(minke, minke_env, store_hash, busybox_image, tmp_path):
    before = store_hash(minke_env.root)
    refused = (
        {"../escaped.txt": b"x"},
        {"ok.txt": b"x", "hard": ("hardlink", "../../escaped.txt")},
    )
    for i, members in enumerate(refused):
        path = tmp_path / f"escape{i}.tar"
        path.write_bytes(tar_bytes(members))
        r = minke("import", str(path), "escape:1")
        assert r.code == 1, r
        assert r.err.startswith("Error: ") and "escape" in r.err and r.err.count("\n") == 1, r.err
        assert store_hash(minke_env.root) == before
    assert not (tmp_path / "escaped.txt").exists()

    # Absolute names and symlinked parents are re-rooted inside the layer (as Docker
    # does): accepted, and nothing lands outside.
    victim = tmp_path / "victim"
    path = tmp_path / "rerooted.tar"
    path.write_bytes(tar_bytes({"/abs.txt": b"a", "link": ("symlink", str(tmp_path)), "link/victim": b"v"}))
    r = minke("import", str(path), "rerooted:1")
    assert r.code == 0, r
    assert not victim.exists()
    upper = json.loads(minke("image", "inspect", "rerooted:1").out)[0]["GraphDriver"]["Data"]["UpperDir"]
    assert open(os.path.join(upper, "abs.txt"), "rb").read() == b"a"


def test_import_garbage_and_bad_reference(minke, minke_env, store_hash, busybox_image, busybox_rootfs_tar, tmp_path):
    before = store_hash(minke_env.root)
    path = tmp_path / "garbage"
    path.write_bytes(os.urandom(10_000))
    r = minke("import", str(path))
    assert r.code == 1 and r.err.count("\n") == 1, r
    r = minke("import", busybox_rootfs_tar, "Not/Valid")
    assert r.code == 1 and "must be lowercase" in r.err, r
    r = minke("tag", "busybox", "bad name")
    assert r.code == 1 and r.err == "Error: invalid reference format\n", r
    r = minke("rmi", "sha256:zzz")
    assert r.code == 1, r
    assert store_hash(minke_env.root) == before
