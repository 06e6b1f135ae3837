"""Image commands end to end through the CLI, on a private root with real snapshots."""

from __future__ import annotations

import gzip
import json
import os
import tarfile

import pytest

pytestmark = pytest.mark.root


def inspect(minke, ref):
    r = minke("image", "inspect", ref)
    assert r.code == 0, r
    return json.loads(r.out)[0]


def test_import_inspect_history(minke, busybox_image):
    doc = inspect(minke, "busybox")
    assert doc["Id"] == busybox_image
    assert doc["RepoTags"] == ["busybox:latest"]
    assert doc["RepoDigests"] == []
    assert doc["Os"] == "linux" and doc["Architecture"] in ("amd64", "arm64")
    assert doc["RootFS"]["Type"] == "layers" and len(doc["RootFS"]["Layers"]) == 1
    assert doc["Size"] >= os.path.getsize("/bin/busybox")
    assert doc["GraphDriver"]["Name"] in ("overlay2", "vfs")
    upper = doc["GraphDriver"]["Data"]["UpperDir"]
    assert os.path.isfile(os.path.join(upper, "bin", "busybox"))
    assert os.readlink(os.path.join(upper, "bin", "sh")) == "busybox"
    assert doc["Metadata"]["LastTagTime"] == "0001-01-01T00:00:00Z"

    r = minke("history", "busybox")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert lines[1].startswith(busybox_image[7:19])
    assert "Imported from " in lines[1] and "MB" in lines[1]
    r = minke("history", "--no-trunc", "-H=false", "busybox")
    assert busybox_image in r.out and str(doc["Size"]) in r.out
    assert minke("history", "-q", "busybox").out == busybox_image[7:19] + "\n"
    r = minke("history", "--format", "{{.ID}}|{{.Comment}}", "busybox")
    assert r.out.startswith(busybox_image[7:19] + "|Imported from ")


def test_import_with_changes_message_and_stdin(minke, minke_proc, busybox_rootfs_tar, tmp_path):
    changes = [
        'CMD ["/bin/sh", "-c", "echo hi"]',
        "ENTRYPOINT /bin/busybox",
        "ENV A=1 B='two words'",
        "WORKDIR /work",
        "USER nobody",
        "EXPOSE 80 53/udp",
        "LABEL org.example=yes",
        'VOLUME ["/data"]',
        "STOPSIGNAL SIGINT",
    ]
    args = ["import", "-m", "my message"]
    for c in changes:
        args += ["-c", c]
    r = minke(*args, busybox_rootfs_tar, "example/app:1")
    assert r.code == 0, r
    cfg = inspect(minke, "example/app:1")["Config"]
    assert cfg["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c", "/bin/busybox"]
    assert cfg["Env"] == ["A=1", "B=two words"]
    assert cfg["WorkingDir"] == "/work" and cfg["User"] == "nobody"
    assert cfg["ExposedPorts"] == {"53/udp": {}, "80/tcp": {}}
    assert cfg["Labels"] == {"org.example": "yes"} and cfg["Volumes"] == {"/data": {}}
    assert cfg["StopSignal"] == "SIGINT"
    assert "my message" in minke("history", "example/app:1").out

    # gzip-compressed, from stdin, through the real executable: the same layer.
    with open(busybox_rootfs_tar, "rb") as f:
        gz = gzip.compress(f.read(), compresslevel=1)
    p = minke_proc("import", "-", "fromstdin")
    assert p.code == 1 and p.err == "Error: invalid rootfs tar -: the input is empty\n", p
    p = minke_proc("import", "-", "fromstdin", input=gz)
    assert p.code == 0, p
    assert inspect(minke, "fromstdin")["RootFS"] == inspect(minke, "example/app:1")["RootFS"]
    assert "Imported from -" in minke("history", "fromstdin").out

    r = minke("import", "-c", "RUN true", busybox_rootfs_tar)
    assert r.code == 1 and r.err == "Error: run is not a valid change command\n"
    r = minke("import", str(tmp_path / "missing.tar"))
    assert r.code == 1 and "no such file" in r.err


def test_images_listing(minke, busybox_image, busybox_rootfs_tar):
    r = minke("images")
    assert r.code == 0, r
    header, row = r.out.splitlines()
    assert header.split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert row.split()[:3] == ["busybox", "latest", busybox_image[7:19]]
    assert minke("tag", "busybox", "example.com:5000/team/bb:v1").code == 0
    untagged = minke("import", "-c", "LABEL kind=untagged", busybox_rootfs_tar).out.strip()

    assert minke("images", "-q").out.split() == [untagged[7:19], busybox_image[7:19], busybox_image[7:19]]
    assert minke("images", "-q", "--no-trunc").out.split()[0] == untagged
    rows = minke("images", "--format", "{{.Repository}}:{{.Tag}}").out.split()
    assert rows == ["<none>:<none>", "busybox:latest", "example.com:5000/team/bb:v1"]
    js = [json.loads(line) for line in minke("images", "--format", "json").out.splitlines()]
    assert js[1]["Repository"] == "busybox" and js[1]["ID"] == busybox_image[7:19]
    assert {"Containers", "CreatedAt", "CreatedSince", "Digest", "Size", "Tag"} <= set(js[1])
    t = minke("images", "--format", "table {{.Repository}}\t{{.Tag}}").out.splitlines()
    assert t[0].split() == ["REPOSITORY", "TAG"]
    assert "DIGEST" in minke("images", "--digests").out.splitlines()[0]

    q = lambda *a: minke("images", "-q", *a).out.split()  # noqa: E731
    assert q("--filter", "dangling=true") == [untagged[7:19]]
    assert q("--filter", "dangling=false") == [busybox_image[7:19]] * 2
    assert q("--filter", "label=kind=untagged") == [untagged[7:19]]
    assert q("--filter", "reference=busy*") == [busybox_image[7:19]]
    assert q("--filter", "reference=*/team/*") == [busybox_image[7:19]]
    assert q("busybox") == [busybox_image[7:19]]
    assert q("busybox:nope") == []
    assert q("--filter", f"since={busybox_image}") == [untagged[7:19]]
    assert q("--filter", f"before={untagged}") == [busybox_image[7:19]] * 2
    r = minke("images", "--filter", "bogus=1")
    assert r.code == 1 and r.err == "Error: invalid filter 'bogus'\n"


def test_tag_and_rmi(minke, busybox_image, minke_env):
    short = busybox_image[7:19]
    assert minke("tag", "busybox", "other:1").code == 0
    assert minke("tag", short, "other:2").code == 0
    assert inspect(minke, "other:1")["Metadata"]["LastTagTime"] != "0001-01-01T00:00:00Z"
    r = minke("rmi", short)
    assert r.code == 1
    assert r.err == f"Error: conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories\n"
    r = minke("rmi", "other:1", "nothere")
    assert r.code == 1 and r.out == "Untagged: other:1\n"
    assert r.err == "Error: No such image: nothere:latest\n"
    r = minke("rmi", "-f", short)
    assert r.code == 0, r
    assert r.out == f"Untagged: busybox:latest\nUntagged: other:2\nDeleted: {busybox_image}\n"
    assert minke("images", "-qa").out == ""
    # Garbage collected: no blob, no snapshot is left.
    blobs = os.path.join(minke_env.root, "blobs", "sha256")
    assert os.listdir(blobs) == []
    r = minke("tag", "nothere", "x")
    assert r.code == 1 and r.err == "Error: No such image: nothere:latest\n"
    r = minke("tag", "busybox", "Bad:Name")
    assert r.code == 1


def test_rmi_single_name_deletes_and_id_prefix(minke, busybox_image):
    r = minke("rmi", busybox_image[7:10])
    assert r.code == 0, r
    assert r.out == f"Untagged: busybox:latest\nDeleted: {busybox_image}\n"


def test_prune(minke, busybox_image, busybox_rootfs_tar):
    dangling = minke("import", busybox_rootfs_tar).out.strip()
    r = minke("image", "prune", "-f")
    assert r.code == 0, r
    assert r.out.startswith(f"Deleted Images:\ndeleted: {dangling}\n\nTotal reclaimed space: ")
    r = minke("image", "prune", "-f")
    assert r.out == "Total reclaimed space: 0B\n"
    r = minke("image", "prune", input=b"n\n")
    assert "Are you sure you want to continue? [y/N]" in r.out and minke("images", "-q").out
    r = minke("image", "prune", "-a", "-f", "--filter", "until=1h")
    assert minke("images", "-q").out.strip() == busybox_image[7:19]  # created just now
    r = minke("image", "prune", "-a", "-f")
    assert f"untagged: busybox:latest\ndeleted: {busybox_image}\n" in r.out
    assert minke("images", "-qa").out == ""


def test_inspect_command(minke, busybox_image):
    r = minke("inspect", "busybox")
    assert r.code == 0, r
    assert json.loads(r.out)[0]["Id"] == busybox_image
    r = minke("inspect", "--type", "image", "-f", "{{.Id}} {{.Os}}", "busybox")
    assert r.out == f"{busybox_image} linux\n"
    r = minke("image", "inspect", "-f", "{{json .RootFS.Layers}}", "busybox")
    assert json.loads(r.out) == inspect(minke, "busybox")["RootFS"]["Layers"]
    r = minke("inspect", "nothing-here")
    assert r.code == 1 and r.out == "[]\n" and r.err == "Error: No such object: nothing-here\n"
    r = minke("image", "inspect", "busybox", "nope")
    assert r.code == 1 and len(json.loads(r.out)) == 1 and r.err == "Error: No such image: nope:latest\n"


def test_hello_whale_builtin(minke, minke_env, tmp_path):
    assert minke("images", "-q").out == ""
    doc = inspect(minke, "hello-whale")
    assert doc["RepoTags"] == ["hello-whale:latest"]
    assert doc["Config"]["Cmd"] == ["/hello"]
    assert doc["Created"] == "2026-01-01T00:00:00Z"
    upper = doc["GraphDriver"]["Data"]["UpperDir"]
    with open(os.path.join(upper, "hello"), "rb") as f:
        assert f.read(4) == b"\x7fELF"
    assert os.stat(os.path.join(upper, "hello")).st_mode & 0o111
    r = minke("images")
    assert "hello-whale" in r.out and doc["Id"][7:19] in r.out
    # Every normalised name is the same image; removing and using it again rebuilds it
    # with the same ID (it is deterministic).
    for name in ("hello-whale:latest", "docker.io/library/hello-whale", "library/hello-whale"):
        assert inspect(minke, name)["Id"] == doc["Id"]
    assert minke("rmi", "hello-whale").code == 0
    assert minke("images", "-qa").out == ""
    assert inspect(minke, "docker.io/library/hello-whale:latest")["Id"] == doc["Id"]
    assert minke("image", "inspect", "hello-whale:v2").code == 1


def test_save_to_terminal_is_refused(minke_proc, busybox_image, minke_env):
    import pty
    import subprocess
    import sys

    minke_bin = os.path.join(os.path.dirname(sys.executable), "minke")
    master, slave = pty.openpty()
    try:
        p = subprocess.run([minke_bin, "save", "busybox"], stdout=slave, stderr=subprocess.PIPE, env=minke_env.env, timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    assert p.returncode == 1
    assert p.stderr == b"Error: cowardly refusing to save to a terminal. Use the -o flag or redirect\n"


def test_save_stdout_and_load_stdin(minke_proc, busybox_image, tmp_path):
    p = minke_proc("save", "busybox")
    assert p.code == 0, p
    archive = p.out_bytes
    with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
        names = set(tar.getnames())
    assert {"oci-layout", "index.json", "manifest.json", "repositories"} <= names
    assert minke_proc("rmi", "busybox").code == 0
    p = minke_proc("load", input=gzip.compress(archive, compresslevel=1))
    assert p.code == 0, p
    assert p.out == "Loaded image: busybox:latest\n"
    assert minke_proc("images", "-q", "--no-trunc").out.strip() == busybox_image


def test_save_errors(minke, busybox_image, tmp_path):
    r = minke("save", "-o", str(tmp_path / "no" / "such" / "dir.tar"), "busybox")
    assert r.code == 1 and r.err.startswith("Error: failed to save to ") and r.err.count("\n") == 1, r
    r = minke("save", "-o", str(tmp_path / "x.tar"), "busybox", "nothere")
    assert r.code == 1 and r.err == "Error: No such image: nothere:latest\n"
    assert not list(tmp_path.glob("x.tar*"))  # neither the file nor its temp is left
    r = minke("load", "-i", str(tmp_path / "missing.tar"))
    assert r.code == 1 and "no such file" in r.err


def test_rmi_and_prune_respect_containers(minke, busybox_image):
    r = minke("create", "--name", "user-of-busybox", "busybox", "true")
    assert r.code == 0, r
    cid = r.out.strip()
    try:
        short = busybox_image[7:19]
        r = minke("rmi", "busybox")
        assert r.code == 1
        assert r.err == (
            'Error: conflict: unable to remove repository reference "busybox" (must force) - '
            f"container {cid[:12]} is using its referenced image {short}\n"
        )
        r = minke("rmi", busybox_image)
        assert r.code == 1 and "(must be forced) - image is being used by stopped container" in r.err
        assert "deleted" not in minke("image", "prune", "-a", "-f").out
        # Forced: untagged, but kept for the container.
        assert minke("rmi", "-f", "busybox").out == "Untagged: busybox:latest\n"
        assert minke("images", "-q", "--no-trunc").out.split() == [busybox_image]
    finally:
        minke("rm", "-f", cid)
    assert f"deleted: {busybox_image}" in minke("image", "prune", "-f").out
