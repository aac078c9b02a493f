"""Suite-wide collection order: the simulation files first.

``make test`` runs two pytest-xdist workers that take whole files in collection order.
The simulation files are the longest (minutes each); started last, one of them would
keep a worker busy long after the other had finished.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith("tests/sim/"))  # stable sort
