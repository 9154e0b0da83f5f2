"""The per-Pod settings file."""

from __future__ import annotations

import pytest

from moco import mycnf


def test_instance_conf_for_pod() -> None:
    conf = mycnf.instance_conf_for("moco-db-2", "db", "ns", 1000)
    assert conf == mycnf.InstanceConf(1002, "moco-db-2", "moco-db-2.moco-db.ns.svc.cluster.local")
    assert mycnf.render_instance_conf(conf) == (
        "[mysqld]\n"
        "server_id = 1002\n"
        "admin_address = moco-db-2\n"
        "report_host = moco-db-2.moco-db.ns.svc.cluster.local\n"
    )


def test_admin_localhost() -> None:
    assert mycnf.instance_conf_for("moco-db-0", "db", "ns", 1, admin_localhost=True).admin_address == (
        "localhost"
    )


@pytest.mark.parametrize("name", ["db", "db-", "-1", "db-x", ""])
def test_bad_pod_names(name: str) -> None:
    with pytest.raises(mycnf.InstanceConfError):
        mycnf.ordinal_of(name)


@pytest.mark.parametrize(("server_id", "host"), [(0, "a"), (2**32, "a"), (1, ""), (1, "a b")])
def test_bad_values(server_id: int, host: str) -> None:
    with pytest.raises(mycnf.InstanceConfError):
        mycnf.InstanceConf(server_id, host, "r")
