"""The suite's own rule: test modules have unique basenames (pytest imports them by
basename from rootdir-less directories, so a duplicate breaks collection of everything)."""

from __future__ import annotations

import collections
import os

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_test_module_basenames_are_unique():
    seen = collections.defaultdict(list)
    for dirpath, _dirs, files in os.walk(TESTS):
        for name in files:
            if name.startswith("test_") and name.endswith(".py"):
                seen[name].append(os.path.relpath(dirpath, TESTS))
    assert {k: v for k, v in seen.items() if len(v) > 1} == {}
