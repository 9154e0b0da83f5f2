"""my.cnf rendering: golden files, merge rules, buffer pool sizing, ConfigMap naming."""

from __future__ import annotations

from pathlib import Path

import pytest

from moco import mycnf
from moco.mycnf.generate import fnv1a_32, merge_section

GOLDEN = Path(__file__).parent / "golden"

OVERRIDES = {
    "max-connections": "500",
    "loose_innodb_numa_interleave": "OFF",
    "innodb_flush_neighbors": "1",
    "gtid_mode": "OFF",
    "log_bin": "/x",
    "log-error": "/y",
    "port": "1234",
    "_include": "plugin_load_add = x.so",
    "innodb_buffer_pool_size": "1G",
    "loose_foo": "1",
}


def _mysqld(conf: str) -> dict[str, str]:
    out: dict[str, str] = {}
    section = ""
    for line in conf.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "mysqld" and " = " in line:
            k, v = line.split(" = ", 1)
            assert k not in out, f"{k} written twice"
            out[k] = v
    return out


def test_default_golden() -> None:
    assert mycnf.generate(None, None) == (GOLDEN / "default.cnf").read_text()


def test_overrides_golden() -> None:
    assert mycnf.generate(OVERRIDES, 8 << 30) == (GOLDEN / "overrides.cnf").read_text()


def test_enforced_settings_win() -> None:
    conf = _mysqld(mycnf.generate(OVERRIDES, None))
    assert conf["gtid_mode"] == "ON"
    assert conf["port"] == "3306"
    assert "log_bin" not in conf
    assert "log_error" not in conf
    assert conf["max_connections"] == "500"
    assert conf["innodb_buffer_pool_size"] == "1G"


def test_loose_variants_replace_each_other() -> None:
    merged = merge_section({"loose_a": "1", "b": "1"}, {"a": "2", "loose-b": "3"})
    assert merged == {"a": "2", "loose_b": "3"}


def test_opaque_include_is_first_in_mysqld() -> None:
    conf = mycnf.generate({"_include": "!include /x.cnf"}, None)
    assert "[mysqld]\n!include /x.cnf\n" in conf
    assert conf.endswith("!includedir /etc/mysql-conf.d\n")


def test_rendering_is_deterministic_whatever_the_input_order() -> None:
    a = mycnf.generate(dict(OVERRIDES), 1 << 30)
    b = mycnf.generate(dict(reversed(list(OVERRIDES.items()))), 1 << 30)
    assert a == b


@pytest.mark.parametrize(
    ("memory", "expected"),
    [
        (None, 128 << 20),
        (0, 128 << 20),
        (100 << 20, 128 << 20),
        (1 << 30, 716 << 20),  # 1073741824 // 100 * 70 = 751619240 -> 716 MiB
        (8 << 30, 5734 << 20),
        (int(1.5 * (1 << 30)), 1075 << 20),
    ],
)
def test_buffer_pool_size(memory: int | None, expected: int) -> None:
    assert mycnf.buffer_pool_size(memory) == expected
    assert _mysqld(mycnf.generate({}, memory))["innodb_buffer_pool_size"] == str(expected)


def test_fnv1a_known_vectors() -> None:
    # Reference vectors of FNV-1a 32 bits.
    assert fnv1a_32(b"") == 0x811C9DC5
    assert fnv1a_32(b"a") == 0xE40C292C
    assert fnv1a_32(b"foobar") == 0xBF9CF968


def test_configmap_name_follows_content() -> None:
    a = mycnf.generate({}, 1 << 30)
    b = mycnf.generate({"max_connections": "10"}, 1 << 30)
    name = mycnf.configmap_name("db", a)
    assert name == f"moco-db.{fnv1a_32(a.encode()):08x}"
    assert name.startswith(mycnf.configmap_prefix("db"))
    assert name != mycnf.configmap_name("db", b)
    assert name == mycnf.configmap_name("db", mycnf.generate({}, 1 << 30))


def test_paths_are_configurable() -> None:
    p = mycnf.Paths(data_root="/d", run_dir="/r", log_dir="/l", tmp_dir="/t", init_conf_dir="/c")
    conf = mycnf.generate(None, None, paths=p)
    m = _mysqld(conf)
    assert (m["datadir"], m["socket"], m["tmpdir"], m["slow_query_log_file"]) == (
        "/d/data",
        "/r/mysqld.sock",
        "/t",
        "/l/mysql.slow",
    )
    assert conf.endswith("!includedir /c\n")


def test_tls_names_the_mounted_certificate_on_both_ports_and_wins_over_the_user() -> None:
    plain = _mysqld(mycnf.generate(None, None))
    assert not {k for k in plain if "ssl" in k}, "mysqld keeps its own certificate without tls"
    conf = _mysqld(mycnf.generate({"ssl_cert": "/mine.pem", "admin-ssl-key": "/mine.key"}, None, tls=True))
    for prefix in ("", "admin_"):
        assert conf[f"{prefix}ssl_ca"] == "/mysql-tls/ca.crt"
        assert conf[f"{prefix}ssl_cert"] == "/mysql-tls/tls.crt"
        assert conf[f"{prefix}ssl_key"] == "/mysql-tls/tls.key"
