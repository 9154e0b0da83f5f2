"""``kubectl-moco``'s argument handling and completion, without an apiserver."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from moco.cli.kubectl_moco import cli, cobra_completions

USAGE = [
    # (case, argv, fragment of the message)
    ("no cluster", ["switchover"], "Missing argument 'CLUSTER'"),
    ("unknown format", ["credential", "--format", "xml", "db"], "'xml' is not one of 'plain', 'mycnf'"),
    ("unknown user", ["credential", "-u", "root", "db"], "'root' is not one of"),
    ("agent user is not offered", ["mysql", "-u", "moco-agent", "db"], "'moco-agent' is not one of"),
    ("mysql options need --", ["mysql", "db", "-N"], "No such option '-N'"),
    ("index is a number", ["mysql", "--index", "one", "db"], "'one' is not a valid integer"),
    ("stop what", ["stop", "replication", "db"], "No such command 'replication'"),
    ("status output", ["status", "-o", "yaml", "db"], "'yaml' is not one of 'text', 'json'"),
    ("two clusters", ["start", "clustering", "a", "b"], "unexpected extra argument"),
]


@pytest.mark.parametrize(("case", "argv", "fragment"), USAGE, ids=[u[0] for u in USAGE])
def test_usage_errors_exit_2(case: str, argv: list[str], fragment: str) -> None:
    res = CliRunner().invoke(cli, argv)
    assert res.exit_code == 2, (case, res.output)
    assert fragment in res.output, case


def test_a_missing_kubeconfig_fails_with_1(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["--kubeconfig", str(tmp_path / "none"), "status", "db"])
    assert res.exit_code == 1
    assert "no such file" in res.stderr


def test_no_kubeconfig_at_all_says_how_to_give_one(tmp_path: Path) -> None:
    res = CliRunner(env={"KUBECONFIG": str(tmp_path / "none")}).invoke(cli, ["credential", "db"])
    assert res.exit_code == 1
    assert "pass --kubeconfig" in res.stderr


COMPLETIONS = [
    # (case, words (the last one is being completed), some expected candidates)
    ("subcommands", [""], {"mysql", "credential", "switchover", "stop", "start", "status"}),
    ("prefix", ["s"], {"switchover", "stop", "start", "status"}),
    ("stop what", ["stop", ""], {"clustering", "reconciliation"}),
    ("users", ["mysql", "-u", ""], {"moco-readonly", "moco-writable", "moco-admin"}),
    ("formats", ["credential", "--format", ""], {"plain", "mycnf"}),
    ("global flags", ["--"], {"--kubeconfig", "--context", "--namespace"}),
]


@pytest.mark.parametrize(("case", "words", "expected"), COMPLETIONS, ids=[c[0] for c in COMPLETIONS])
def test_kubectl_completion_protocol(case: str, words: list[str], expected: set[str]) -> None:
    out = cobra_completions(words).splitlines()
    assert out[-1] == ":4", "no file completion"
    values = {line.split("\t")[0] for line in out[:-1]}
    assert expected <= values, (case, values)


def test_cluster_names_complete_to_nothing_without_an_apiserver(tmp_path: Path) -> None:
    out = cobra_completions(["--kubeconfig", str(tmp_path / "none"), "switchover", ""])
    assert out == ":4\n"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str) -> None:
    res = CliRunner().invoke(cli, ["completion", shell])
    assert res.exit_code == 0
    assert "_KUBECTL_MOCO_COMPLETE" in res.output


def test_version() -> None:
    res = CliRunner().invoke(cli, ["--version"])
    assert res.exit_code == 0
    assert res.output.startswith("kubectl-moco, version ")
