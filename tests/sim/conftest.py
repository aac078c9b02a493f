"""``pytest tests/sim --seed=<s>`` replays one seed: every simulation family runs that
seed only (the Twins families: that scenario index), the checker self-tests are skipped.
Each failure message names the seed; see ``regressions.toml`` for pinned cases."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--seed",
        type=int,
        default=None,
        help="simulation: run every family on this one seed / Twins scenario index",
    )


@pytest.fixture
def only_seed(request: pytest.FixtureRequest) -> int | None:
    value = request.config.getoption("seed", default=None)
    return value if isinstance(value, int) else None


@pytest.fixture
def not_replaying(only_seed: int | None) -> None:
    if only_seed is not None:
        pytest.skip("checker self-test: not part of a single-seed replay")
