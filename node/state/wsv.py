"""World-state view: a stack of write layers over a read-only committed state.

Executing a proposal never writes to the store: writes land in the top layer; a
transaction (or ATOMIC batch) pushes a layer and either folds it into the one below
(success) or drops it (failure) -- the savepoints of Iroha's temporary WSV. The bottom
layer is the block's write set, applied to the store only on commit.
"""

from __future__ import annotations

from collections.abc import Iterator

from node.state import keys as K
from node.storage.kv import KVReader

# Leading bytes of the keys written, which tell whether a prefix scan need look at the
# layers at all: a key can start with a prefix only if their first _HEAD bytes agree.
# World-state keys start with a 3-byte family (b"wb/" balances, b"wR/" account roles...).
_HEAD = 3
# Families read by prefix per account (its roles, its signatories): the view also files
# each of their keys written under every prefix of it that ends in b"/", so such a scan
# reads just those keys instead of every key in the layers. An onboarding block writes
# thousands of accounts' roles, and each new account's permissions are read once:
# scanning every key written so far made that block quadratic in its size.
_PARENTED = frozenset({K.ACCOUNT_ROLE, K.SIGNATORY})


_NONE: frozenset[bytes] = frozenset()


class WorldStateView:
    __slots__ = ("base", "filed", "heads", "layers")

    def __init__(self, base: KVReader) -> None:
        self.base = base
        self.layers: list[dict[bytes, bytes | None]] = [{}]
        # the _HEAD-byte heads of every key written in any layer (kept on rollback: a
        # superset is only slower, never wrong)
        self.heads: set[bytes] = set()
        # _PARENTED keys written, by each of their b"/"-ended prefixes (kept on rollback)
        self.filed: dict[bytes, set[bytes]] = {}

    # --- savepoints -------------------------------------------------------------

    def begin(self) -> None:
        self.layers.append({})

    def release(self) -> None:
        top = self.layers.pop()
        self.layers[-1].update(top)

    def rollback(self) -> None:
        self.layers.pop()

    @property
    def writes(self) -> dict[bytes, bytes | None]:
        """The write set (bottom layer); valid once every savepoint is resolved."""
        assert len(self.layers) == 1, "unresolved savepoint"
        return self.layers[0]

    # --- raw access --------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        for layer in reversed(self.layers):
            if key in layer:
                return layer[key]
        return self.base.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.layers[-1][key] = value
        head = key[:_HEAD]
        self.heads.add(head)
        if head in _PARENTED:
            self._file(key)

    def delete(self, key: bytes) -> None:
        self.layers[-1][key] = None
        head = key[:_HEAD]
        self.heads.add(head)
        if head in _PARENTED:
            self._file(key)

    def _file(self, key: bytes) -> None:
        filed = self.filed
        i = key.find(b"/")
        while i != -1:
            filed.setdefault(key[: i + 1], set()).add(key)
            i = key.find(b"/", i + 1)

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Merged view of base and layers, in key order.

        The layers are scanned key by key, so only when something under the prefix's
        head was written: a proposal's layers hold thousands of balance writes, and an
        account's roles are read this way on every permission-cache miss (all of them
        after a restart or a role change: 5x the execution time of a block)."""
        merged: dict[bytes, bytes | None] = dict(self.base.iterate(prefix))
        written = self._written_under(prefix)
        if written is None:
            for layer in self.layers:
                for key, value in layer.items():
                    if key.startswith(prefix):
                        merged[key] = value
        else:
            layers = self.layers[::-1]
            for key in written:
                for layer in layers:
                    if key in layer:  # else rolled back: the base's value stands
                        merged[key] = layer[key]
                        break
        for key in sorted(merged):
            value = merged[key]
            if value is not None:
                yield key, value

    def _written_under(self, prefix: bytes) -> set[bytes] | frozenset[bytes] | None:
        """The keys starting with ``prefix`` that may have been written (a superset), or
        None: unknown, scan the layers."""
        if len(prefix) < _HEAD:
            return None
        head = prefix[:_HEAD]
        if head not in self.heads:
            return _NONE
        if head in _PARENTED and prefix.endswith(b"/"):
            # such a key has prefix itself among its b"/"-ended prefixes
            return self.filed.get(prefix, _NONE)
        return None

    def keys_after(self, prefix: bytes) -> list[str]:
        """Key suffixes (after ``prefix``) of present entries, decoded, in order."""
        n = len(prefix)
        return [key[n:].decode() for key, _ in self.iterate(prefix)]

    # --- typed accessors ---------------------------------------------------------

    def account_quorum(self, account_id: str) -> int | None:
        v = self.get(K.ACCOUNT + account_id.encode())
        return None if v is None else int(v)

    def domain_default_role(self, domain_id: str) -> str | None:
        v = self.get(K.DOMAIN + domain_id.encode())
        return None if v is None else v.decode()

    def asset_precision(self, asset_id: str) -> int | None:
        v = self.get(K.ASSET + asset_id.encode())
        return None if v is None else int(v)

    def role_permissions(self, role: str) -> int | None:
        v = self.get(K.ROLE + role.encode())
        return None if v is None else int(v)

    def account_roles(self, account_id: str) -> list[str]:
        return self.keys_after(K.ACCOUNT_ROLE + account_id.encode() + b"/")

    def account_permissions(self, account_id: str) -> int:
        m = 0
        for role in self.account_roles(account_id):
            m |= self.role_permissions(role) or 0
        return m

    def signatories(self, account_id: str) -> list[str]:
        return self.keys_after(K.SIGNATORY + account_id.encode() + b"/")

    def is_signatory(self, account_id: str, public_key: str) -> bool:
        return self.get(K.k(K.SIGNATORY, account_id, public_key.lower())) is not None

    def balance(self, account_id: str, asset_id: str) -> int:
        v = self.get(K.k(K.BALANCE, account_id, asset_id))
        return 0 if v is None else int(v)

    def grants(self, granter: str, grantee: str) -> int:
        v = self.get(K.k(K.GRANT, granter, grantee))
        return 0 if v is None else int(v)

    def detail(self, account_id: str, writer: str, key: str) -> str | None:
        v = self.get(K.k(K.DETAIL, account_id, writer, key))
        return None if v is None else v.decode()

    def setting(self, key: str) -> str | None:
        v = self.get(K.SETTING + key.encode())
        return None if v is None else v.decode()

    def settings(self) -> dict[str, str]:
        n = len(K.SETTING)
        return {key[n:].decode(): v.decode() for key, v in self.iterate(K.SETTING)}
