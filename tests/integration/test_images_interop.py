"""save/load against the real tools: skopeo, umoci, oci-image-tool (Debian packages)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile

import pytest

pytestmark = pytest.mark.root


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        # scripts/test installs every tool; a missing one is a broken setup, not a skip.
        pytest.fail(f"{name} is not installed (scripts/test installs it)")
    return path


def run(*argv: str) -> str:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"{argv}: {p.stderr}"
    return p.stdout


def extract(archive: str, dest: str) -> str:
    os.makedirs(dest)
    # GNU tar, not tarfile.extractall: Debian's Python 3.11.2 predates its filter= argument.
    subprocess.run(["tar", "-xf", archive, "-C", dest], check=True)
    return dest


def image_ids(minke) -> list[str]:
    return minke("images", "-q", "--no-trunc").out.split()


def test_docker_archive_read_by_skopeo_and_back(minke, busybox_image, tmp_path):
    skopeo = tool("skopeo")
    archive = str(tmp_path / "bb.tar")
    assert minke("tag", "busybox", "example/second:v2").code == 0
    r = minke("save", "-o", archive, "busybox", "example/second:v2")
    assert r.code == 0, r
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest == [
        {
            "Config": "blobs/sha256/" + busybox_image[7:],
            "RepoTags": ["busybox:latest", "example/second:v2"],
            "Layers": manifest[0]["Layers"],
        }
    ]
    info = json.loads(run(skopeo, "inspect", f"docker-archive:{archive}:busybox:latest"))
    layers = json.loads(minke("image", "inspect", "-f", "{{json .RootFS.Layers}}", "busybox").out)
    assert info["Layers"] == layers and info["Os"] == "linux"
    cfg = json.loads(run(skopeo, "inspect", "--config", "--raw", f"docker-archive:{archive}:busybox:latest"))
    assert cfg["rootfs"]["diff_ids"] == layers

    # skopeo copies to an OCI layout and to a classic docker-archive; both load back as
    # the same image.
    oci_dir = str(tmp_path / "oci")
    run(skopeo, "copy", "-q", f"docker-archive:{archive}:busybox:latest", f"oci:{oci_dir}:latest")
    classic = str(tmp_path / "classic.tar")
    run(skopeo, "copy", "-q", f"docker-archive:{archive}:busybox:latest", f"docker-archive:{classic}:re/tagged:v1")
    assert minke("rmi", "-f", busybox_image).code == 0
    r = minke("load", "-i", oci_dir)
    assert r.code == 0, r
    assert r.out == f"Loaded image ID: {busybox_image}\n"
    r = minke("load", "-i", classic)
    assert r.code == 0, r
    assert r.out == "Loaded image: re/tagged:v1\n"
    assert image_ids(minke) == [busybox_image]
    # The OCI manifest skopeo wrote (gzip layers) is kept as the image's manifest digest.
    assert len(json.loads(minke("image", "inspect", "re/tagged:v1").out)[0]["RootFS"]["Layers"]) == 1


def test_oci_archive_valid_for_oci_image_tool_and_umoci(minke, busybox_image, tmp_path):
    validate = tool("oci-image-tool")
    umoci = tool("umoci")
    archive = str(tmp_path / "bb-oci.tar")
    r = minke("save", "--format", "oci-archive", "-o", archive, "busybox")
    assert r.code == 0, r
    layout = extract(archive, str(tmp_path / "layout"))
    index = json.load(open(os.path.join(layout, "index.json")))
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    assert "Validation succeeded" in run(validate, "validate", "--type", "image", layout)
    bundle = str(tmp_path / "bundle")
    run(umoci, "unpack", "--image", f"{layout}:latest", bundle)
    assert os.path.isfile(os.path.join(bundle, "rootfs", "bin", "busybox"))
    assert os.readlink(os.path.join(bundle, "rootfs", "bin", "sh")) == "busybox"

    # The docker-archive is an OCI layout too.
    docker_archive = str(tmp_path / "bb-docker.tar")
    assert minke("save", "-o", docker_archive, "busybox").code == 0
    d = extract(docker_archive, str(tmp_path / "docker-layout"))
    assert "Validation succeeded" in run(validate, "validate", "--type", "image", d)

    # Both load back as the same image, from the tar and from the directory.
    assert minke("rmi", "busybox").code == 0
    r = minke("load", "-i", archive)
    assert r.out == "Loaded image: busybox:latest\n", r
    assert minke("rmi", "busybox").code == 0
    r = minke("load", "-q", "-i", layout)
    assert r.out == "Loaded image: busybox:latest\n", r
    assert image_ids(minke) == [busybox_image]


def test_save_several_images_and_repository_name(minke, busybox_image, busybox_rootfs_tar, tmp_path):
    other = minke("import", "-c", "CMD sh", busybox_rootfs_tar, "other:1").out.strip()
    assert minke("tag", "busybox", "busybox:two").code == 0
    archive = str(tmp_path / "all.tar")
    # A repository name without a tag saves all of its tags.
    r = minke("save", "-o", archive, "busybox", "other:1")
    assert r.code == 0, r
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        index = json.load(tar.extractfile("index.json"))
    assert sorted(t for m in manifest for t in m["RepoTags"]) == ["busybox:latest", "busybox:two", "other:1"]
    assert len(index["manifests"]) == 3
    for ref in ("busybox:latest", "busybox:two", "other:1"):
        assert minke("rmi", ref).code == 0
    r = minke("load", "-i", archive)
    assert sorted(r.out.splitlines()) == [
        "Loaded image: busybox:latest",
        "Loaded image: busybox:two",
        "Loaded image: other:1",
    ]
    assert set(image_ids(minke)) == {busybox_image, other}
    # Saving the same images twice gives the same bytes.
    again = str(tmp_path / "again.tar")
    assert minke("save", "-o", again, "busybox", "other:1").code == 0
    assert open(archive, "rb").read() == open(again, "rb").read()


def test_load_replaces_a_tag_like_docker(minke, busybox_image, busybox_rootfs_tar, tmp_path):
    archive = str(tmp_path / "bb.tar")
    assert minke("save", "-o", archive, "busybox").code == 0
    other = minke("import", busybox_rootfs_tar, "busybox:latest").out.strip()
    r = minke("load", "-i", archive)
    assert r.out == (
        f"The image busybox:latest already exists, renaming the old one with ID {other} to empty string\n"
        "Loaded image: busybox:latest\n"
    )


def test_load_zstd_compressed(minke, busybox_image, tmp_path):
    import zstandard

    archive = str(tmp_path / "bb.tar")
    assert minke("save", "-o", archive, "busybox").code == 0
    with open(archive, "rb") as f:
        data = zstandard.ZstdCompressor().compress(f.read())
    with open(archive + ".zst", "wb") as f:
        f.write(data)
    assert minke("rmi", "busybox").code == 0
    r = minke("load", "-i", archive + ".zst")
    assert r.out == "Loaded image: busybox:latest\n", r
    assert image_ids(minke) == [busybox_image]


def test_save_hello_whale_accepted_by_skopeo(minke, tmp_path):
    skopeo = tool("skopeo")
    archive = str(tmp_path / "hw.tar")
    r = minke("save", "-o", archive, "hello-whale")
    assert r.code == 0, r
    info = json.loads(run(skopeo, "inspect", f"docker-archive:{archive}"))
    assert info["Labels"]["org.opencontainers.image.title"] == "hello-whale"
    oci_dir = str(tmp_path / "hw-oci")
    run(skopeo, "copy", "-q", f"docker-archive:{archive}", f"oci:{oci_dir}:latest")
    hw = json.loads(minke("image", "inspect", "hello-whale").out)[0]["Id"]
    assert minke("rmi", "hello-whale").code == 0
    assert minke("load", "-i", oci_dir).out == f"Loaded image ID: {hw}\n"


def _tar(members: dict[str, bytes]) -> bytes:
    import io

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_two_gzip_layers_with_a_whiteout(minke, tmp_path):
    """An OCI layout with two gzip layers (the second deletes a file of the first) loads
    into two chained snapshots; saved as docker-archive the layers become plain tars
    whose digests are the diff_ids, and that archive loads back as the same image."""
    import gzip
    import hashlib

    def sha(b: bytes) -> str:
        return "sha256:" + hashlib.sha256(b).hexdigest()

    l1 = _tar({"a/b.txt": b"b", "c.txt": b"c"})
    l2 = _tar({".wh.c.txt": b"", "a/new.txt": b"new"})
    z1, z2 = gzip.compress(l1, mtime=0), gzip.compress(l2, mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [sha(l1), sha(l2)]},
            "history": [{"created_by": "one"}, {"created_by": "two"}, {"created_by": "meta", "empty_layer": True}],
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(z), "size": len(z)}
                for z in (z1, z2)
            ],
        }
    ).encode()
    layout = tmp_path / "layout"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    for blob in (config, manifest, z1, z2):
        (layout / "blobs" / "sha256" / sha(blob)[7:]).write_bytes(blob)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": sha(manifest),
                        "size": len(manifest),
                        "annotations": {"io.containerd.image.name": "docker.io/example/two:layers", "org.opencontainers.image.ref.name": "layers"},
                    }
                ],
            }
        )
    )
    r = minke("load", "-i", str(layout))
    assert r.out == "Loaded image: example/two:layers\n", r
    doc = json.loads(minke("image", "inspect", "example/two:layers").out)[0]
    assert doc["Id"] == sha(config)
    assert doc["RootFS"]["Layers"] == [sha(l1), sha(l2)]
    assert doc["Size"] == len(b"b" + b"c" + b"new")
    gd = doc["GraphDriver"]["Data"]
    if doc["GraphDriver"]["Name"] == "overlay2":
        lower, upper = gd["LowerDir"], gd["UpperDir"]
        assert os.path.isfile(os.path.join(lower, "c.txt"))
        assert os.stat(os.path.join(upper, "c.txt")).st_rdev == 0  # overlay whiteout
        assert open(os.path.join(upper, "a", "new.txt")).read() == "new"
    else:
        assert not os.path.exists(os.path.join(gd["UpperDir"], "c.txt"))
    hist = minke("history", "--format", "{{.ID}} {{.CreatedBy}} {{.Size}}", "example/two:layers").out.splitlines()
    assert hist == [f"{sha(config)[7:19]} meta 0B", "<missing> two 3B", "<missing> one 2B"]

    archive = str(tmp_path / "two.tar")
    assert minke("save", "-o", archive, "example/two:layers").code == 0
    with tarfile.open(archive) as tar:
        m = json.load(tar.extractfile("manifest.json"))
    assert m[0]["Layers"] == ["blobs/sha256/" + sha(l1)[7:], "blobs/sha256/" + sha(l2)[7:]]
    skopeo = shutil.which("skopeo")
    if skopeo:
        info = json.loads(run(skopeo, "inspect", f"docker-archive:{archive}"))
        assert info["Layers"] == [sha(l1), sha(l2)]
    assert minke("rmi", "example/two:layers").code == 0
    assert minke("load", "-i", archive).out == "Loaded image: example/two:layers\n"
    assert image_ids(minke) == [sha(config)]


def test_concurrent_loads_of_one_archive(minke, minke_env, busybox_image, tmp_path):
    import sys

    archive = str(tmp_path / "bb.tar")
    assert minke("save", "-o", archive, "busybox").code == 0
    assert minke("rmi", "busybox").code == 0
    binary = os.path.join(os.path.dirname(sys.executable), "minke")
    procs = [
        subprocess.Popen([binary, "load", "-i", archive], env=minke_env.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out == b"Loaded image: busybox:latest\n"
    assert image_ids(minke) == [busybox_image]
    assert minke("rmi", "busybox").code == 0
    # Nothing left behind by the losers of the races: no blobs, no snapshots.
    assert os.listdir(os.path.join(minke_env.root, "blobs", "sha256")) == []
    snaps = os.path.join(minke_env.root, "snapshots")
    left = [d for _, dirs, _ in os.walk(snaps) for d in dirs if d.isdigit()]
    assert left == []
