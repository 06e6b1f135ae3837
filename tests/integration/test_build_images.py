from __future__ import annotations

import io
import json
import os
import tarfile
import time

import pytest

pytestmark = pytest.mark.root


def write(ctx, files: dict[str, str]) -> str:
    ctx.mkdir(exist_ok=True)
    for name, text in files.items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return str(ctx)


def snapshot_keys(minke_env) -> set[str]:
    import sqlite3

    db = sqlite3.connect(os.path.join(minke_env.root, "minke.db"))
    try:
        return {r[0] for r in db.execute("SELECT key FROM snapshots")}
    finally:
        db.close()


def inspect(minke, ref):
    r = minke("image", "inspect", ref)
    assert r.code == 0, r
    return json.loads(r.out)[0]


def test_scratch_copy_metadata_and_history(minke, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "FROM scratch\nARG V=1\nENV A=$V\nCOPY app.txt /app/\n"
                      "COPY <<EOF /greeting\nhello $A\nEOF\n"
                      "WORKDIR /app\nEXPOSE 80\nLABEL v=$V\nCMD [\"/app/app.txt\"]\n",
        "app.txt": "app\n",
        "ignored.txt": "no\n",
        ".dockerignore": "ignored.txt\n",
    })
    r = minke("build", "-t", "t1", "--progress", "plain", ctx)
    assert r.code == 0, r
    info = inspect(minke, "t1")
    cfg = info["Config"]
    assert cfg["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                          "A=1"]
    assert cfg["WorkingDir"] == "/app" and cfg["Cmd"] == ["/app/app.txt"]
    assert cfg["ExposedPorts"] == {"80/tcp": {}} and cfg["Labels"] == {"v": "1"}
    h = minke("history", "--no-trunc", "--format", "{{.CreatedBy}}", "t1")
    assert h.code == 0, h
    assert "COPY app.txt /app/ # buildkit" in h.out
    out = tmp_path / "out.tar"
    assert minke("save", "-o", str(out), "t1").code == 0
    names = set()
    with tarfile.open(out) as tar:
        for m in tar.getmembers():
            if m.name.startswith("blobs/"):
                f = tar.extractfile(m)
                data = f.read() if f else b""
                try:
                    with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                        names |= set(layer.getnames())
                except tarfile.ReadError:
                    pass
    assert "app/app.txt" in names and "greeting" in names and "ignored.txt" not in names


def test_cache_hits_and_explanations(minke, busybox_image, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nARG VERSION=1\nCOPY app.py /app.py\n"
                      "RUN echo built-$VERSION > /v && cat /app.py\n",
        "app.py": "print(1)\n",
    })
    r1 = minke("build", "-t", "c", "--progress", "plain", ctx)
    assert r1.code == 0, r1
    assert "cache miss" in r1.err
    t0 = time.monotonic()
    r2 = minke("build", "-t", "c", "--progress", "plain", ctx)
    elapsed = time.monotonic() - t0
    assert r2.code == 0, r2
    assert r2.err.count("CACHED") == 2 and "cache miss" not in r2.err, r2.err
    assert elapsed < 1.0
    (tmp_path / "ctx" / "app.py").write_text("print(2)\n")
    r3 = minke("build", "--progress", "plain", ctx)
    assert "cache miss: app.py changed" in r3.err, r3.err
    assert "cache miss: parent step changed" in r3.err, r3.err
    r4 = minke("build", "--progress", "plain", "--build-arg", "VERSION=2", ctx)
    assert r4.code == 0, r4
    assert "cache miss: build arg VERSION changed from 1 to 2" in r4.err, r4.err
    r5 = minke("build", "--no-cache", "--progress", "plain", ctx)
    assert "CACHED" not in r5.err
    r6 = minke("run", "--rm", "c", "cat", "/v")
    assert r6.out.strip() == "built-1", r6


def test_multistage_copy_from_and_target(minke, busybox_image, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox AS build\nRUN mkdir /out && echo made > /out/x\n"
                      "FROM busybox AS never\nRUN exit 9\n"
                      "FROM scratch\nCOPY --from=build /out /data/\n",
    })
    r = minke("build", "-t", "ms", "--progress", "plain", ctx)
    assert r.code == 0, r
    assert "exit 9" not in r.err
    r = minke("build", "--target", "never", ctx)
    assert r.code != 0 and "exit code: 9" in r.err, r


def test_run_heredoc_and_cache_mount(minke, busybox_image, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nARG N=1\n"
                      "RUN --mount=type=cache,target=/cache <<EOF\n"
                      "echo $N >> /cache/runs\ncp /cache/runs /runs\nEOF\n",
    })
    assert minke("build", "-t", "hd", ctx).code == 0
    assert minke("build", "-t", "hd", "--build-arg", "N=2", ctx).code == 0
    r = minke("run", "--rm", "hd", "cat", "/runs")
    assert r.out.split() == ["1", "2"], r


def test_errors_name_the_line_and_leave_nothing(minke, minke_env, busybox_image, tmp_path):
    before = snapshot_keys(minke_env)
    cases = {
        "FROM busybox\nRUNN x\n": "dockerfile:2: unknown instruction: RUNN",
        "FROM busybox\nRUN echo some output; exit 3\n": "exit code: 3",
        "FROM busybox\nCOPY missing.txt /\n": "not found",
        "FROM busybox\nCOPY --from=nostage /a /b\n": "nostage",
        "FROM busybox\nCOPY Dockerfile /new\nRUN exit 4\n": "exit code: 4",
    }
    for i, (text, msg) in enumerate(cases.items()):
        ctx = write(tmp_path / f"c{i}", {"Dockerfile": text})
        r = minke("build", ctx)
        assert r.code != 0 and msg in r.err, r
    r = minke("build", write(tmp_path / "c9", {"Dockerfile": "FROM busybox\nRUN echo tail-line; exit 3\n"}))
    assert "tail-line" in r.err
    assert before and snapshot_keys(minke_env) == before
    assert not [d for d in os.listdir(os.path.join(minke_env.root, "tmp"))
                if d.startswith("minke-build-")]


def test_context_from_stdin_tar_with_dockerignore_exception(minke, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in [("Dockerfile", b"FROM scratch\nCOPY . /ctx/\n"),
                           (".dockerignore", b"*.log\n!keep.log\n"),
                           ("a.log", b"x"), ("keep.log", b"k"), ("src/m.txt", b"m")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    r = minke("build", "-q", "-", input=buf.getvalue())
    assert r.code == 0, r
    image_id = r.out.strip()
    assert image_id.startswith("sha256:")
    out = tmp_path / "o.tar"
    assert minke("save", "-o", str(out), image_id).code == 0
    names = set()
    with tarfile.open(out) as tar:
        for m in tar.getmembers():
            f = tar.extractfile(m) if m.isfile() else None
            if f is None:
                continue
            try:
                with tarfile.open(fileobj=io.BytesIO(f.read())) as layer:
                    names |= set(layer.getnames())
            except tarfile.ReadError:
                pass
    assert {"ctx/keep.log", "ctx/src/m.txt"} <= names
    assert "ctx/a.log" not in names


def test_add_tar_chown_chmod_user_and_history(minke, busybox_image, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    with tarfile.open(ctx / "bundle.tar", "w") as tar:
        info = tarfile.TarInfo("inner/file")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"in"))
    (ctx / "s.sh").write_text("echo s\n")
    (ctx / "Dockerfile").write_text(
        "FROM busybox\n"
        "ADD bundle.tar /x/\n"
        "COPY --chown=nobody:nogroup --chmod=750 s.sh /s.sh\n"
        "USER nobody\n"
        "RUN id -u > /tmp/uid; true\n"
        "RUN true\n")
    r = minke("build", "-t", "adds", str(ctx))
    assert r.code == 0, r
    r = minke("run", "--rm", "--user", "0", "adds", "sh", "-c",
              "cat /x/inner/file; echo; stat -c '%u %a' /s.sh; cat /tmp/uid")
    assert r.code == 0, r
    lines = r.out.split("\n")
    assert lines[0] == "in"
    uid = lines[1].split()[0]
    assert lines[1] == f"{uid} 750" and uid != "0"
    assert lines[2] == uid
    h = minke("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "adds")
    assert h.code == 0, h
    rows = h.out.splitlines()
    assert rows[0] == "RUN /bin/sh -c true # buildkit|0B", rows
    assert rows[1].startswith("RUN /bin/sh -c id -u > /tmp/uid; true # buildkit|"), rows
    assert rows[2].startswith("USER nobody|0B"), rows


def test_onbuild_triggers_and_unsupported_flags(minke, busybox_image, tmp_path):
    base = write(tmp_path / "base", {"Dockerfile": "FROM busybox\nONBUILD RUN echo trig > /t\n"})
    assert minke("build", "-t", "ob", base).code == 0
    assert inspect(minke, "ob")["Config"]["OnBuild"] == ["RUN echo trig > /t"]
    child = write(tmp_path / "child", {"Dockerfile": "FROM ob\nRUN cat /t\n"})
    r = minke("build", "-t", "obc", "--progress", "plain", child)
    assert r.code == 0, r
    assert "trig" in r.err
    assert not inspect(minke, "obc")["Config"].get("OnBuild")
    bad = write(tmp_path / "bad", {"Dockerfile": "FROM busybox\nCOPY --parents a /\n", "a": "1"})
    r = minke("build", bad)
    assert r.code != 0 and "dockerfile:2: COPY --parents is not supported yet" in r.err, r


def test_cached_rebuild_of_ten_steps_is_fast(minke_proc, busybox_image, tmp_path):
    steps = "".join(f"RUN echo {i} > /f{i}\n" if i % 2 else f"ENV V{i}={i}\n" for i in range(9))
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\n" + steps})
    assert minke_proc("build", "-q", ctx).code == 0
    t0 = time.monotonic()
    r = minke_proc("build", "-q", ctx)
    elapsed = time.monotonic() - t0
    assert r.code == 0, r
    assert elapsed < 1.0, elapsed


def test_add_url_from_loopback_and_network_none(minke, busybox_image, tmp_path):
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    (served / "hello.txt").write_text("from http\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        port = httpd.server_address[1]
        ctx = write(tmp_path / "ctx", {"Dockerfile":
            f"FROM busybox\nADD http://127.0.0.1:{port}/hello.txt /dl/\n"
            "RUN --network=none sh -c 'grep -c : /proc/net/dev > /ifaces'\n"})
        r = minke("build", "-t", "url", ctx)
        assert r.code == 0, r
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    r = minke("run", "--rm", "url", "sh", "-c", "cat /dl/hello.txt /ifaces")
    assert r.out.split("\n")[:2] == ["from http", "1"], r
