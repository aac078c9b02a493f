"""Known-answer tests: Iroha's example key, Iroha's own ed25519-sha3 vectors, RFC 8032."""

from __future__ import annotations

import pytest

from node.crypto import KeyPair, KeyScheme, ed25519_sha3, scheme_of, sha3_256, verify

# Iroha's example/admin@test.priv and example/admin@test.pub.
ADMIN_SEED = "f101537e319568c765b2cc89698325604991dca57b9716b58016b253506cab70"
ADMIN_PUB = "313a07e6384776ed95447710d15e59148473ccfc052a681317a72a69f2a49910"
# Signature of SHA3-256(b"hello") by admin@test, computed by the official Iroha Python
# SDK (iroha==1.6.0.2, iroha.ed25519.signature_unsafe).
ADMIN_SIG_HELLO = (
    "110998dbba6f752e7135c219fcaa752010956df3b77b732bb91345ea0832b1ee"
    "975730288ec02fc0f90a5da5049721c763a3bb9eb43474e4501035490675da08"
)

# (seed, public key, message, signature) from hyperledger/iroha-ed25519
# test/ed25519/sign.input.with.sha3.txt: produced by Iroha's C library (ref10 +
# sha3_brainhub). The scheme signs the message itself; Iroha's pre-hash is one level up.
IROHA_ED25519_SHA3_VECTORS = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "a7d41f2ea60166d2c4fcbe145e97e4b8ef8f02471e92bb3158c7059dd7d0f990",
        "",
        "a7c4b7a43befdf9d2b83e605cda59951abd379dbeec89ce2841429891134ea19"
        "5b09a0efbf1f51ea6f83d0f75607dbce87424949f0a83c6c1cc642bf15eaec02",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "19438367352f678b4187ae69fe68dc861d1549ac0d269340b4d52387432b89dd",
        "72",
        "4867d6e8d468bf7e8b9a543d6e1a41450ee5d63cd5108139b95d3d201fa12af0"
        "24d5211b39d13987c4c4cbf059956ab6f823a473cca6707ab42afa71423b1201",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "a08fd46ee534e62d08e577a84a28601903d424bdf288be45644ece293672943e",
        "af82",
        "9efc1b853f839a2cdfb5371dd2a70f8c4515355caf1aedf7333c4fcd23cb443c"
        "d613dfec47cf4dcfd54951df22a685051f95e379f78f40a7e36a2c745eb3c705",
    ),
    (
        "de84f2435f78dedb87da18194ff6a336f08111150def901c1ac418146eb7b54a",
        "03601e629607704e443197f290128cc31ef085bdeb48082d828983b6dce30463",
        "205135ec7f417c858072d5233fb36482d4906abd60a74a498c347ff248dfa272"
        "2ca74e879de33169fadc7cd44d6c94a17d16e1e630824ba3e0df22ed68eaab",
        "c5fc3d03d478658b3176d350bfee6e5ae697dcfedffe5823bf36ac0ab9b11e9f"
        "6392db871fbabe8e36ba9884007e205369a8980bc3b22b2734d128be2781c007",
    ),
]

# RFC 8032 section 7.1, tests 1-3 (standard Ed25519).
RFC8032_VECTORS = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


def test_admin_key_derives_iroha_public_key() -> None:
    pair = KeyPair.from_private_hex(ADMIN_SEED)
    assert pair.scheme is KeyScheme.ED25519_SHA3
    assert pair.public_key == ADMIN_PUB
    assert pair.private_key_hex == ADMIN_SEED


def test_admin_key_signs_and_verifies_like_the_sdk() -> None:
    pair = KeyPair.from_private_hex(ADMIN_SEED)
    assert pair.sign(b"hello").hex() == ADMIN_SIG_HELLO
    sig = bytes.fromhex(ADMIN_SIG_HELLO)
    assert verify(ADMIN_PUB, b"hello", sig)
    assert verify(ADMIN_PUB.upper(), b"hello", sig)  # keys compare case-insensitively
    assert not verify(ADMIN_PUB, b"hellp", sig)
    # Legacy keys sign SHA3-256(payload), not the payload.
    assert ed25519_sha3.verify(bytes.fromhex(ADMIN_PUB), sha3_256(b"hello"), sig)
    assert not ed25519_sha3.verify(bytes.fromhex(ADMIN_PUB), b"hello", sig)


@pytest.mark.parametrize(("seed", "public", "message", "signature"), IROHA_ED25519_SHA3_VECTORS)
def test_iroha_ed25519_sha3_library_vectors(
    seed: str, public: str, message: str, signature: str
) -> None:
    raw_seed, msg, sig = bytes.fromhex(seed), bytes.fromhex(message), bytes.fromhex(signature)
    assert ed25519_sha3.public_key_from_seed(raw_seed).hex() == public
    assert ed25519_sha3.sign(raw_seed, msg).hex() == signature
    assert ed25519_sha3.verify(bytes.fromhex(public), msg, sig)
    assert not ed25519_sha3.verify(bytes.fromhex(public), msg + b"\x00", sig)


@pytest.mark.parametrize(("seed", "public", "message", "signature"), RFC8032_VECTORS)
def test_rfc8032_vectors(seed: str, public: str, message: str, signature: str) -> None:
    pair = KeyPair.from_seed(bytes.fromhex(seed), KeyScheme.ED25519)
    assert pair.public_key == "ed0120" + public
    msg = bytes.fromhex(message)
    assert pair.sign(msg).hex() == signature
    assert verify("ed0120" + public, msg, bytes.fromhex(signature))
    assert verify("ED0120" + public.upper(), msg, bytes.fromhex(signature))
    # The same 32 bytes read as a legacy key are a different scheme: no cross-acceptance.
    assert not verify(public, msg, bytes.fromhex(signature))


def test_sha3_256_fips202() -> None:
    assert sha3_256(b"").hex() == (
        "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
    )
    assert sha3_256(b"abc").hex() == (
        "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
    )


@pytest.mark.parametrize(
    ("key", "scheme"),
    [
        (ADMIN_PUB, KeyScheme.ED25519_SHA3),
        (ADMIN_PUB.upper(), KeyScheme.ED25519_SHA3),
        ("ed0120" + ADMIN_PUB, KeyScheme.ED25519),
        ("ED0120" + ADMIN_PUB, KeyScheme.ED25519),
        ("ed0120" + ADMIN_PUB[:-2], None),  # 31-byte multihash body
        ("ed0121" + ADMIN_PUB, None),  # wrong multihash length byte
        ("e70120" + ADMIN_PUB, None),  # other multihash code
        (ADMIN_PUB[:-1], None),
        (ADMIN_PUB + "0", None),
        (ADMIN_PUB[:-1] + "g", None),
        (ADMIN_PUB + "\n", None),
        (" " + ADMIN_PUB[1:], None),  # bytes.fromhex would skip the space
        (ADMIN_PUB[:-1] + "\u0661", None),  # a non-ASCII digit
        ("", None),
    ],
)
def test_scheme_of(key: str, scheme: KeyScheme | None) -> None:
    assert scheme_of(key) is scheme


def test_ursa_private_key_form() -> None:
    pair = KeyPair.from_seed(bytes.fromhex(RFC8032_VECTORS[0][0]), KeyScheme.ED25519)
    ursa = pair.private_key_hex + pair.public_key[6:]
    assert KeyPair.from_private_hex(ursa) == pair
    assert KeyPair.from_private_hex(ursa.upper() + "\n") == pair
    with pytest.raises(ValueError, match="does not match"):
        KeyPair.from_private_hex(pair.private_key_hex + "00" * 32)


@pytest.mark.parametrize("bad", ["", "zz" * 32, "ab" * 31, "ab" * 33, "ab" * 64 + "ab", "a b" * 32])
def test_from_private_hex_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        KeyPair.from_private_hex(bad)


def test_private_hex_scheme_override() -> None:
    pair = KeyPair.from_private_hex(ADMIN_SEED, KeyScheme.ED25519)
    assert pair.scheme is KeyScheme.ED25519
    assert pair.public_key.startswith("ed0120")
    assert pair.public_key != "ed0120" + ADMIN_PUB  # SHA-512 vs SHA3-512 expansion


def test_keypair_checks_its_fields() -> None:
    pair = KeyPair.from_private_hex(ADMIN_SEED)
    with pytest.raises(ValueError):
        KeyPair(KeyScheme.ED25519_SHA3, pair.seed, "ed0120" + ADMIN_PUB)
    with pytest.raises(ValueError):
        KeyPair(KeyScheme.ED25519_SHA3, pair.seed[:31], ADMIN_PUB)
    with pytest.raises(ValueError):
        KeyPair.from_seed(b"\x00" * 33, KeyScheme.ED25519)
    assert KeyPair(KeyScheme.ED25519_SHA3, pair.seed, ADMIN_PUB) == pair
    assert ADMIN_SEED not in repr(pair)  # secrets stay out of logs


def test_generate_is_deterministic_with_rng() -> None:
    import random

    for scheme in KeyScheme:
        a = KeyPair.generate(scheme, random.Random(7))
        b = KeyPair.generate(scheme, random.Random(7))
        c = KeyPair.generate(scheme, random.Random(8))
        assert a == b != c
        assert scheme_of(a.public_key) is scheme
    assert KeyPair.generate() != KeyPair.generate()  # os.urandom
    assert KeyPair.generate().scheme is KeyScheme.ED25519
