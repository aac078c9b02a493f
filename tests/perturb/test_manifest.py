"""The runner's pure parts: manifest parsing and the seeded perturbation schedule."""

from __future__ import annotations

from pathlib import Path

import pytest

from devnet.perturb import KINDS, ManifestError, load_manifest, parse_manifest, plan

MANIFESTS = Path(__file__).resolve().parents[2] / "devnet" / "manifests"


def test_shipped_manifests_parse() -> None:
    short = load_manifest(MANIFESTS / "short.toml")
    long = load_manifest(MANIFESTS / "long.toml")
    assert short.name == "short" and long.name == "long"
    assert set(short.kinds) == set(KINDS) == set(long.kinds)
    assert long.duration >= 30 * 60
    assert short.validators == 4 and short.f == 1 and short.slots == 1


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"nonsense": 1}, "unknown top-level"),
        ({"load": {"rate": "fast"}}, "rate"),
        ({"load": {"speed": 3}}, "speed"),
        ({"perturb": {"kinds": ["kill", "meteor"]}}, "meteor"),
        ({"perturb": {"hold": [5, 1]}}, "ranges"),
        ({"perturb": {"hold": [1]}}, "hold"),
        ({"network": {"key_scheme": "rsa"}}, "rsa"),
        ({"network": "x"}, "table"),
    ],
)
def test_bad_manifests_are_named(doc: dict[str, object], needle: str) -> None:
    with pytest.raises(ManifestError, match=needle):
        parse_manifest(doc)


def test_json_manifest(tmp_path: Path) -> None:
    p = tmp_path / "m.json"
    p.write_text('{"network": {"validators": 7}, "perturb": {"concurrency": 5}}')
    m = load_manifest(p)
    assert m.name == "m" and m.f == 2 and m.slots == 2  # concurrency capped at f


def test_plan_is_seeded_covers_every_kind_and_never_exceeds_f() -> None:
    m = parse_manifest({"network": {"validators": 7}, "perturb": {"concurrency": 2}})
    a, b, c = plan(m, 7), plan(m, 7), plan(m, 8)
    assert a == b and a != c
    assert len(a) == 2  # two slots = f for n = 7
    for s, steps in enumerate(a):
        assert {st.kind for st in steps[: len(KINDS)]} == set(KINDS)
        # slots own disjoint validators, so at most `slots` are perturbed at once
        assert {st.target % 2 for st in steps} == {s}
        for st in steps:
            assert m.hold[0] <= st.hold <= m.hold[1]
            if st.kind == "skew":
                assert 500 <= abs(st.skew_ms) <= 2000
    one = parse_manifest({"network": {"validators": 3}})
    assert plan(one, 1) == []  # n = 3 tolerates no fault: nothing is perturbed
