"""Integration tier: runs as root against the real kernel (overlay snapshots, real tools).

Every test here gets skipped when not root; shared fixtures are in tests/conftest.py.
"""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="integration tests need root")
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(skip)

