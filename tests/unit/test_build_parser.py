from __future__ import annotations

import pytest

from minke.build.parser import FLAGS, parse, parse_duration, parse_mount, split_words
from minke.errors import InvalidArgument


def one(text: str):
    (inst,) = parse(text).instructions
    return inst


def test_every_instruction_parses():
    text = "\n".join([
        "FROM --platform=linux/amd64 busybox:1 AS Build",
        "RUN echo hi",
        'CMD ["a", "b"]',
        'LABEL a=1 "b c"="d e"',
        "EXPOSE 80/tcp 53/udp",
        "ENV A=1 B=2",
        "ADD --chown=1:2 --chmod=644 a.tar /x/",
        "COPY --from=build --link /src /dst",
        "ENTRYPOINT exec thing",
        "VOLUME /data /logs",
        "USER nobody:nogroup",
        "WORKDIR /app",
        "ARG V=1",
        "ONBUILD RUN make",
        "STOPSIGNAL SIGKILL",
        "HEALTHCHECK NONE",
        'SHELL ["/bin/bash", "-c"]',
        "MAINTAINER me",
    ])
    insts = parse(text).instructions
    assert [i.cmd for i in insts] == [
        "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
        "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
        "MAINTAINER"]
    assert set(FLAGS) == {i.cmd for i in insts}
    assert insts[0].args == ("busybox:1", "build")
    assert insts[0].flag("platform") == "linux/amd64"
    assert insts[2].json and insts[2].args == ("a", "b")
    assert insts[3].args == ("a=1", '"b c"="d e"')
    assert insts[4].args == ("80/tcp", "53/udp")
    assert insts[6].flag("chown") == "1:2" and insts[6].flag("chmod") == "644"
    assert insts[7].flag("from") == "build" and insts[7].flag("link") == "true"
    assert insts[8].args == ("exec thing",) and not insts[8].json
    assert insts[9].args == ("/data", "/logs")
    assert insts[13].sub is not None and insts[13].sub.cmd == "RUN"
    assert insts[16].args == ("/bin/bash", "-c")
    assert [i.line for i in insts] == list(range(1, 19))


def test_instructions_case_insensitive():
    assert one("run echo").cmd == "RUN"
    assert one("from x as y").args == ("x", "y")


def test_directives():
    df = parse("# syntax=docker/dockerfile:1\n# check=skip=all\n#escape=`\nFROM a\n")
    assert df.escape == "`"
    assert df.directive("syntax") == "docker/dockerfile:1"
    assert df.directive("check") == "skip=all"


def test_directive_after_comment_is_comment():
    df = parse("# hello\n# escape=`\nFROM a\nRUN a \\\n b\n")
    assert df.escape == "\\"
    assert df.instructions[1].args == ("a  b",)


def test_directive_after_blank_line_is_comment():
    assert parse("\n# escape=`\nFROM a\n").escape == "\\"


def test_bad_escape_and_repeated_directive():
    with pytest.raises(InvalidArgument, match="dockerfile:1: invalid escape"):
        parse("# escape=x\nFROM a\n")
    with pytest.raises(InvalidArgument, match="dockerfile:2: only one escape"):
        parse("# escape=`\n# escape=\\\nFROM a\n")


def test_backtick_escape_continuation():
    df = parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo\n")
    assert df.instructions[1].args == ("dir c:\\   && echo",)


def test_continuation_with_comment_and_empty_lines():
    df = parse("FROM a\nRUN echo a \\\n# inner comment\n\n   \\\n  b\nRUN next\n")
    run = df.instructions[1]
    assert run.args == ("echo a      b",)
    assert run.line == 2
    assert df.instructions[2].line == 7


def test_continuation_trailing_spaces_after_escape():
    assert one("RUN a \\   \n b").args == ("a  b",)


def test_continuation_at_eof():
    assert one("RUN a \\").args == ("a",)


def test_comments_and_indentation():
    df = parse("  # comment\n\tFROM a\n   RUN x # not a comment\n")
    assert df.instructions[1].args == ("x # not a comment",)


def test_crlf_and_bom():
    df = parse("\ufeffFROM a\r\nRUN b\r\n")
    assert [i.args for i in df.instructions] == [("a",), ("b",)]


def test_json_vs_shell_form():
    assert one('CMD ["echo", "hi"]').json
    assert not one("CMD [echo, hi]").json
    assert one("CMD [echo, hi]").args == ("[echo, hi]",)
    assert not one('CMD ["a", 1]').json
    assert one('ENTRYPOINT []').args == ()
    assert one('RUN ["sh", "-c", "x"]').json


def test_heredoc_run():
    inst = one("RUN <<EOF\necho $A\necho b\nEOF\n")
    (h,) = inst.heredocs
    assert h.name == "EOF" and h.content == "echo $A\necho b\n" and h.expand
    assert inst.args == ("<<EOF",)


def test_heredoc_tab_strip():
    inst = one("RUN <<-EOT\n\techo a\n\t\techo b\n\tEOT\n")
    assert inst.heredocs[0].content == "echo a\necho b\n"
    assert inst.heredocs[0].chomp


def test_heredoc_quoted_disables_expansion():
    assert not one("RUN <<'EOF'\n$A\nEOF").heredocs[0].expand
    assert not one('RUN <<"EOF"\n$A\nEOF').heredocs[0].expand


def test_several_heredocs_one_line():
    df = parse("FROM a\nRUN <<A cat /dev/stdin && sh <<B\n1\nA\n2\nB\nRUN z\n")
    run = df.instructions[1]
    assert [(h.name, h.content) for h in run.heredocs] == [("A", "1\n"), ("B", "2\n")]
    assert df.instructions[2].line == 7


def test_copy_heredoc():
    inst = one("COPY <<EOF /dst\nhello\nEOF")
    assert inst.args == ("<<EOF", "/dst")
    assert inst.heredocs[0].content == "hello\n"


def test_heredoc_unterminated():
    with pytest.raises(InvalidArgument, match="dockerfile:2: unterminated heredoc EOF"):
        parse("FROM a\nRUN <<EOF\nx\n")


def test_heredoc_not_on_other_instructions():
    assert one("CMD cat <<EOF").heredocs == ()


def test_run_flags():
    inst = one("RUN --mount=type=cache,target=/root/.cache --mount=type=tmpfs,target=/t "
               "--network=none echo hi")
    assert inst.flag_all("mount") == ["type=cache,target=/root/.cache", "type=tmpfs,target=/t"]
    assert inst.flag("network") == "none"
    assert inst.args == ("echo hi",)


def test_flag_errors():
    with pytest.raises(InvalidArgument, match="dockerfile:1: unknown flag: bogus"):
        parse("COPY --bogus=1 a b")
    with pytest.raises(InvalidArgument, match="missing a value on flag: from"):
        parse("COPY --from a b")
    with pytest.raises(InvalidArgument, match="expecting boolean"):
        parse("COPY --link=maybe a b")


def test_double_dash_ends_flags():
    assert one("RUN -- --not-a-flag").args == ("--not-a-flag",)


def test_mounts():
    m = parse_mount("type=cache,target=/c,sharing=locked,mode=0755,uid=1")
    assert (m.type, m.target, m.id, m.sharing, m.mode, m.uid) == (
        "cache", "/c", "/c", "locked", 0o755, 1)
    b = parse_mount("type=bind,from=build,source=/out,target=/in,rw")
    assert (b.from_, b.source, b.readonly) == ("build", "/out", False)
    s = parse_mount("type=secret,id=tok")
    assert s.target == "/run/secrets/tok"
    assert parse_mount("target=/x").type == "bind"
    assert parse_mount("type=bind,target=/x,ro").readonly
    with pytest.raises(InvalidArgument, match="unsupported mount type"):
        parse_mount("type=nfs,target=/x")
    with pytest.raises(InvalidArgument, match="mount target not set"):
        parse_mount("type=cache")
    with pytest.raises(InvalidArgument, match="unexpected key 'bogus'"):
        parse_mount("type=cache,target=/x,bogus=1")


def test_from_forms():
    assert one("FROM scratch").args == ("scratch",)
    with pytest.raises(InvalidArgument, match="dockerfile:1: FROM requires either one or three"):
        parse("FROM a b")
    with pytest.raises(InvalidArgument, match="invalid name for build stage"):
        parse("FROM a AS 1x")


def test_env_forms():
    assert one("ENV A B C").args == ("A=B C",)
    assert one('ENV A="x y" B=z\\ w').args == ('A="x y"', "B=z\\ w")
    with pytest.raises(InvalidArgument, match="ENV must have two arguments"):
        parse("ENV A")
    with pytest.raises(InvalidArgument, match="can't find = in"):
        parse("ENV A=1 B")


def test_label_legacy_and_errors():
    assert one("LABEL a b").args == ("a=b",)
    with pytest.raises(InvalidArgument, match="LABEL requires at least one argument"):
        parse("LABEL")


def test_arg_forms():
    assert one("ARG A B=2").args == ("A", "B=2")


def test_copy_forms():
    assert one('COPY ["a b", "/c"]').args == ("a b", "/c")
    assert one("COPY a b c/").args == ("a", "b", "c/")
    with pytest.raises(InvalidArgument, match="dockerfile:2: COPY requires at least two"):
        parse("FROM a\nCOPY onlyone\n")


def test_shell_requires_json():
    with pytest.raises(InvalidArgument, match="SHELL requires the arguments to be in JSON"):
        parse("SHELL /bin/bash -c")


def test_onbuild_rules():
    with pytest.raises(InvalidArgument, match="Chaining ONBUILD"):
        parse("ONBUILD ONBUILD RUN x")
    with pytest.raises(InvalidArgument, match="FROM isn't allowed"):
        parse("ONBUILD FROM x")
    assert one("ONBUILD COPY --from=x a b").sub.flag("from") == "x"


def test_healthcheck():
    inst = one("HEALTHCHECK --interval=30s --timeout=1m30s --start-period=5s "
               "--start-interval=500ms --retries=3 CMD curl -f http://x/")
    hc = inst.healthcheck
    assert hc.test == ("CMD-SHELL", "curl -f http://x/")
    assert (hc.interval, hc.timeout, hc.start_period, hc.start_interval, hc.retries) == (
        30 * 10**9, 90 * 10**9, 5 * 10**9, 500 * 10**6, 3)
    assert one('HEALTHCHECK CMD ["true"]').healthcheck.test == ("CMD", "true")
    assert one("HEALTHCHECK NONE").healthcheck.test == ("NONE",)
    with pytest.raises(InvalidArgument, match="HEALTHCHECK NONE takes no arguments"):
        parse("HEALTHCHECK NONE x")
    with pytest.raises(InvalidArgument, match="Unknown type"):
        parse("HEALTHCHECK RUN x")
    with pytest.raises(InvalidArgument, match="invalid duration"):
        parse("HEALTHCHECK --interval=5 CMD x")


def test_unknown_instruction_names_line():
    with pytest.raises(InvalidArgument) as exc:
        parse("FROM a\n\n# c\nRUN x\nRUN y \\\n z\nRUNN z\n")
    assert str(exc.value) == "dockerfile:7: unknown instruction: RUNN"


def test_missing_arguments():
    with pytest.raises(InvalidArgument, match="dockerfile:1: RUN requires at least one"):
        parse("RUN")
    with pytest.raises(InvalidArgument, match="USER requires exactly one"):
        parse("USER a b")


def test_split_words_keeps_quotes():
    assert split_words('a "b c" d\\ e \'f g\'') == ["a", '"b c"', "d\\ e", "'f g'"]


def test_parse_duration():
    assert parse_duration("1h2m3s") == 3723 * 10**9
    assert parse_duration("1.5s") == 1_500_000_000
    assert parse_duration("0") == 0
    with pytest.raises(InvalidArgument):
        parse_duration("5x")
