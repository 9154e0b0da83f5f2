"""The agent's reload of mysqld's certificate (moco.agent.mysqltls): the decision table and the
reading of a Secret volume's files."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from moco.agent.mysqltls import Action, Files, decide, read
from moco.pki import KeyPair, Usage, certs

NOW = datetime.datetime.now(datetime.UTC)
A = Files(b"cert-a", b"key-a", b"ca")
B = Files(b"cert-b", b"key-b", b"ca")


@pytest.mark.parametrize(
    ("found", "loaded", "action", "rule"),
    [
        (None, None, Action.IDLE, "rule 1"),
        (None, A, Action.IDLE, "rule 1"),
        ("the certificate and the key do not belong together", A, Action.WAIT, "rule 2"),
        (A, A, Action.IDLE, "rule 3"),
        (A, None, Action.RELOAD, "rule 4: first look"),
        (B, A, Action.RELOAD, "rule 4: files changed"),
    ],
)
def test_decide(found: Files | str | None, loaded: Files | None, action: Action, rule: str) -> None:
    d = decide(found, loaded)
    assert d.action is action
    assert d.reason.startswith(rule), d.reason


def _pair() -> tuple[KeyPair, KeyPair]:
    ca = certs.new_ca("ca", now=NOW, validity=datetime.timedelta(days=10))
    return ca, certs.issue(ca, "moco-mysqld", [Usage.SERVER], now=NOW, validity=datetime.timedelta(days=1))


def test_read(tmp_path: Path) -> None:
    assert read(tmp_path / "absent") is None
    ca, leaf = _pair()
    (tmp_path / "tls.crt").write_bytes(leaf.cert_pem)
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    missing = read(tmp_path)
    assert isinstance(missing, str)
    assert "cannot read" in missing
    (tmp_path / "tls.key").write_bytes(ca.key_pem)  # another key: a read across the kubelet's swap
    assert read(tmp_path) == "the certificate and the key do not belong together"
    (tmp_path / "tls.key").write_bytes(leaf.key_pem)
    files = read(tmp_path)
    assert files == Files(leaf.cert_pem, leaf.key_pem, ca.cert_pem)
    assert "PRIVATE" not in repr(files)
