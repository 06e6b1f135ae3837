from __future__ import annotations

import pytest

from minke.build.parser import parse
from minke.build.stages import (
    StageState,
    apply_metadata,
    copy_created_by,
    declare_args,
    global_args,
    needed,
    run_created_by,
    stages,
)
from minke.errors import InvalidArgument, NotFound

MULTI = """\
ARG BASE=busybox
ARG TAG
FROM $BASE:${TAG:-latest} AS build
RUN make
FROM scratch AS unused
COPY x y
FROM build AS test
FROM scratch
COPY --from=build /out /out
"""


def test_stages_and_global_args():
    df = parse(MULTI)
    ss = stages(df, {})
    assert [(s.name, s.base) for s in ss] == [
        ("build", "busybox:latest"), ("unused", "scratch"), ("test", "build"), ("", "scratch")]
    assert ss[3].deps == (0,)
    assert ss[2].deps == (0,)
    assert stages(df, {"TAG": "1.36"})[0].base == "busybox:1.36"
    assert global_args(df, {"BASE": "alpine"}) == {"BASE": "alpine"}


def test_needed_skips_unused_stages():
    ss = stages(parse(MULTI), {})
    assert [s.index for s in needed(ss, None)] == [0, 3]
    assert [s.index for s in needed(ss, "test")] == [0, 2]
    assert [s.index for s in needed(ss, "UNUSED")] == [1]
    with pytest.raises(NotFound, match="target stage \"nope\" could not be found"):
        needed(ss, "nope")


def test_stage_errors():
    with pytest.raises(InvalidArgument, match="duplicate stage name"):
        stages(parse("FROM a AS x\nFROM b AS x\n"), {})
    with pytest.raises(InvalidArgument, match="dockerfile:1: no build stage"):
        stages(parse("RUN x\nFROM a\n"), {})
    with pytest.raises(InvalidArgument, match="refers to current or future"):
        stages(parse("FROM a\nCOPY --from=1 a b\nFROM b\n"), {})
    with pytest.raises(InvalidArgument, match="dockerfile:2: base name"):
        stages(parse("ARG B\nFROM $B\n"), {})
    with pytest.raises(InvalidArgument, match="the dockerfile cannot be empty"):
        stages(parse("# only a comment\n"), {})


def test_arg_scoping_and_env_override():
    df = parse("ARG V=1\nFROM a\nARG V\nARG W=$V-x\nARG U\nENV V=env\n")
    body = stages(df, {})[0].instructions
    st = StageState({})
    g = global_args(df, {})
    declare_args(st, body[0], {}, g)
    declare_args(st, body[1], {}, g)
    declare_args(st, body[2], {}, g)
    assert st.args == {"V": "1", "W": "1-x"}
    apply_metadata(st, body[3])
    assert st.expansion_env()["V"] == "env"
    st2 = StageState({})
    declare_args(st2, body[0], {"V": "2"}, g)
    assert st2.args["V"] == "2"


def test_global_arg_not_visible_without_redeclaration():
    df = parse("ARG V=1\nFROM a\nLABEL v=$V\n")
    st = StageState({})
    apply_metadata(st, stages(df, {})[0].instructions[0])
    assert st.config["Labels"] == {"v": ""}


def test_metadata_config_and_history():
    df = parse("\n".join([
        "FROM a",
        "ENV A=1 B=\"two words\"",
        "LABEL l=$A",
        "EXPOSE 80 53/udp",
        "VOLUME /data $A",
        "USER app",
        "STOPSIGNAL SIGTERM",
        "CMD echo $A",
        "ENTRYPOINT [\"/e\"]",
        "SHELL [\"/bin/bash\", \"-c\"]",
        "HEALTHCHECK --interval=5s CMD true",
        "ONBUILD RUN x",
        "MAINTAINER me",
    ]))
    st = StageState({"Env": ["PATH=/bin"], "Cmd": ["sh"]})
    lines = [apply_metadata(st, i) for i in stages(df, {})[0].instructions]
    c = st.config
    assert c["Env"] == ["PATH=/bin", "A=1", "B=two words"]
    assert c["Labels"] == {"l": "1"}
    assert c["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert c["Volumes"] == {"/data": {}, "1": {}}
    assert c["User"] == "app" and c["StopSignal"] == "SIGTERM"
    assert c["Cmd"] == ["/bin/sh", "-c", "echo $A"]
    assert c["Entrypoint"] == ["/e"]
    assert c["Shell"] == ["/bin/bash", "-c"]
    assert c["Healthcheck"] == {"Test": ["CMD", "/bin/bash", "-c", "true"],
                                "Interval": 5_000_000_000}
    assert c["OnBuild"] == ["RUN x"]
    assert lines == [
        "ENV A=1 B=two words", "LABEL l=1", "EXPOSE map[53/udp:{} 80/tcp:{}]",
        "VOLUME [/data 1]", "USER app", "STOPSIGNAL SIGTERM",
        'CMD ["/bin/sh" "-c" "echo $A"]', 'ENTRYPOINT ["/e"]', "SHELL [/bin/bash -c]",
        'HEALTHCHECK ["CMD" "/bin/bash" "-c" "true"]', "ONBUILD RUN x", "MAINTAINER me"]


def test_entrypoint_resets_inherited_cmd():
    st = StageState({"Cmd": ["sh"]})
    apply_metadata(st, parse('ENTRYPOINT ["/e"]').instructions[0])
    assert st.config["Cmd"] is None


def test_expose_errors():
    with pytest.raises(InvalidArgument, match="dockerfile:1: invalid containerPort: 99999"):
        apply_metadata(StageState({}), parse("EXPOSE 99999").instructions[0])


def test_run_and_copy_created_by():
    run = parse("RUN echo hi").instructions[0]
    assert run_created_by(run, ["/bin/sh", "-c"], {}) == "RUN /bin/sh -c echo hi # buildkit"
    assert run_created_by(run, ["/bin/sh", "-c"], {"V": "1", "HTTP_PROXY": "x"}) == (
        "RUN |1 V=1 /bin/sh -c echo hi # buildkit")
    assert run_created_by(parse('RUN ["a", "b"]').instructions[0], [], {}) == (
        "RUN a b # buildkit")
    cp = parse("COPY --from=b app.py /dst").instructions[0]
    assert copy_created_by(cp) == "COPY --from=b app.py /dst # buildkit"
