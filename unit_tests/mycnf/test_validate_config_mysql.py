"""The generated my.cnf against the real ``mysqld --validate-config`` of the sid root (MySQL 9.7).

What the validation Job (:mod:`moco.controllers.validation`) runs in the cluster, run here on
the host: MOCO's defaults pass; a MOCO manifest's ``innodb_log_file_size`` (removed in MySQL 9)
passes once translated; an option no MySQL 9 knows is refused, and the message the controller
reports names it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from moco import mycnf
from moco.controllers.validation import errors_of
from moco.mycnf.defaults import Paths
from moco.testing.mysqld import find_root

pytestmark = pytest.mark.mysql


def validate(conf: str, tmp: Path) -> tuple[int, str]:
    """(exit status, output) of mysqld --validate-config on ``conf`` (as the Job runs it)."""
    root = find_root()
    path = tmp / "my.cnf"
    path.write_text(conf)
    argv = [
        str(root / "lib64/ld-linux-x86-64.so.2"),
        "--library-path",
        f"{root}/usr/lib/x86_64-linux-gnu:{root}/lib/x86_64-linux-gnu",
        str(root / "usr/sbin/mysqld"),
        f"--defaults-file={path}",
        "--validate-config",
        "--log-error-verbosity=1",
        f"--basedir={root}/usr",
        f"--lc-messages-dir={root}/usr/share/mysql",
        f"--character-sets-dir={root}/usr/share/mysql/charsets",
        "--user=root",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def generate(user: dict[str, str] | None, tmp: Path) -> str:
    paths = Paths(
        data_root=str(tmp / "data"),
        run_dir=str(tmp / "run"),
        log_dir=str(tmp / "log"),
        tmp_dir=str(tmp / "tmp"),
        init_conf_dir=str(tmp / "conf.d"),
    )
    for d in ("run", "log", "tmp", "conf.d"):
        (tmp / d).mkdir(exist_ok=True)
    return mycnf.generate(user, 1 << 30, paths=paths)


def test_defaults_pass(tmp_path: Path) -> None:
    rc, out = validate(generate(None, tmp_path), tmp_path)
    assert rc == 0, out


def test_moco_manifests_log_file_size_passes_once_translated(tmp_path: Path) -> None:
    """MOCO's single.yaml ConfigMap, as written (mysqld 9.7 aborts on innodb_log_file_size)."""
    conf = generate({"long_query_time": "0", "innodb_log_file_size": "10M"}, tmp_path)
    rc, out = validate(conf, tmp_path)
    assert rc == 0, out


def test_the_untranslated_option_is_unknown_to_mysql_9(tmp_path: Path) -> None:
    """Why the translation exists: the same option written as is."""
    conf = generate(None, tmp_path).replace("[mysqld]\n", "[mysqld]\ninnodb_log_file_size = 10M\n", 1)
    rc, out = validate(conf, tmp_path)
    assert rc != 0
    assert "unknown variable 'innodb_log_file_size=10M'" in errors_of(out)


@pytest.mark.parametrize("option", ["query_cache_size", "master_info_repository", "no_such_option"])
def test_unknown_options_are_refused_by_name(tmp_path: Path, option: str) -> None:
    rc, out = validate(generate({option: "0"}, tmp_path), tmp_path)
    assert rc != 0
    message = errors_of(out)
    assert f"unknown variable '{option}=0'" in message
    assert "Aborting" not in message


def test_tls_settings_pass(tmp_path: Path) -> None:
    """moco's TLS settings are known options (the files are read at start, not by the check)."""
    paths = Paths(
        data_root=str(tmp_path / "data"),
        run_dir=str(tmp_path / "run"),
        log_dir=str(tmp_path / "log"),
        tmp_dir=str(tmp_path / "tmp"),
        init_conf_dir=str(tmp_path / "conf.d"),
    )
    for d in ("run", "log", "tmp", "conf.d"):
        (tmp_path / d).mkdir(exist_ok=True)
    rc, out = validate(mycnf.generate(None, 1 << 30, paths=paths, tls=True), tmp_path)
    assert rc == 0, out
