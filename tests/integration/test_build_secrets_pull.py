"""build --secret (RUN --mount=type=secret) and --pull, with FROM images from a real
registry on loopback: a missing base is pulled, --pull takes the tag's new image, and a
secret reaches its RUN step without landing in any layer, the history or the config."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from tests.fixtures.registry import start_registry

pytestmark = pytest.mark.root


@pytest.fixture
def registry(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    reg = start_registry(str(tmp_path / "reg"))
    yield reg
    reg.stop()


def _ok(r):
    assert r.code == 0, r
    return r.out


def _layers_contain(minke, tmp_path, ref: str, needle: bytes) -> bool:
    out = tmp_path / "img.tar"
    _ok(minke("save", "-o", str(out), ref))
    with tarfile.open(out) as outer:
        for m in outer.getmembers():
            if not m.isfile():
                continue
            data = outer.extractfile(m).read()
            if needle in data:
                return True
            try:
                with tarfile.open(fileobj=io.BytesIO(data)) as inner:
                    for im in inner.getmembers():
                        if im.isfile() and needle in inner.extractfile(im).read():
                            return True
            except tarfile.TarError:
                pass
    return False


def test_secret_reaches_run_only_and_base_is_pulled(minke, busybox_image, registry, tmp_path):
    base = f"{registry.host}/lib/base:1"
    _ok(minke("tag", busybox_image, base))
    _ok(minke("push", base))
    _ok(minke("rmi", base))  # the build pulls it
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-value")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"FROM {base}\n"
        "RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /len\n"
        "RUN --mount=type=secret,id=tok,env=TOK,target=/s test ${#TOK} -eq 12 && test \"$(cat /s)\" = \"$TOK\"\n"
        "RUN --mount=type=secret,id=absent ls /run/secrets > /listing 2>&1 || true\n")
    r = minke("build", "-t", "withsecret", "--secret", f"id=tok,src={secret}", "--progress", "plain", str(ctx))
    _ok(r)
    assert "pulled" in r.err
    assert _ok(minke("run", "--rm", "--network", "none", "withsecret", "cat", "/len")).strip() == "12"
    assert not _layers_contain(minke, tmp_path, "withsecret", b"s3cr3t-value")
    hist = _ok(minke("history", "--no-trunc", "withsecret"))
    assert "s3cr3t" not in hist and "wc -c" in hist
    info = json.loads(_ok(minke("image", "inspect", "withsecret")))[0]
    assert "s3cr3t" not in json.dumps(info)
    # A required secret that was not given fails the step, naming it.
    (ctx / "Dockerfile").write_text(f"FROM {base}\nRUN --mount=type=secret,id=need,required true\n")
    r = minke("build", "-q", str(ctx))
    assert r.code != 0 and r.err == "Error: dockerfile:2: secret need not found\n"


def test_pull_takes_the_tags_new_image(minke, busybox_image, registry, tmp_path):
    base = f"{registry.host}/lib/moving:1"
    _ok(minke("tag", busybox_image, base))
    _ok(minke("push", base))
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {base}\nRUN cat /version 2>/dev/null || echo old\n")
    (ctx / "v2").mkdir()
    (ctx / "v2" / "Dockerfile").write_text(f"FROM {base}\nRUN echo new > /version\n")
    _ok(minke("build", "-t", base, str(ctx / "v2")))
    _ok(minke("push", base))
    _ok(minke("tag", busybox_image, base))  # the store's tag points at the old one again
    old = _ok(minke("build", "-q", str(ctx))).strip()
    new = _ok(minke("build", "-q", "--pull", str(ctx))).strip()
    assert old != new
    assert _ok(minke("run", "--rm", "--network", "none", new, "cat", "/version")).strip() == "new"
    assert _ok(minke("image", "inspect", "-f", "{{.Id}}", base)).strip() != busybox_image


def test_ssh_mount_binds_the_agent_socket_for_that_run_only(minke, busybox_image, tmp_path, monkeypatch):
    import socket

    sock_path = tmp_path / "agent.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        srv.bind(str(sock_path))
        srv.listen(1)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock_path))
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(
            f"FROM {busybox_image}\n"
            "RUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\" > /sock\n"
            "RUN --mount=type=ssh,id=other,target=/agent test -S /agent && test \"$SSH_AUTH_SOCK\" = /agent\n"
            "RUN test ! -e /run/buildkit/ssh_agent.0 && test -z \"$SSH_AUTH_SOCK\"\n")
        _ok(minke("build", "-q", "-t", "withssh", "--ssh", "default", "--ssh", f"other={sock_path}",
                  "--network", "none", str(ctx)))
        out = _ok(minke("run", "--rm", "--network", "none", "withssh", "sh", "-c",
                        "cat /sock; test ! -e /run/buildkit && test ! -e /agent && echo clean"))
        assert out == "/run/buildkit/ssh_agent.0\nclean\n", out
        # A required agent that was not given fails the step, naming it.
        (ctx / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN --mount=type=ssh,id=k,required true\n")
        r = minke("build", "-q", str(ctx))
        assert r.code != 0 and "ssh k not found" in r.err, r
        r = minke("build", "-q", "--ssh", f"x={tmp_path}", str(ctx))
        assert r.code != 0 and "is not a socket" in r.err, r
    finally:
        srv.close()
