"""Suite-wide collection order: the simulation files first.

``make test`` runs two pytest-xdist workers (``--dist worksteal``): each gets half of the
tests in collection order, and one that runs out takes the end of the other's queue. The
simulation families are the longest tests (up to minutes each); queued last, one of them
would keep a worker busy long after the other had finished.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith("tests/sim/"))  # stable sort
