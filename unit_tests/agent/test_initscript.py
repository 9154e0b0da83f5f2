"""The init script, run by /bin/sh with a stand-in mysqld that records how it was called.

The real mysqld runs it in ``test_agent_mysql.py``; here the script's own logic is checked:
argument checks, the initialised mark, idempotency, the per-Pod settings file.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from moco import mycnf
from moco.agent.initscript import INITIALIZED_MARK, render_init_script

FAKE_MYSQLD = """#!/bin/sh
# records its arguments and makes a datadir like --initialize would
echo "$@" >> "$(dirname "$0")/calls"
for a in "$@"; do
  case "$a" in
    --datadir=*) d=${a#--datadir=}; mkdir -p "$d"; echo x > "$d/ibdata1" ;;
    --init-file=*) cp "${a#--init-file=}" "$(dirname "$0")/init.sql" ;;
  esac
done
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    fake = tmp_path / "bin" / "mysqld"
    fake.parent.mkdir()
    fake.write_text(FAKE_MYSQLD)
    fake.chmod(0o755)
    script = tmp_path / "moco-init.sh"
    script.write_text(render_init_script())
    return {
        "PATH": "/usr/bin:/bin",
        "POD_NAME": "moco-db-2",
        "CLUSTER_NAME": "db",
        "POD_NAMESPACE": "ns",
        "MOCO_MYSQLD": str(fake),
        "MOCO_MYSQLD_ARGS": "--defaults-file=/x.cnf",
        "MOCO_DATA_ROOT": str(tmp_path / "var"),
        "MOCO_CONF_DIR": str(tmp_path / "conf.d"),
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(env["MOCO_DATA_ROOT"]).parent / "moco-init.sh"
    return subprocess.run(
        ["/bin/sh", str(script), *args], check=False, env=env, capture_output=True, text=True, timeout=30
    )


def test_initialises_once_and_writes_the_pod_settings(env: dict[str, str]) -> None:
    root = Path(env["MOCO_DATA_ROOT"])
    calls = Path(env["MOCO_MYSQLD"]).parent / "calls"
    r = run(env, "1000")
    assert r.returncode == 0, r.stderr
    assert (root / INITIALIZED_MARK).exists()
    assert (root / "data" / "ibdata1").exists()
    lines = calls.read_text().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("--defaults-file=/x.cnf ")
    assert f"--datadir={root}/data" in lines[0]
    assert "--initialize-insecure" in lines[0]
    assert "'root'@'127.0.0.1'" in (calls.parent / "init.sql").read_text()
    assert not (root / ".moco-init.sql").exists()
    expected = mycnf.render_instance_conf(mycnf.instance_conf_for("moco-db-2", "db", "ns", 1000))
    conf = Path(env["MOCO_CONF_DIR"]) / "my.cnf"
    assert conf.read_text() == expected

    # a second run keeps the data and writes the same settings
    (root / "data" / "keep").write_text("me")
    r = run(env, "1000")
    assert r.returncode == 0, r.stderr
    assert len(calls.read_text().splitlines()) == 1
    assert (root / "data" / "keep").read_text() == "me"
    assert conf.read_text() == expected
    assert sorted(p.name for p in conf.parent.iterdir()) == ["my.cnf"]


def test_half_initialised_datadir_is_redone(env: dict[str, str]) -> None:
    root = Path(env["MOCO_DATA_ROOT"])
    (root / "data").mkdir(parents=True)
    (root / "data" / "junk").write_text("half")
    assert run(env, "1").returncode == 0
    assert not (root / "data" / "junk").exists()
    assert (root / INITIALIZED_MARK).exists()


def test_options(env: dict[str, str]) -> None:
    env |= {"MOCO_ADMIN_LOCALHOST": "1", "MOCO_REPORT_HOST": "h.example", "MOCO_LOWER_CASE_TABLE_NAMES": "1"}
    assert run(env, "7").returncode == 0
    calls = (Path(env["MOCO_MYSQLD"]).parent / "calls").read_text()
    assert "--lower-case-table-names=1" in calls
    assert (Path(env["MOCO_CONF_DIR"]) / "my.cnf").read_text() == mycnf.render_instance_conf(
        mycnf.InstanceConf(9, "localhost", "h.example")
    )


@pytest.mark.parametrize(
    ("args", "changes", "message"),
    [
        ((), {}, "usage"),
        (("x1",), {}, "bad SERVER_ID_BASE"),
        (("1",), {"POD_NAME": ""}, "POD_NAME is not set"),
        (("1",), {"POD_NAME": "db"}, "bad POD_NAME"),
        (("1",), {"POD_NAME": "db-x"}, "bad POD_NAME"),
        (("1",), {"CLUSTER_NAME": ""}, "CLUSTER_NAME"),
    ],
)
def test_refuses_bad_input(
    env: dict[str, str], args: tuple[str, ...], changes: dict[str, str], message: str
) -> None:
    r = run(env | changes, *args)
    assert r.returncode != 0
    assert message in r.stderr
    assert not Path(env["MOCO_DATA_ROOT"]).exists()


def test_script_is_posix_sh() -> None:
    text = render_init_script()
    assert text.startswith("#!/bin/sh\n")
    assert "[[" not in text  # no bashisms
    assert "server_id = ${SERVER_ID}" in text
