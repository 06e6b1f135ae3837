"""Build planning, pure: stages, ARG scoping, which stages a target needs, and the image
config and history entries that metadata instructions produce (Docker's field names and
BuildKit's ``created_by`` strings).  The builder does the I/O around this."""

from __future__ import annotations

import json
from collections.abc import Mapping

from minke.build.parser import Dockerfile, Instruction
from minke.build.record import factory, record
from minke.build.shell_words import process_word, process_words
from minke.errors import InvalidArgument, NotFound

#: Usable without an ARG line, and kept out of history, as Docker does.
PROXY_ARGS = frozenset({"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                        "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY",
                        "all_proxy"})
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@record
class Stage:
    index: int
    name: str  # lower-cased 'AS' name, or "" when unnamed
    base: str  # the FROM image after substitution ("scratch", a stage name, a reference)
    platform: str
    from_line: Instruction
    instructions: tuple[Instruction, ...]
    deps: tuple[int, ...]  # indexes of stages this one copies or mounts from


def _expand(word: str, env: Mapping[str, str], escape: str, line: int) -> str:
    try:
        return process_word(word, env, escape)
    except InvalidArgument as exc:
        raise InvalidArgument(f"dockerfile:{line}: {exc}") from None


def global_args(df: Dockerfile, build_args: Mapping[str, str]) -> dict[str, str]:
    """The ARGs declared before the first FROM, with --build-arg values applied."""
    values: dict[str, str] = {}
    for inst in df.instructions:
        if inst.cmd == "FROM":
            break
        if inst.cmd != "ARG":
            raise InvalidArgument(f"dockerfile:{inst.line}: no build stage in current "
                                  "context")
        for word in inst.args:
            name, eq, default = word.partition("=")
            if name in build_args:
                values[name] = build_args[name]
            elif eq:
                values[name] = _expand(default, values, df.escape, inst.line)
    return values


def stages(df: Dockerfile, build_args: Mapping[str, str]) -> list[Stage]:
    """Split into stages; FROM expanded with the global ARGs only."""
    gargs = global_args(df, build_args)
    gargs_env = {**{k: v for k, v in build_args.items() if k in PROXY_ARGS}, **gargs}
    out: list[Stage] = []
    current: Instruction | None = None
    body: list[Instruction] = []
    names: dict[str, int] = {}

    def close() -> None:
        if current is None:
            return
        base = _expand(current.args[0], gargs_env, df.escape, current.line)
        if not base:
            raise InvalidArgument(f"dockerfile:{current.line}: base name ({current.args[0]}) "
                                  "should not be blank")
        platform = _expand(current.flag("platform") or "", gargs_env, df.escape, current.line)
        name = current.args[1] if len(current.args) > 1 else ""
        if name:
            if name in names:
                raise InvalidArgument(f"dockerfile:{current.line}: duplicate stage name "
                                      f"\"{name}\"")
            names[name] = len(out)
        deps: list[int] = []
        if base.lower() in names:
            deps.append(names[base.lower()])
        for inst in body:
            refs = []
            if inst.cmd in ("COPY", "ADD") and inst.flag("from"):
                refs.append(inst.flag("from") or "")
            if inst.cmd == "RUN":
                from minke.build.parser import parse_mount

                for m in inst.flag_all("mount"):
                    spec = parse_mount(m, inst.line)
                    if spec.from_:
                        refs.append(spec.from_)
            for ref in refs:
                ref = _expand(ref, gargs_env, df.escape, inst.line).lower()
                if ref in names:
                    deps.append(names[ref])
                elif ref.isdigit():
                    if int(ref) >= len(out):
                        raise InvalidArgument(f"dockerfile:{inst.line}: invalid from flag "
                                              f"value {ref}: refers to current or future "
                                              "build stage")
                    deps.append(int(ref))
        out.append(Stage(len(out), name, base, platform, current, tuple(body),
                         tuple(sorted(set(deps)))))

    for inst in df.instructions:
        if inst.cmd == "FROM":
            close()
            current, body = inst, []
        elif current is not None:
            body.append(inst)
    close()
    if not out:
        raise InvalidArgument("dockerfile: no build stage in current context" if
                              df.instructions else "the dockerfile cannot be empty")
    return out


def needed(all_stages: list[Stage], target: str | None) -> list[Stage]:
    """The stages the target (default: the last) depends on, in order."""
    if target:
        by_name = {s.name: s for s in all_stages if s.name}
        if target.lower() not in by_name:
            raise NotFound(f"target stage \"{target}\" could not be found")
        last = by_name[target.lower()]
    else:
        last = all_stages[-1]
    keep: set[int] = set()
    todo = [last.index]
    while todo:
        i = todo.pop()
        if i in keep:
            continue
        keep.add(i)
        todo.extend(all_stages[i].deps)
    return [s for s in all_stages if s.index in keep]


@record(frozen=False)
class StageState:
    """The mutable per-stage state while a stage's instructions are applied."""

    config: dict[str, object]
    escape: str = "\\"
    args: dict[str, str] = factory(dict)  # declared ARGs in this stage
    history: list[dict[str, object]] = factory(list)
    cmd_set: bool = False  # a CMD in this stage survives a later ENTRYPOINT

    def env(self) -> dict[str, str]:
        out = {}
        for item in self.config.get("Env") or []:  # type: ignore[union-attr]
            k, _, v = str(item).partition("=")
            out[k] = v
        return out

    def expansion_env(self) -> dict[str, str]:
        """What $VAR sees: the stage's ARGs, overridden by ENV (as Docker)."""
        return {**self.args, **self.env()}

    def set_env(self, name: str, value: str) -> None:
        env = [e for e in (self.config.get("Env") or [])  # type: ignore[union-attr]
               if str(e).partition("=")[0] != name]
        env.append(f"{name}={value}")
        self.config["Env"] = env

    def shell(self) -> list[str]:
        return list(self.config.get("Shell") or ["/bin/sh", "-c"])  # type: ignore[call-overload]


def _goq(items: list[str]) -> str:
    """Go's %q of a []string: ["a" "b"]."""
    return "[" + " ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]"


def declare_args(state: StageState, inst: Instruction, build_args: Mapping[str, str],
                 gargs: Mapping[str, str]) -> list[str]:
    """Apply an ARG line; return the names it declared."""
    names = []
    for word in inst.args:
        name, eq, default = word.partition("=")
        if name in build_args:
            value: str | None = build_args[name]
        elif eq:
            value = _expand(default, state.expansion_env(), state.escape, inst.line)
        else:
            value = gargs.get(name)
        if value is not None:
            state.args[name] = value
        else:
            state.args.pop(name, None)  # declared without a value: unset, not empty
        names.append(name)
    return names


def apply_metadata(state: StageState, inst: Instruction) -> str | None:
    """Apply a metadata-only instruction to the config; return its history created_by
    (the step is an empty layer).  None when ``inst`` is not metadata-only."""
    c = state.config
    env = state.expansion_env()
    esc = state.escape
    line = inst.line

    def x(word: str) -> str:
        return _expand(word, env, esc, line)

    cmd = inst.cmd
    if cmd == "ENV":
        shown = []
        for word in inst.args:
            name, _, value = word.partition("=")
            name, value = x(name), x(value)
            state.set_env(name, value)
            shown.append(f"{name}={value}")
        return "ENV " + " ".join(shown)
    if cmd == "LABEL":
        labels = dict(c.get("Labels") or {})  # type: ignore[call-overload]
        shown = []
        for word in inst.args:
            name, _, value = word.partition("=")
            name, value = x(name), x(value)
            if not name:
                raise InvalidArgument(f"dockerfile:{line}: LABEL names can not be blank")
            labels[name] = value
            shown.append(f"{name}={value}")
        c["Labels"] = labels
        return "LABEL " + " ".join(shown)
    if cmd == "MAINTAINER":
        return f"MAINTAINER {inst.args[0]}"
    if cmd == "EXPOSE":
        ports = dict(c.get("ExposedPorts") or {})  # type: ignore[call-overload]
        new: list[str] = []
        for word in inst.args:
            for p in process_words(word, env, esc):
                port, _, proto = p.partition("/")
                proto = (proto or "tcp").lower()
                lo, dash, hi = port.partition("-")
                if (proto not in ("tcp", "udp", "sctp") or not _port_ok(lo)
                        or (dash and (not _port_ok(hi) or int(hi) < int(lo)))):
                    raise InvalidArgument(f"dockerfile:{line}: invalid containerPort: {p}")
                # Docker expands a range into one entry per port
                for n in range(int(lo), int(hi if dash else lo) + 1):
                    ports[f"{n}/{proto}"] = {}
                    new.append(f"{n}/{proto}")
        c["ExposedPorts"] = ports
        # BuildKit's history shows this instruction's ports (a Go map prints sorted)
        return "EXPOSE map[" + " ".join(f"{k}:{{}}" for k in sorted(set(new))) + "]"
    if cmd == "VOLUME":
        vols = dict(c.get("Volumes") or {})  # type: ignore[call-overload]
        new = [x(a) for a in inst.args] if inst.json else [
            v for a in inst.args for v in process_words(a, env, esc)]
        for v in new:
            if not v.strip():
                raise InvalidArgument(f"dockerfile:{line}: VOLUME specified can not be an "
                                      "empty string")
            vols[v] = {}
        c["Volumes"] = vols
        return "VOLUME [" + " ".join(new) + "]"
    if cmd == "USER":
        c["User"] = x(inst.args[0])
        return f"USER {c['User']}"
    if cmd == "STOPSIGNAL":
        c["StopSignal"] = x(inst.args[0])
        return f"STOPSIGNAL {c['StopSignal']}"
    if cmd in ("CMD", "ENTRYPOINT"):
        argv = list(inst.args) if inst.json else (state.shell() + list(inst.args))
        key = "Cmd" if cmd == "CMD" else "Entrypoint"
        c[key] = argv
        if cmd == "ENTRYPOINT" and not state.cmd_set:
            c["Cmd"] = None  # Docker: ENTRYPOINT resets a CMD inherited from the base
        if cmd == "CMD":
            state.cmd_set = True
        return f"{cmd} {_goq(argv)}"
    if cmd == "SHELL":
        c["Shell"] = list(inst.args)
        return f"SHELL [{' '.join(inst.args)}]"
    if cmd == "ONBUILD":
        c["OnBuild"] = [*(c.get("OnBuild") or []), inst.args[0]]  # type: ignore[misc]
        return f"ONBUILD {inst.args[0]}"
    if cmd == "HEALTHCHECK":
        hc = inst.healthcheck
        assert hc is not None
        test = list(hc.test)
        if test[0] == "CMD-SHELL" and c.get("Shell"):
            test = ["CMD", *state.shell(), test[1]]
        h: dict[str, object] = {"Test": test}
        for attr, key in (("interval", "Interval"), ("timeout", "Timeout"),
                          ("start_period", "StartPeriod"), ("start_interval", "StartInterval"),
                          ("retries", "Retries")):
            if getattr(hc, attr):
                h[key] = getattr(hc, attr)
        c["Healthcheck"] = h
        return f"HEALTHCHECK {_goq(test)}" if test != ["NONE"] else "HEALTHCHECK NONE"
    return None


def _port_ok(port: str) -> bool:
    lo, _, hi = port.partition("-")
    try:
        return 0 < int(lo) <= 65535 and (not hi or int(lo) <= int(hi) <= 65535)
    except ValueError:
        return False


def run_created_by(inst: Instruction, shell: list[str], used_args: Mapping[str, str]) -> str:
    """BuildKit's history line for RUN: ``RUN |1 V=1 /bin/sh -c echo hi # buildkit``."""
    argv = list(inst.args) if inst.json else [*shell, inst.args[0]]
    prefix = ""
    shown = {k: v for k, v in sorted(used_args.items()) if k not in PROXY_ARGS}
    if shown:
        prefix = f"|{len(shown)} " + " ".join(f"{k}={v}" for k, v in shown.items()) + " "
    return f"RUN {prefix}{' '.join(argv)} # buildkit"


def copy_created_by(inst: Instruction) -> str:
    flags = " ".join(f"--{k}={v}" if v is not None else f"--{k}" for k, v in inst.flags)
    return f"{inst.cmd} {flags + ' ' if flags else ''}{' '.join(inst.args)} # buildkit"
