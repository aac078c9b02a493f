"""Verify many signatures at once on a small thread pool.

libsodium runs with the GIL released (cffi drops it around each call), so a few
threads verify in parallel. Each thread gets one contiguous chunk of the input rather
than one future per signature: per-item futures cost about as much as a verification
and keep the threads fighting over the GIL.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Final

from node.crypto.keys import verify

# Below this many items the pool's hand-off costs more than it saves.
MIN_ITEMS_PER_THREAD: Final = 8

Item = tuple[str, bytes, bytes]


def _verify_item(item: Item) -> bool:
    try:
        key, message, signature = item
    except (TypeError, ValueError):  # not a triple: not a valid signature either
        return False
    return verify(key, message, signature)


def _verify_chunk(items: Sequence[Item]) -> list[bool]:
    return [_verify_item(item) for item in items]


class BatchVerifier:
    """Verifies (public_key, message, signature) triples; results in input order."""

    def __init__(self, threads: int = 2) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = (
            # The calling thread verifies one chunk itself, so it needs threads - 1 workers.
            ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix="sig-verify")
            if threads > 1
            else None
        )
        self._closed = False
        self._lock = threading.Lock()

    @property
    def threads(self) -> int:
        return self._threads

    def verify_many(self, items: Sequence[Item]) -> list[bool]:
        """One bool per item, in input order: True iff that signature is valid.

        Blocks until done (call it from a worker thread, e.g. trio.to_thread.run_sync).
        Malformed items are simply False; the call itself never fails on input.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("BatchVerifier is closed")
            pool = self._pool
        n = len(items)
        chunks = min(self._threads, n // MIN_ITEMS_PER_THREAD)
        if pool is None or chunks < 2:
            return _verify_chunk(items)
        # Contiguous chunks of near-equal size; the caller's thread does the last one.
        bounds = [n * i // chunks for i in range(chunks + 1)]
        futures = [
            pool.submit(_verify_chunk, items[bounds[i] : bounds[i + 1]]) for i in range(chunks - 1)
        ]
        last = _verify_chunk(items[bounds[-2] : bounds[-1]])
        results: list[bool] = []
        for future in futures:
            results.extend(future.result())
        results.extend(last)
        return results

    def close(self) -> None:
        """Stop the worker threads (waits for running batches). Idempotent."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __enter__(self) -> BatchVerifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
