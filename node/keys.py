"""Key files of a validator (local secrets; never on chain).

Two forms are read: our JSON (``{"scheme", "public_key", "private_key"}``, private key
as the 64-hex seed) and Iroha's ``*.priv`` hex files (64 hex = legacy ed25519-sha3 seed,
128 hex = Ursa ed25519 seed || public key), so Iroha's example keys work unchanged.
"""

from __future__ import annotations

import json
import os

from node.crypto import KeyPair, KeyScheme


class KeyFileError(ValueError):
    """A key file that cannot be used, with the path and the reason."""


def keypair_to_json(kp: KeyPair) -> str:
    return (
        json.dumps(
            {
                "scheme": kp.scheme.value,
                "public_key": kp.public_key,
                "private_key": kp.private_key_hex,
            },
            indent=2,
        )
        + "\n"
    )


def write_key_file(path: str, kp: KeyPair) -> None:
    """Write a key file readable only by its owner (0600), refusing to overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(keypair_to_json(kp))


def load_key_file(path: str) -> KeyPair:
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such key file") from None
    except OSError as e:
        raise KeyFileError(f"{path}: cannot read key file: {e.strerror}") from None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            raw = json.loads(stripped)
            scheme = KeyScheme(raw["scheme"])
            kp = KeyPair.from_seed(bytes.fromhex(raw["private_key"]), scheme)
        except (ValueError, KeyError, TypeError) as e:
            raise KeyFileError(
                f"{path}: expected JSON with 'scheme' (ed25519 | ed25519-sha3), "
                f"'public_key' and 'private_key' (64 hex seed): {e}"
            ) from None
        if raw.get("public_key", kp.public_key).lower() != kp.public_key:
            raise KeyFileError(f"{path}: public_key does not belong to private_key")
        return kp
    try:
        return KeyPair.from_private_hex(stripped)
    except ValueError as e:
        raise KeyFileError(f"{path}: {e}") from None
