"""minke.build.record: dataclass behaviour (init, defaults, factories, eq/hash, frozen)."""

from __future__ import annotations

import copy

import pytest

from minke.build.record import FrozenRecordError, factory, record, replace


@record
class Point:
    x: int
    y: int = 0
    tags: dict[str, str] = factory(dict)


@record(frozen=False)
class Box:
    items: list[int] = factory(list)


def test_positional_keyword_and_defaults() -> None:
    p = Point(1, y=2)
    assert (p.x, p.y, p.tags) == (1, 2, {})
    assert Point(x=3) == Point(3, 0, {})
    assert repr(Point(1)) == "Point(x=1, y=0, tags={})"


def test_factory_gives_each_instance_its_own_value() -> None:
    a, b = Box(), Box()
    a.items.append(1)
    assert b.items == [] and a != b
    assert "tags" not in Point.__dict__


def test_bad_arguments_are_type_errors() -> None:
    with pytest.raises(TypeError, match="missing required argument: 'x'"):
        Point()
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Point(1, z=2)
    with pytest.raises(TypeError, match="multiple values"):
        Point(1, x=2)
    with pytest.raises(TypeError, match="positional"):
        Point(1, 2, {}, 4)


def test_frozen_hash_and_replace() -> None:
    p = Point(1, 2)
    with pytest.raises(FrozenRecordError):
        p.x = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.y
    q = Point(1, 5)
    assert hash(Point(1, 2, ())) == hash(Point(1, 2, ()))  # type: ignore[arg-type]
    assert replace(p, y=5) == q and p.y == 2
    assert Point(1) != Box()
    with pytest.raises(TypeError):
        hash(Box())


def test_copies_keep_fields() -> None:
    p = Point(1, 2, {"a": "b"})
    c = copy.deepcopy(p)
    assert c == p and c.tags is not p.tags


@record
class Tagged:
    name: str
    extra: dict[str, str] = factory(dict, compare=False)


def test_compare_false_field_is_out_of_eq_and_hash_but_in_repr() -> None:
    a, b = Tagged("x", {"k": "v"}), Tagged("x")
    assert a == b and hash(a) == hash(b)  # the dict would make hash fail if it counted
    assert repr(a) == "Tagged(name='x', extra={'k': 'v'})"
    assert Tagged("x") != Tagged("y")


def test_go_templates_render_records_as_structs() -> None:
    """--format renders a record (the containers' and networks' value classes are
    records now) as Go renders a struct, and json shows its fields."""
    from minke.cli.format import render_template
    from minke.network.ports import PortMapping

    pm = PortMapping(80, "tcp", "", 8080)
    assert render_template("{{.}}", pm) == "{80 tcp  8080 0}"
    assert render_template("{{.HostPort}}", {"HostPort": pm.host_port}) == "8080"
    assert '"container_port":80' in render_template("{{json .}}", pm).replace(" ", "")
