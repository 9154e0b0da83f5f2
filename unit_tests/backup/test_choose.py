"""The source of a backup (MOCO's ChoosePod with server_uuid continuity)."""

from __future__ import annotations

from moco.backup.choose import WARN_BINLOG_GAP, LastBackup, choose_source

UUIDS = {"0": "u0", "1": "u1", "2": "u2"}


def last(index: int, uuids: dict[str, str] | None = None) -> LastBackup:
    return LastBackup(
        source_index=index, uuid_set=uuids or UUIDS, binlog_filename="binlog.000001", gtid_set=""
    )


def test_first_backup_takes_a_ready_replica() -> None:
    c = choose_source([True, True, True], 0, UUIDS, None)
    assert (c.index, c.skip_binlog) == (1, True)
    c = choose_source([True, False, True], 0, UUIDS, None)
    assert c.index == 2
    c = choose_source([True, False, False], 0, {"0": "u0"}, None)
    assert c.index == 0
    assert choose_source([True], 0, {"0": "u0"}, None).index == 0


def test_the_last_source_is_kept_while_it_is_an_unchanged_replica() -> None:
    c = choose_source([True, True, True], 0, UUIDS, last(2))
    assert (c.index, c.skip_binlog, c.warnings) == (2, False, ())


def test_a_recreated_last_source_is_replaced_by_an_unchanged_replica() -> None:
    now = {**UUIDS, "2": "new"}
    c = choose_source([True, True, True], 0, now, last(2))
    assert (c.index, c.skip_binlog) == (1, False)


def test_the_last_source_became_primary() -> None:
    c = choose_source([True, True, True], 1, UUIDS, last(1))
    assert (c.index, c.skip_binlog) == (0, False)


def test_every_uuid_changed_skips_binlogs_with_a_warning() -> None:
    now = {"0": "a", "1": "b", "2": "c"}
    c = choose_source([True, True, True], 0, now, last(1))
    assert (c.index, c.skip_binlog, c.warnings) == (0, True, (WARN_BINLOG_GAP,))


def test_only_the_primary_kept_its_uuid() -> None:
    now = {"0": "u0", "1": "b", "2": "c"}
    c = choose_source([True, True, True], 0, now, last(1))
    assert (c.index, c.skip_binlog) == (0, False)
