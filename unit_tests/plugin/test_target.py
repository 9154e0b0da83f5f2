"""The kubeconfig, context and namespace a command acts on: kubectl's rules, as a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from moco.plugin.errors import PluginError
from moco.plugin.target import kubeconfig_paths, load, resolve


def kc(current: str | None, **contexts: str | None) -> dict[str, Any]:
    """A kubeconfig document with ``contexts`` (name -> namespace or None)."""
    doc: dict[str, Any] = {
        "contexts": [
            {"name": n, "context": {"cluster": "c", "user": "u", **({"namespace": ns} if ns else {})}}
            for n, ns in contexts.items()
        ]
    }
    if current is not None:
        doc["current-context"] = current
    return doc


ONE = [("a", kc("dev", dev="team", prod=None))]
TWO = [("a", kc("", dev="first")), ("b", kc("dev", dev="second", ops="ops"))]

TABLE = [
    # (case, configs, --context, --namespace, context, namespace)
    ("context's namespace", ONE, None, None, "dev", "team"),
    ("flag beats context", ONE, None, "other", "dev", "other"),
    ("context without namespace", ONE, "prod", None, "prod", "default"),
    ("first file sets the context's value", TWO, None, None, "dev", "first"),
    ("empty current-context is skipped", TWO, None, None, "dev", "first"),
    ("context from the second file", TWO, "ops", None, "ops", "ops"),
]


@pytest.mark.parametrize(
    ("case", "configs", "ctx", "ns", "context", "namespace"), TABLE, ids=[t[0] for t in TABLE]
)
def test_resolve(
    case: str,
    configs: list[tuple[str, dict[str, Any]]],
    ctx: str | None,
    ns: str | None,
    context: str,
    namespace: str,
) -> None:
    t = resolve(configs, context_flag=ctx, namespace_flag=ns)
    assert (t.context, t.namespace) == (context, namespace), case
    assert t.kubeconfig == ":".join(p for p, _ in configs)


@pytest.mark.parametrize(
    ("configs", "ctx", "fragment"),
    [
        ([], None, "no kubeconfig found"),
        ([("a", kc(None, dev=None))], None, "no current context"),
        (ONE, "staging", 'context "staging" does not exist'),
    ],
)
def test_resolve_refuses(configs: list[tuple[str, dict[str, Any]]], ctx: str | None, fragment: str) -> None:
    with pytest.raises(PluginError, match=fragment):
        resolve(configs, context_flag=ctx)


def test_paths_follow_kubectl() -> None:
    assert kubeconfig_paths("/x", {"KUBECONFIG": "/a:/b"}) == ["/x"]
    assert kubeconfig_paths(None, {"KUBECONFIG": "/a::/b"}) == ["/a", "/b"]
    assert kubeconfig_paths(None, {"HOME": "/home/me"}) == ["/home/me/.kube/config"]


def test_load_reads_files_and_skips_missing_ones_of_kubeconfig(tmp_path: Path) -> None:
    import yaml

    f = tmp_path / "config"
    f.write_text(yaml.safe_dump(kc("dev", dev="team")))
    t = load(env={"KUBECONFIG": f"{tmp_path / 'missing'}:{f}"}, namespace_flag=None)
    assert (t.kubeconfig, t.context, t.namespace) == (str(f), "dev", "team")
    assert t.kubeconfig_flag is None
    assert t.context_flag is None
    with pytest.raises(PluginError, match="no such file"):
        load(kubeconfig_flag=str(tmp_path / "missing"), env={})
    (tmp_path / "bad").write_text("- a list\n")
    with pytest.raises(PluginError, match="not a mapping"):
        load(kubeconfig_flag=str(tmp_path / "bad"), env={})
