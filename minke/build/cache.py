"""The build cache's keys and its explanations, pure.

A step's key is sha256 over its parent's key and its ``StepInputs``: the instruction
text, the env and build args it can see, its mounts, and for COPY/ADD the per-file
content hashes of its sources (contents, modes, owners, link targets; never mtimes).
When a key misses, ``explain`` compares the inputs with those the same step had in the
last build (the store keeps them by ``slot``) and says what changed, in one line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from minke.build.record import factory, record
from minke.sha256 import hexdigest

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing: for mypy only (its import costs a short command ~5 ms)
    from typing import Protocol
else:
    Protocol = object


@record
class StepInputs:
    instruction: str
    parent: str  # the parent step's key (the base image id for the first step)
    args: Mapping[str, str] = factory(dict)  # build args the step sees
    env: Mapping[str, str] = factory(dict)
    files: Mapping[str, str] = factory(dict)  # path -> content hash
    extra: Mapping[str, str] = factory(dict)  # mounts, network, user...

    def to_json(self) -> str:
        return json.dumps({"instruction": self.instruction, "parent": self.parent,
                           "args": dict(self.args), "env": dict(self.env),
                           "files": dict(self.files), "extra": dict(self.extra)},
                          sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> StepInputs:
        d = json.loads(text)
        return cls(d["instruction"], d["parent"], d["args"], d["env"], d["files"],
                   d["extra"])

    def key(self) -> str:
        return "sha256:" + hexdigest(self.to_json().encode())


def slot(dockerfile: str, stage: int, step: int) -> str:
    """Where a step sits, to find 'the same step in the last build'."""
    return f"{dockerfile}#{stage}#{step}"


def _diff_map(kind: str, old: Mapping[str, str], new: Mapping[str, str]) -> str | None:
    for name in sorted(set(old) | set(new)):
        if name not in old:
            return f"{kind} {name} added" if kind != "file" else f"{name} added"
        if name not in new:
            return f"{kind} {name} removed" if kind != "file" else f"{name} removed"
        if old[name] != new[name]:
            if kind == "file":
                return f"{name} changed"
            return f"{kind} {name} changed from {old[name]} to {new[name]}"
    return None


def explain(old: StepInputs | None, new: StepInputs) -> str:
    """Why ``new`` missed the cache, given the inputs of the same step last time."""
    if old is None:
        return "cache miss: not built before"
    if old.instruction != new.instruction:
        return "cache miss: instruction changed"
    if old.parent != new.parent:
        return "cache miss: parent step changed"
    for kind, a, b in (("build arg", old.args, new.args), ("env", old.env, new.env),
                       ("file", old.files, new.files), ("option", old.extra, new.extra)):
        why = _diff_map(kind, a, b)
        if why:
            return "cache miss: " + why
    return "cache miss: previous result was removed"


@record
class CacheEntry:
    key: str
    snapshot: str  # the chain / snapshot key of the step's result ("" for no layer)
    diff_id: str  # the layer it added ("" for an empty layer)
    config: str  # the image config JSON after the step
    inputs: StepInputs


class CacheStore(Protocol):
    """Persistent cache records.  ``get`` by key; ``last`` by slot for explanations."""

    def get(self, key: str) -> CacheEntry | None: ...

    def put(self, slot: str, entry: CacheEntry) -> None: ...

    def last(self, slot: str) -> StepInputs | None: ...

    def remove(self, key: str) -> None: ...


class MemoryCacheStore:
    """In-memory CacheStore (tests, and --no-cache builds that still explain)."""

    def __init__(self) -> None:
        self.entries: dict[str, CacheEntry] = {}
        self.slots: dict[str, StepInputs] = {}

    def get(self, key: str) -> CacheEntry | None:
        return self.entries.get(key)

    def put(self, slot: str, entry: CacheEntry) -> None:
        self.entries[entry.key] = entry
        self.slots[slot] = entry.inputs

    def last(self, slot: str) -> StepInputs | None:
        return self.slots.get(slot)

    def remove(self, key: str) -> None:
        self.entries.pop(key, None)
