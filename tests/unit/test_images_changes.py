from __future__ import annotations

import pytest

from minke.errors import InvalidArgument, Unsupported
from minke.images.changes import apply_changes, split_words


def test_cmd_exec_and_shell_forms():
    assert apply_changes({}, ['CMD ["/bin/sh", "-c", "echo hi"]'])["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert apply_changes({}, ["CMD echo hi there"])["Cmd"] == ["/bin/sh", "-c", "echo hi there"]
    assert apply_changes({}, ['ENTRYPOINT ["/bin/busybox"]'])["Entrypoint"] == ["/bin/busybox"]
    # Not valid JSON: shell form, as Dockerfile does.
    assert apply_changes({}, ["CMD [oops"])["Cmd"] == ["/bin/sh", "-c", "[oops"]


def test_env_forms_and_override():
    cfg = apply_changes({"Env": ["A=1", "B=2"]}, ['ENV A=x C="two words" D=a\\ b', "ENV E legacy value"])
    assert cfg["Env"] == ["B=2", "A=x", "C=two words", "D=a b", "E=legacy value"]


def test_label_workdir_user_expose_volume_stopsignal():
    cfg = apply_changes(
        {},
        [
            'LABEL a=b "c d"="e f"',
            "WORKDIR /app",
            "WORKDIR sub",
            "USER 1000:1000",
            "EXPOSE 80 53/udp 8000-8002",
            'VOLUME ["/data", "/logs"]',
            "VOLUME /cache",
            "STOPSIGNAL SIGINT",
            "onbuild RUN true",
        ],
    )
    assert cfg["Labels"] == {"a": "b", "c d": "e f"}
    assert cfg["WorkingDir"] == "/app/sub"
    assert cfg["User"] == "1000:1000"
    assert cfg["ExposedPorts"] == {p: {} for p in ("80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp")}
    assert cfg["Volumes"] == {"/data": {}, "/logs": {}, "/cache": {}}
    assert cfg["StopSignal"] == "SIGINT"
    assert cfg["OnBuild"] == ["RUN true"]


def test_input_is_not_modified():
    base = {"Env": ["A=1"]}
    apply_changes(base, ["ENV B=2"])
    assert base == {"Env": ["A=1"]}


@pytest.mark.parametrize(
    "change,message",
    [
        ("RUN echo", "run is not a valid change command"),
        ("FROM x", "from is not a valid change command"),
        ("CMD", "CMD requires at least one argument"),
        ("EXPOSE 80/xyz", "invalid proto: xyz"),
        ("EXPOSE 9-1", "invalid range"),
        ("EXPOSE abc", "invalid containerPort: abc"),
        ("LABEL novalue", "LABEL must have two arguments"),
        ("USER a b", "USER requires exactly one argument"),
        ('ENV A="unterminated', "unmatched quote"),
    ],
)
def test_bad_changes(change, message):
    with pytest.raises(InvalidArgument) as e:
        apply_changes({}, [change])
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_healthcheck_is_refused_clearly():
    with pytest.raises(Unsupported):
        apply_changes({}, ["HEALTHCHECK CMD true"])


def test_split_words():
    assert split_words("a 'b c' \"d \\\" e\" f\\ g") == ["a", "b c", 'd " e', "f g"]
    assert split_words("x=''") == ["x="]
