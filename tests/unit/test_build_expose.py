"""EXPOSE into ExposedPorts as Docker does: ranges expanded, history of the step's own ports."""

from __future__ import annotations

import pytest

from minke.build.parser import parse
from minke.build.stages import StageState, apply_metadata
from minke.errors import InvalidArgument


def expose(*lines: str) -> tuple[StageState, list[str | None]]:
    df = parse("FROM scratch\n" + "".join(f"EXPOSE {x}\n" for x in lines))
    st = StageState({})
    return st, [apply_metadata(st, inst) for inst in df.instructions[1:]]


def test_ranges_expand_and_history_shows_only_the_steps_ports():
    st, hist = expose("80-82/tcp 53/UDP", "443")
    assert st.config["ExposedPorts"] == {"80/tcp": {}, "81/tcp": {}, "82/tcp": {},
                                         "53/udp": {}, "443/tcp": {}}
    assert hist == ["EXPOSE map[53/udp:{} 80/tcp:{} 81/tcp:{} 82/tcp:{}]",
                    "EXPOSE map[443/tcp:{}]"]


@pytest.mark.parametrize("bad", ["0", "70000", "90-80", "80/xyz", "http", "80-x"])
def test_bad_ports_name_the_line(bad):
    with pytest.raises(InvalidArgument, match=r"^dockerfile:2: invalid containerPort"):
        expose(bad)
