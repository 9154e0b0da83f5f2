"""The in-place restore's pure parts and file steps (:mod:`moco.backup.inplace`), rule by rule."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from moco.backup.inplace import (
    KEPT_FILES,
    flush_tree,
    init_sql,
    load_users,
    save_users,
    state_dir,
    swap_datadir,
)


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def _read(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_rule2_init_sql_is_not_binlogged_lifts_read_only_and_drops_the_source_replication() -> None:
    sql = init_sql(["DROP USER IF EXISTS 'moco-admin'@'%'", "CREATE USER 'moco-admin'@'%' IDENTIFIED BY x;"])
    lines = sql.splitlines()
    assert lines[0] == "SET SESSION sql_log_bin = 0;", "nothing of the restore gets a GTID"
    assert lines[1] == "SET GLOBAL super_read_only = OFF;"
    assert lines[2:4] == [
        "DROP USER IF EXISTS 'moco-admin'@'%';",
        "CREATE USER 'moco-admin'@'%' IDENTIFIED BY x;",
    ], "one statement a line, each ended once"
    assert lines[-2:] == ["RESET REPLICA ALL;", "SET GLOBAL super_read_only = ON;"]


def test_rule3_the_state_directory_is_beside_the_data_directory(tmp_path: Path) -> None:
    d = tmp_path / "mysql" / "data"
    assert state_dir(d) == tmp_path / "mysql" / ".moco-restore.data"
    assert state_dir(d).parent == d.parent, "on the data directory's file system: renames, not copies"


def test_rule3_saved_users_are_private_and_their_presence_is_the_marker(tmp_path: Path) -> None:
    state = tmp_path / ".moco-restore.data"
    assert load_users(state) is None, "no interrupted restore: the users come from the target"
    save_users(state, ["CREATE USER 'a'@'%' IDENTIFIED WITH x AS 0x00", "GRANT ALL ON *.* TO 'a'@'%'"])
    assert load_users(state) == [
        "CREATE USER 'a'@'%' IDENTIFIED WITH x AS 0x00",
        "GRANT ALL ON *.* TO 'a'@'%'",
    ]
    assert stat.S_IMODE((state / "users.sql").stat().st_mode) == 0o600
    assert not list(state.glob(".*.tmp")), "written through a temporary file renamed into place"


def test_rule4_the_swap_keeps_the_target_identity_and_nothing_else(tmp_path: Path) -> None:
    datadir, staged, state = tmp_path / "data", tmp_path / "staged", tmp_path / ".moco-restore.data"
    _tree(
        datadir, {"auto.cnf": "uuid-target", "mysqld-auto.cnf": "{}", "binlog.000001": "old", "old.ibd": "o"}
    )
    _tree(staged, {"mysql.ibd": "copy", "app/t.ibd": "rows", "auto.cnf.not": "x"})
    state.mkdir()
    swap_datadir(staged, datadir, state)
    assert _read(datadir) == {
        "app/t.ibd": "rows",
        "auto.cnf": "uuid-target",
        "auto.cnf.not": "x",
        "mysql.ibd": "copy",
        "mysqld-auto.cnf": "{}",
    }, "the target's binlogs and tables are gone, its server_uuid and persisted settings kept"
    assert not staged.exists()
    assert set(KEPT_FILES) == {"auto.cnf", "mysqld-auto.cnf"}


@pytest.mark.parametrize("gone", ["data directory removed", "copy renamed in"])
def test_rule3_a_swap_interrupted_after_its_kept_files_are_saved_is_done_again(
    tmp_path: Path, gone: str
) -> None:
    datadir, state = tmp_path / "data", tmp_path / ".moco-restore.data"
    _tree(datadir, {"auto.cnf": "uuid-target", "t.ibd": "old"})
    state.mkdir()
    _tree(tmp_path / "first", {"t.ibd": "copy"})
    swap_datadir(tmp_path / "first", datadir, state)
    # the second run finds the kept files in the state directory, whatever is left of datadir
    if gone == "data directory removed":
        for p in datadir.iterdir():
            p.unlink()
        datadir.rmdir()
    _tree(tmp_path / "second", {"t.ibd": "copy again"})
    swap_datadir(tmp_path / "second", datadir, state)
    assert _read(datadir) == {"auto.cnf": "uuid-target", "t.ibd": "copy again"}


def test_rule4_a_target_without_kept_files_gets_none(tmp_path: Path) -> None:
    datadir, staged, state = tmp_path / "data", tmp_path / "staged", tmp_path / ".moco-restore.data"
    _tree(staged, {"mysql.ibd": "copy"})
    state.mkdir()
    swap_datadir(staged, datadir, state)
    assert _read(datadir) == {"mysql.ibd": "copy"}, "a new server_uuid is made at the first start"


def test_rule5_flush_tree_syncs_every_file_and_directory(tmp_path: Path) -> None:
    _tree(tmp_path / "d", {"a": "1", "b/c": "2", "b/d/e": "3"})
    assert flush_tree(tmp_path / "d") == 1 + 5, "the root, two directories below it and three files"
