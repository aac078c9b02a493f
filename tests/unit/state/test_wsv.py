"""The world-state view's savepoints and prefix scans against a plain-dict model, and the
permission cache read through it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.state import commands
from node.state import keys as K
from node.state.commands import ExecContext
from node.state.wsv import WorldStateView
from node.storage import MemoryStore, WriteBatch

# keys under a few heads, some sharing a head but not a prefix (b"wR/a..." vs b"wR/b...")
# (b"wR/" and b"ws/" keys are also filed by their b"/"-ended prefixes, nested ones too)
KEYS = [
    b"wR/a@d/r1",
    b"wR/a@d/r2",
    b"wR/b@d/r1",
    b"wR/a@d/x/y",
    b"wb/a@d/usd",
    b"ws/a@d/k",
    b"x",
    b"wR/",
]
PREFIXES = [
    b"wR/a@d/",
    b"wR/a@d/x/",
    b"wR/a@",
    b"wR/",
    b"wR/b",
    b"wR/b@d/",
    b"wb/",
    b"ws/a@d/",
    b"ws/",
    b"w",
    b"",
    b"wx/",
]

ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(KEYS), st.binary(max_size=3)),
        st.tuples(st.just("delete"), st.sampled_from(KEYS), st.just(b"")),
        st.tuples(st.sampled_from(["begin", "release", "rollback"]), st.just(b""), st.just(b"")),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(base=st.dictionaries(st.sampled_from(KEYS), st.binary(max_size=3)), steps=ops)
def test_iterate_matches_a_model(
    base: dict[bytes, bytes], steps: list[tuple[str, bytes, bytes]]
) -> None:
    store = MemoryStore()
    batch = WriteBatch()
    for k, v in base.items():
        batch.put(k, v)
    store.write(batch)
    wsv = WorldStateView(store)
    model: list[dict[bytes, bytes | None]] = [dict(base)]
    for kind, key, value in steps:
        if kind == "put":
            wsv.put(key, value)
            model[-1][key] = value
        elif kind == "delete":
            wsv.delete(key)
            model[-1][key] = None
        elif kind == "begin":
            wsv.begin()
            model.append({})
        elif len(model) > 1:  # release / rollback of an open savepoint
            top = model.pop()
            if kind == "release":
                wsv.release()
                model[-1].update(top)
            else:
                wsv.rollback()
        for prefix in PREFIXES:
            merged: dict[bytes, bytes | None] = {}
            for layer in model:
                merged.update(layer)
            want = sorted(
                (k, v) for k, v in merged.items() if k.startswith(prefix) and v is not None
            )
            assert list(wsv.iterate(prefix)) == want, (prefix, steps)


def test_scan_skips_layers_with_nothing_under_the_prefix_head() -> None:
    """Thousands of balance writes in a proposal do not slow an account-role scan."""
    wsv = WorldStateView(MemoryStore())
    for i in range(1000):
        wsv.put(b"wb/acct%d/usd" % i, b"1")
    assert wsv.heads == {b"wb/"}
    assert wsv.keys_after(b"wR/a@d/") == []
    wsv.put(b"wR/a@d/user", b"")
    assert wsv.keys_after(b"wR/a@d/") == ["user"]


class CountingLayer(dict[bytes, bytes | None]):
    """A write layer that counts full scans of itself."""

    scans = 0

    def items(self):  # type: ignore[override]
        CountingLayer.scans += 1
        return super().items()


def test_an_accounts_roles_are_read_without_scanning_the_layers() -> None:
    """An onboarding block writes thousands of accounts' roles; each new account's roles
    are then read once: by its own keys, not by a scan of every key written so far."""
    wsv = WorldStateView(MemoryStore())
    wsv.layers = [CountingLayer()]
    for i in range(1000):
        wsv.put(b"wR/u%d@d/customer" % i, b"")
        wsv.put(b"wb/u%d@d/usd" % i, b"1")
    wsv.begin()
    wsv.put(b"wR/u7@d/auditor", b"")
    wsv.delete(b"wR/u7@d/customer")
    assert wsv.keys_after(b"wR/u7@d/") == ["auditor"]
    wsv.rollback()
    assert wsv.keys_after(b"wR/u7@d/") == ["customer"]
    assert wsv.keys_after(b"wR/u1000@d/") == []
    assert len(wsv.keys_after(b"wR/")) == 1000
    assert CountingLayer.scans == 0
    assert len(list(wsv.iterate(b"wR/u99"))) == 11  # a prefix not ending in b"/" scans
    assert CountingLayer.scans == 1


def test_permission_cache_is_bounded_and_stays_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands, "PERM_CACHE_MAX", 3)
    wsv = WorldStateView(MemoryStore())
    for i in range(8):
        wsv.put(K.ROLE + b"r%d" % i, str(1 << i).encode())
        wsv.put(K.ACCOUNT_ROLE + b"a%d@d/r%d" % (i, i), b"")
    cache: dict[str, int] = {}
    ctx = ExecContext(wsv, cache)
    for _ in range(3):
        for i in range(8):
            assert ctx.perms(f"a{i}@d") == 1 << i
            assert len(cache) <= 3
