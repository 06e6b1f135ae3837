"""minke.fastjson gives json.loads/json.dumps's results and errors without importing json."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from minke import fastjson

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DOCS = [
    '{"a": [1, 2.5, -3e5, true, false, null, "x\\u00e9\\n"], "b": {}}',
    " [] ",
    '"s"',
    "1",
    "12345678901234567890123",
    "1e400",
    "NaN",
    "[Infinity, -Infinity]",
    '{"a":1}  \n',
    b'\xef\xbb\xbf{"a": 1}',
    b'{"\xc3\xa9": 1}',
    '{"a": 1, "a": 2}',
]
BAD = ["{bad", "[1,", '{"a":}', "", "  ", "nul", '"abc', "[1 2]", '{"a":1} x', '{"a":"\x01"}', "\ufeff{}"]


def _outcome(fn, arg):
    try:
        return ("ok", repr(fn(arg)))
    except ValueError as e:
        return (type(e).__name__, str(e))


@pytest.mark.parametrize("doc", DOCS + BAD)
def test_loads_is_json_loads(doc):
    assert _outcome(fastjson.loads, doc) == _outcome(json.loads, doc)


class _Str(str):
    pass


@pytest.mark.parametrize(
    "obj",
    [
        {"a": [1, 2.5, None, True, "é\n\x01"], "b": {"c": {}}},
        [],
        "x",
        1.0,
        float("nan"),
        {1: 2, 2.5: 3, None: 4},
        (1, 2),
        {_Str("k"): _Str("v")},
    ],
)
def test_dumps_is_json_dumps(obj):
    assert fastjson.dumps(obj) == json.dumps(obj)


def test_dumps_refuses_what_json_refuses():
    with pytest.raises(TypeError, match="not JSON serializable"):
        fastjson.dumps({"a": object()})
    # the failed call leaves nothing behind for the next one
    assert fastjson.dumps({"a": [1]}) == '{"a": [1]}'
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        fastjson.dumps(loop)


def test_no_json_import_and_json_errors_in_a_fresh_interpreter():
    # The C scanner finds json.decoder's error class only once something imported it;
    # fastjson must still raise json's error (and import json only then).
    code = (
        "import sys; from minke import fastjson\n"
        "fastjson.loads(b'{\"a\": [1, 2]}'); fastjson.dumps({'a': 1})\n"
        "print('json' in sys.modules, 're' in sys.modules)\n"
        "try:\n    fastjson.loads('{bad')\n"
        "except ValueError as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {ROOT!r})\n" + code],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert out.splitlines() == [
        "False False",
        "JSONDecodeError Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
    ]


def test_dump_writes_what_json_dump_writes(tmp_path) -> None:
    import json

    from minke import fastjson

    obj = {"a": [1, 2.5, None, True], "b": "é\n", "c": {}}
    p = tmp_path / "x.json"
    with open(p, "w") as f:
        fastjson.dump(obj, f)
    assert p.read_text() == json.dumps(obj)


def _value(rng, depth=0):
    r = rng.random()
    if depth > 4 or r < 0.3:
        return rng.choice([0, -5, 2**70, 1.5, -0.0, 1e300, float("nan"), float("inf"), float("-inf"), True, False,
                           None, "", "ä€\u2028\x7f\"\\\n\t", "plain"])
    if r < 0.6:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if r < 0.7:
        return tuple(_value(rng, depth + 1) for _ in range(rng.randint(0, 3)))
    return {rng.choice(["a", "ü", 1, 2.5, True, False, None, "k\n"]): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def test_indented_dumps_are_jsons() -> None:
    """``inspect`` prints with indent=4 and ensure_ascii=False without importing json (and
    re behind it): the same text as json.dumps for any value it takes."""
    import random

    rng = random.Random(4)
    for _ in range(3000):
        v = _value(rng)
        for indent, ascii_ in ((4, False), (2, True), (None, False), (0, True)):
            assert fastjson.dumps(v, indent=indent, ensure_ascii=ascii_) == json.dumps(v, indent=indent, ensure_ascii=ascii_)


def test_indented_dumps_raise_jsons_errors() -> None:
    loop: list = []
    loop.append(loop)
    for bad, err in (({1, 2}, TypeError), ({(1, 2): 3}, TypeError), (loop, ValueError)):
        with pytest.raises(err) as got:
            fastjson.dumps(bad, indent=4, ensure_ascii=False)
        with pytest.raises(err) as want:
            json.dumps(bad, indent=4, ensure_ascii=False)
        assert str(got.value) == str(want.value)
