"""Real builds checking what lands in the image: config fields, file modes and owners,
.dockerignore, ADD of a tar, a context on stdin.  Complements test_build_images.py."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

pytestmark = pytest.mark.root


def write(ctx, files: dict[str, str]) -> str:
    ctx.mkdir(exist_ok=True)
    for name, text in files.items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return str(ctx)


def config(minke, ref: str) -> dict:
    r = minke("image", "inspect", ref)
    assert r.code == 0, r
    return json.loads(r.out)[0]["Config"]


def sh(minke, ref: str, script: str) -> str:
    r = minke("run", "--rm", "--network", "none", "--entrypoint", "", "-u", "0", ref, "sh", "-c",
              script)
    assert r.code == 0, r
    return r.out


def test_metadata_instructions_fill_docker_config(minke, busybox_image, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "# escape=`\nARG BASE=busybox\nFROM ${BASE} AS base\n"
                      "ENV A=1 B=\"two words\"\nENV C 3\nUSER 1000:1000\n"
                      "ENTRYPOINT [\"/bin/sh\", \"-c\"]\nCMD [\"echo hi\"]\n"
                      "STOPSIGNAL SIGTERM\nHEALTHCHECK --interval=5s --retries=2 CMD echo ok\n"
                      "SHELL [\"/bin/sh\", \"-ec\"]\nVOLUME /data\nONBUILD RUN echo onbuild\n"
                      "RUN echo `\n  cont > /tmp/c\n",
    })
    r = minke("build", "-t", "meta", ctx)
    assert r.code == 0, r
    cfg = config(minke, "meta")
    assert cfg["Env"][1:] == ["A=1", "B=two words", "C=3"]
    assert cfg["User"] == "1000:1000"
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"] and cfg["Cmd"] == ["echo hi"]
    assert cfg["StopSignal"] == "SIGTERM" and cfg["Shell"] == ["/bin/sh", "-ec"]
    assert cfg["Healthcheck"]["Test"] == ["CMD-SHELL", "echo ok"]
    assert cfg["Healthcheck"]["Interval"] == 5_000_000_000 and cfg["Healthcheck"]["Retries"] == 2
    assert cfg["Volumes"] == {"/data": {}} and cfg["OnBuild"] == ["RUN echo onbuild"]
    # the RUN ran as USER 1000 with the SHELL set before it, the ` continuation joined
    assert sh(minke, "meta", "cat /tmp/c; stat -c %u /tmp/c").split() == ["cont", "1000"]
    h = minke("history", "--no-trunc", "--format", "{{.CreatedBy}}", "meta")
    assert "RUN /bin/sh -ec echo   cont > /tmp/c # buildkit" in h.out.splitlines()[0], h


def test_copy_keeps_existing_parents_and_applies_chown_chmod(minke, busybox_image, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nWORKDIR /app/sub\nCOPY a.txt /tmp/\n"
                      "COPY --chmod=0600 a.txt b.txt ./\n"
                      "COPY --chown=5:6 a.txt /new/dir/\n"
                      "COPY --from=busybox /bin/busybox /bb\n",
        "a.txt": "a\n", "b.txt": "b\n",
    })
    r = minke("build", "-t", "perm", ctx)
    assert r.code == 0, r
    out = sh(minke, "perm", "stat -c '%n %a %u:%g' /tmp /app /app/sub /app/sub/a.txt "
                            "/new /new/dir /new/dir/a.txt /tmp/a.txt; test -x /bb")
    assert out.splitlines() == [
        "/tmp 1777 0:0",  # an existing parent keeps its mode (not 0755)
        "/app 755 0:0",  # --chmod is for the files, not the directories on the way
        "/app/sub 755 0:0",
        "/app/sub/a.txt 600 0:0",
        "/new 755 5:6",  # parents COPY creates belong to the --chown user
        "/new/dir 755 5:6",
        "/new/dir/a.txt 644 5:6",
        "/tmp/a.txt 644 0:0",
    ]


def test_dockerignore_globstar_exceptions_and_add_tar(minke, busybox_image, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY src /s/\nADD arch.tar /x/\nCOPY src/a/*.txt /w/\n",
        ".dockerignore": "# comment\nsrc/**/*.log\n!src/b/keep.log\n",
        "src/a/f.txt": "f\n", "src/a/g.txt": "g\n", "src/b/deep/h.log": "h\n",
        "src/b/z.log": "z\n", "src/b/keep.log": "keep\n",
    })
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("in/tar.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"in\n"))
    (tmp_path / "ctx" / "arch.tar").write_bytes(buf.getvalue())
    r = minke("build", "-t", "ign", ctx)
    assert r.code == 0, r
    files = sh(minke, "ign", "find /s /x /w -type f | sort").split()
    assert files == ["/s/a/f.txt", "/s/a/g.txt", "/s/b/keep.log", "/w/f.txt", "/w/g.txt",
                     "/x/in/tar.txt"]


def test_context_tar_on_stdin_quiet_and_iidfile(minke, busybox_image, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in {"Dockerfile": b"FROM busybox\nCOPY m.txt /\n", "m.txt": b"m\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    iid = tmp_path / "iid"
    r = minke("build", "-q", "--iidfile", str(iid), "-t", "stdin", "-", input=buf.getvalue())
    assert r.code == 0, r
    image_id = r.out.strip()
    assert image_id.startswith("sha256:") and iid.read_text() == image_id
    assert sh(minke, image_id, "cat /m.txt") == "m\n"


def test_scratch_multistage_cache_and_changed_file(minke, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "FROM scratch AS a\nCOPY one.txt /one\n"
                      "FROM scratch AS b\nCOPY two.txt /two\n"
                      "FROM scratch\nCOPY --from=a /one /got/\nCOPY --from=b /two /got/\n",
        "one.txt": "1\n", "two.txt": "2\n",
    })
    r1 = minke("build", "-t", "sc", "--progress", "plain", ctx)
    assert r1.code == 0, r1
    r2 = minke("build", "-t", "sc", "--progress", "plain", ctx)
    assert r2.code == 0 and "cache miss" not in r2.err and r2.err.count("CACHED") == 4, r2.err
    (tmp_path / "ctx" / "two.txt").write_text("22\n")
    r3 = minke("build", "-t", "sc", "--progress", "plain", ctx)
    assert r3.code == 0, r3
    assert "cache miss: two.txt changed" in r3.err and "one.txt" not in r3.err.split(
        "cache miss")[-1], r3.err
    out = tmp_path / "o.tar"
    assert minke("save", "-o", str(out), "sc").code == 0
    contents = {}
    with tarfile.open(out) as tar:
        for m in tar.getmembers():
            f = tar.extractfile(m) if m.isfile() else None
            data = f.read() if f else b""
            try:
                with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                    for lm in layer.getmembers():
                        lf = layer.extractfile(lm) if lm.isfile() else None
                        if lf:
                            contents[lm.name] = lf.read()
            except tarfile.ReadError:
                pass
    assert contents == {"got/one": b"1\n", "got/two": b"22\n"}


def test_dockerfile_flag_is_relative_to_cwd_and_may_be_outside(minke, busybox_image, tmp_path,
                                                              monkeypatch):
    ctx = write(tmp_path / "ctx", {"Dockerfile.dev": "FROM busybox\nLABEL which=dev\n",
                                   "Dockerfile": "FROM busybox\nLABEL which=main\n"})
    write(tmp_path / "elsewhere", {"D": "FROM busybox\nLABEL which=outside\n"})
    monkeypatch.chdir(tmp_path)
    assert minke("build", "-t", "f1", "-f", "ctx/Dockerfile.dev", "ctx").code == 0
    assert config(minke, "f1")["Labels"] == {"which": "dev"}
    assert minke("build", "-t", "f2", "-f", "elsewhere/D", ctx).code == 0
    assert config(minke, "f2")["Labels"] == {"which": "outside"}
    r = minke("build", "-f", "Dockerfile.dev", "ctx")  # ./Dockerfile.dev does not exist
    assert r.code == 1 and "failed to read dockerfile" in r.err, r
    r = minke("build", "-f", "ctx/Nope", "ctx")
    assert r.code == 1 and "failed to read dockerfile" in r.err, r


def test_copy_into_existing_directory_and_through_symlinks(minke, busybox_image, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nRUN mkdir /exist /real && ln -s /real /link\n"
                      "COPY a.txt /exist\nCOPY a.txt /link/\nCOPY d /link/sub\n",
        "a.txt": "a\n", "d/x": "x\n",
    })
    r = minke("build", "-t", "dst", ctx)
    assert r.code == 0, r
    out = sh(minke, "dst", "readlink /link; find /exist /real | sort")
    assert out.split() == ["/real", "/exist", "/exist/a.txt", "/real", "/real/a.txt",
                           "/real/sub", "/real/sub/x"]


def test_arg_scoping_proxy_args_network_none_and_onbuild(minke, busybox_image, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "ARG G=global\nFROM busybox AS s0\nONBUILD RUN echo triggered > /trig\n"
                      "RUN echo \"g=[$G]\" > /g\n"
                      "FROM busybox\nARG G\nRUN echo \"g=[$G] p=[$HTTP_PROXY]\" > /g2\n"
                      "RUN --network=none sh -c 'ip link | grep -c \"^[0-9]\" > /nics'\n"
                      "COPY --from=0 /g /g\n",
        "Child": "FROM ob\nRUN cat /trig\n",
    })
    r = minke("build", "-t", "args", "--build-arg", "HTTP_PROXY=http://proxy:1", ctx)
    assert r.code == 0, r
    # a global ARG is seen in a stage only when the stage declares it again
    assert sh(minke, "args", "cat /g /g2 /nics").split("\n")[:3] == [
        "g=[]", "g=[global] p=[http://proxy:1]", "1"]
    h = minke("history", "--no-trunc", "--format", "{{.CreatedBy}}", "args")
    assert "proxy:1" not in h.out and "RUN |1 G=global" in h.out, h
    assert minke("build", "-t", "ob", "--target", "s0", ctx).code == 0
    r = minke("build", "-t", "child", "--progress", "plain", "-f", str(tmp_path / "ctx" / "Child"),
              ctx)
    assert r.code == 0 and "triggered" in r.err, r


def test_run_bind_mounts_of_the_context_never_write_to_it(minke, busybox_image, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\n"
                      "RUN --mount=type=bind,target=/src,rw touch /src/new && "
                      "echo x >> /src/a.txt && cat /src/a.txt > /out\n"
                      "RUN --mount=type=bind,source=a.txt,target=/one cat /one > /out2\n"
                      "RUN --mount=type=bind,target=/ro touch /ro/z || echo ro-ok > /out3\n",
        "a.txt": "a\n",
    })
    r = minke("build", "-t", "bind", ctx)
    assert r.code == 0, r
    assert sorted(os.listdir(ctx)) == ["Dockerfile", "a.txt"]
    assert (tmp_path / "ctx" / "a.txt").read_text() == "a\n"
    assert sh(minke, "bind", "cat /out /out2 /out3").split() == ["a", "x", "a", "ro-ok"]


def test_add_url_from_loopback_is_keyed_by_its_content(minke, busybox_image, tmp_path):
    import http.server
    import threading

    served = tmp_path / "srv"
    served.mkdir()
    (served / "file.txt").write_text("v1\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(served), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/file.txt"
        ctx = write(tmp_path / "ctx", {"Dockerfile": f"FROM busybox\nADD {url} /dl/\n"})
        assert minke("build", "-t", "url", ctx).code == 0
        assert sh(minke, "url", "stat -c %a /dl/file.txt; cat /dl/file.txt").split() == [
            "600", "v1"]
        r = minke("build", "-t", "url", "--progress", "plain", ctx)
        assert "CACHED" in r.err, r
        (served / "file.txt").write_text("v2\n")
        r = minke("build", "-t", "url", "--progress", "plain", ctx)
        assert r.code == 0 and "cache miss" in r.err and url in r.err, r
        assert sh(minke, "url", "cat /dl/file.txt") == "v2\n"
    finally:
        server.shutdown()
        server.server_close()


def test_workdir_exists_in_the_image_without_a_later_step(minke, busybox_image, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nWORKDIR /app\nUSER daemon\nCMD [\"pwd\"]\n",
        "Scratch": "FROM scratch\nWORKDIR /w\nCOPY a.txt /a\n", "a.txt": "a\n",
    })
    assert minke("build", "-t", "wd", ctx).code == 0
    r = minke("run", "--rm", "--network", "none", "wd")
    assert r.code == 0 and r.out == "/app\n", r
    # made as the USER at the WORKDIR line (root), not the final one
    assert sh(minke, "wd", "stat -c '%a %u' /app") == "755 0\n"
    r = minke("build", "-t", "wds", "-f", str(tmp_path / "ctx" / "Scratch"), ctx)
    assert r.code == 0, r
    h = minke("history", "--format", "{{.CreatedBy}}|{{.Size}}", "wds")
    # the WORKDIR layer sits at its own history entry, before the COPY layer
    assert h.out.splitlines() == ["COPY a.txt /a # buildkit|2B", "WORKDIR /w|0B"], h
    out = tmp_path / "wds.tar"
    assert minke("save", "-o", str(out), "wds").code == 0
    with tarfile.open(out) as tar:
        index = json.load(tar.extractfile("manifest.json"))
        layers = [tarfile.open(fileobj=io.BytesIO(tar.extractfile(name).read())).getnames()
                  for name in index[0]["Layers"]]
    assert [n.rstrip("/") for n in layers[0]] == ["w"] and layers[1] == ["a"]


def test_copy_through_a_symlink_out_of_the_context_is_refused(minke, busybox_image, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY a.txt /a\n"
                                                 "COPY etclink/passwd /p\n", "a.txt": "a\n"})
    os.symlink("/etc", tmp_path / "ctx" / "etclink")
    r = minke("build", ctx)
    assert r.code == 1, r
    assert "dockerfile:3: etclink/passwd: not found (outside the build context)" in r.err, r


def test_platform_flag_accepts_only_the_host(minke, busybox_image, tmp_path):
    from minke.oci.platform import host_platform

    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nLABEL a=b\n"})
    host = host_platform()
    assert minke("build", "-q", "--platform", f"linux/{host.architecture}", ctx).code == 0
    other = "arm64" if host.architecture != "arm64" else "amd64"
    r = minke("build", "--platform", f"linux/{other}", ctx)
    assert r.code == 1 and f"platform linux/{other} is not supported" in r.err, r


def test_dockerfile_on_stdin(minke, busybox_image, tmp_path):
    ctx = write(tmp_path / "ctx", {"a.txt": "a\n"})
    r = minke("build", "-t", "fin", "-f", "-", ctx, input=b"FROM busybox\nCOPY a.txt /a\n")
    assert r.code == 0, r
    assert sh(minke, "fin", "cat /a") == "a\n"
    r = minke("build", "-f", "-", "-", input=b"FROM busybox\n")
    assert r.code == 1 and "can't use stdin for both" in r.err, r


def test_run_heredoc_with_a_shebang_runs_as_a_script(minke, busybox_image, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nUSER daemon\nRUN <<EOF\n#!/bin/sh -e\n"
                      "echo \"script $0\" > /tmp/sb\nEOF\n",
    })
    r = minke("build", "-t", "shebang", ctx)
    assert r.code == 0, r
    out = sh(minke, "shebang", "cat /tmp/sb; ls -a /dev | grep -c heredoc || true")
    line, count = out.split("\n")[:2]
    assert line.startswith("script /dev/.minke-heredoc-") and count == "0", out


def test_run_mount_points_are_not_layer_content(minke, busybox_image, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nRUN echo > /tmp/x\n"
                      "RUN --mount=type=bind,source=a.txt,target=/one cat /one > /o\n",
        "a.txt": "a\n",
    })
    assert minke("build", "-t", "mp", ctx).code == 0
    out = tmp_path / "mp.tar"
    assert minke("save", "-o", str(out), "mp").code == 0
    with tarfile.open(out) as tar:
        index = json.load(tar.extractfile("manifest.json"))
        layers = [tarfile.open(fileobj=io.BytesIO(tar.extractfile(name).read())).getnames()
                  for name in index[0]["Layers"][1:]]
    # no etc/hosts, etc/resolv.conf (the host network's binds) nor /one (a file bind)
    assert layers == [["tmp", "tmp/x"], ["o"]]
