"""ReadCache stays exact when the single writer reports every write (property test)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from node.storage import LevelDBStore, MemoryStore, WriteBatch
from node.storage.cache import ReadCache

keys = st.sampled_from([b"k%d" % i for i in range(12)])
ops = st.lists(
    st.tuples(st.sampled_from(["get", "put", "del"]), keys, st.binary(max_size=4)), max_size=80
)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_cache_matches_store(program: list[tuple[str, bytes, bytes]]) -> None:
    store = MemoryStore()
    cache = ReadCache(store, max_entries=5)  # small: eviction is exercised too
    for op, key, value in program:
        if op == "get":
            assert cache.get(key) == store.get(key)
            continue
        batch = WriteBatch()
        if op == "put":
            batch.put(key, value)
        else:
            batch.delete(key)
        store.write(batch)
        cache.apply(batch.ops)
    for key in (b"k%d" % i for i in range(12)):
        assert cache.get(key) == store.get(key)


def test_leveldb_behind_cache(tmp_path: Path) -> None:
    store = LevelDBStore(str(tmp_path / "db"))
    cache = ReadCache(store)
    assert cache.get(b"a") is None  # a miss is cached ...
    batch = WriteBatch()
    batch.put(b"a", b"1")
    store.write(batch, sync=True)
    cache.apply(batch.ops)
    assert cache.get(b"a") == b"1"  # ... and corrected by the write
    assert cache.hits == 1 and cache.misses == 1
    store.close()
