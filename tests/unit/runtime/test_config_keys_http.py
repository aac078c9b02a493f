"""Node config files, key files, logs and the HTTP health/metrics endpoint."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import trio

from node.api.http import HttpEndpoint
from node.config import ConfigError, NodeConfig, load_node_config, render_node_config
from node.crypto import KeyPair, KeyScheme
from node.keys import KeyFileError, load_key_file, write_key_file
from node.log import get_logger, setup_logging
from node.metrics import NodeMetrics


def test_config_round_trip(tmp_path: Path) -> None:
    cfg = NodeConfig(
        chain_id="bakong-test",
        data_dir="data",
        key_file="node.key",
        genesis_file="genesis.json",
        bootstrap=("127.0.0.1:10002",),
    )
    p = tmp_path / "node.toml"
    p.write_text(render_node_config(cfg))
    got = load_node_config(str(p))
    assert got.chain_id == "bakong-test"
    assert got.data_dir == str(tmp_path / "data")
    assert got.bootstrap == ("127.0.0.1:10002",)
    assert got.p2p_advertise == "127.0.0.1:10001"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[node]\nchain_id = 'x'\n", "missing required key 'data_dir'"),
        ("nonsense = [", "not valid TOML"),
        ("", "missing [node] table"),
        (
            "[node]\nchain_id='x'\ndata_dir='d'\nkey_file='k'\ngenesis_file='g'\n"
            "[network]\ntorii_listen='localhost'\n",
            "network.torii_listen must be 'host:port'",
        ),
        (
            "[node]\nchain_id='x'\ndata_dir='d'\nkey_file='k'\ngenesis_file='g'\n"
            "[limits.peers]\nmax_conections = 3\n",
            "unknown key limits.peers.max_conections",
        ),
        (
            "[node]\nchain_id='x'\ndata_dir='d'\nkey_file='k'\ngenesis_file='g'\n"
            "[log]\nlevel='loud'\n",
            "log.level must be one of",
        ),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=r"bad\.toml") as e:
        load_node_config(str(p))
    assert message in str(e.value)


def test_limits_override(tmp_path: Path) -> None:
    p = tmp_path / "n.toml"
    p.write_text(
        "[node]\nchain_id='x'\ndata_dir='d'\nkey_file='k'\ngenesis_file='g'\n"
        "[limits.torii]\nmax_concurrent_rpcs = 10\n"
        "[limits.admission]\nbacklog_s = 3\nmax_backlog_proposals = 6\n"
    )
    limits = load_node_config(str(p)).limits
    assert limits.torii.max_concurrent_rpcs == 10
    assert (limits.admission.backlog_s, limits.admission.max_backlog_proposals) == (3.0, 6)
    assert limits.admission.bound(commit_rate=10_000.0, max_proposal_size=500) == 3_000
    assert limits.admission.bound(commit_rate=0.0, max_proposal_size=500) == 1_000  # floor, 2 x 500


def test_key_files(tmp_path: Path) -> None:
    for scheme in KeyScheme:
        kp = KeyPair.generate(scheme)
        path = tmp_path / f"{scheme.value}.key"
        write_key_file(str(path), kp)
        assert path.stat().st_mode & 0o777 == 0o600
        assert load_key_file(str(path)) == kp
        with pytest.raises(FileExistsError):
            write_key_file(str(path), kp)
    iroha = tmp_path / "admin@test.priv"
    iroha.write_text("f101537e319568c765b2cc89698325604991dca57b9716b58016b253506cab70\n")
    assert load_key_file(str(iroha)).public_key == (
        "313a07e6384776ed95447710d15e59148473ccfc052a681317a72a69f2a49910"
    )
    bad = tmp_path / "bad.key"
    bad.write_text('{"scheme": "rsa", "private_key": "00"}')
    with pytest.raises(KeyFileError, match=r"bad\.key"):
        load_key_file(str(bad))
    with pytest.raises(KeyFileError, match="no such key file"):
        load_key_file(str(tmp_path / "missing"))


def test_log_lines() -> None:
    buf = io.StringIO()
    setup_logging("info", "kv", buf)
    get_logger("consensus").info("commit", height=5, note="two words")
    get_logger("consensus").debug("hidden")
    line = buf.getvalue().strip()
    assert "level=info comp=consensus event=commit height=5" in line
    assert 'note="two words"' in line and "hidden" not in buf.getvalue()
    buf = io.StringIO()
    setup_logging("debug", "json", buf)
    get_logger("net").warning("refused", peer="ab")
    doc = json.loads(buf.getvalue())
    assert doc["event"] == "refused" and doc["peer"] == "ab" and doc["level"] == "warning"


async def _get(port: int, raw: bytes) -> bytes:
    s = await trio.open_tcp_stream("127.0.0.1", port)
    await s.send_all(raw)
    out = b""
    while chunk := await s.receive_some(65536):
        out += chunk
    await s.aclose()
    return out


async def test_http_endpoint() -> None:
    m = NodeMetrics()
    m.height.set(7)
    ep = HttpEndpoint(m.render, lambda: {"status": "running", "is_syncing": False}, dict)
    async with trio.open_nursery() as n:
        port = await n.start(ep.serve, "127.0.0.1", 0)
        out = await _get(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200") and b"bakong_block_height 7.0" in out
        # the process's own figures, as any Prometheus-instrumented service has them
        for name in (
            b"process_resident_memory_bytes ",
            b"process_cpu_seconds_total ",
            b'python_gc_collections_total{generation="0"} ',
            b"python_info{",
        ):
            assert b"\n" + name in out, name
        out = await _get(port, b"GET /healthcheck HTTP/1.1\r\n\r\n")
        assert json.loads(out.split(b"\r\n\r\n", 1)[1])["status"] == "running"
        assert (await _get(port, b"POST /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 405")
        assert (await _get(port, b"GET /nope HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404")
        assert (await _get(port, b"garbage\r\n\r\n")).startswith(b"HTTP/1.1 400")
        assert (await _get(port, b"GET /" + b"a" * 9000)).startswith(b"HTTP/1.1 431")
        n.cancel_scope.cancel()
