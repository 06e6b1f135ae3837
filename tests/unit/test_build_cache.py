from __future__ import annotations

from minke.build.cache import CacheEntry, MemoryCacheStore, StepInputs, explain, slot


def inputs(**kw):
    base = dict(instruction="RUN echo", parent="p", args={"VERSION": "1"}, env={"A": "1"},
                files={"app.py": "h1"}, extra={"network": "default"})
    base.update(kw)
    return StepInputs(**base)


def test_key_stable_and_sensitive():
    assert inputs().key() == inputs().key()
    for change in ({"instruction": "RUN x"}, {"parent": "q"}, {"args": {"VERSION": "2"}},
                   {"env": {}}, {"files": {"app.py": "h2"}}, {"extra": {}}):
        assert inputs(**change).key() != inputs().key()


def test_explanations():
    old = inputs()
    assert explain(None, old) == "cache miss: not built before"
    assert explain(old, inputs(instruction="RUN x")) == "cache miss: instruction changed"
    assert explain(old, inputs(parent="q")) == "cache miss: parent step changed"
    assert explain(old, inputs(args={"VERSION": "2"})) == (
        "cache miss: build arg VERSION changed from 1 to 2")
    assert explain(old, inputs(files={"app.py": "h2"})) == "cache miss: app.py changed"
    assert explain(old, inputs(files={"app.py": "h1", "new.py": "x"})) == (
        "cache miss: new.py added")
    assert explain(old, inputs(files={})) == "cache miss: app.py removed"
    assert explain(old, inputs(env={"A": "2"})) == "cache miss: env A changed from 1 to 2"
    assert explain(old, old) == "cache miss: previous result was removed"


def test_json_roundtrip_and_memory_store():
    i = inputs()
    assert StepInputs.from_json(i.to_json()) == i
    store = MemoryCacheStore()
    s = slot("Dockerfile", 0, 1)
    assert store.last(s) is None
    e = CacheEntry(i.key(), "snap", "", "{}", i)
    store.put(s, e)
    assert store.get(i.key()) == e
    assert store.last(s) == i
    store.remove(i.key())
    assert store.get(i.key()) is None
