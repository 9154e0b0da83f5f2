"""The agent's passwords from the mounted my.cnf Secret: rules 1, 2 and 4 of
:mod:`moco.agent.credentials`, with files laid out as kubelet lays out a Secret volume
(``..data`` -> a timestamped directory, each key a link through ``..data``)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from pathlib import Path

from aiohttp import web

from moco import constants
from moco.agent.config import AgentConfig
from moco.agent.credentials import MountedPasswords, exporter_reload_loop, parse_mycnf_password, resolve
from moco.controllers.secrets import mycnf_text
from moco.tasks import cancel_and_wait

AGENT = constants.AGENT_USER
ENV = {u: f"env-{u}" for u in constants.ALL_USERS}


def publish(volume: Path, files: dict[str, str], generation: int) -> None:
    """Write ``files`` as kubelet updates a Secret volume: a new directory, then one rename."""
    data = volume / f"..2026_12_01_{generation:04d}"
    data.mkdir()
    for key, text in files.items():
        (data / key).write_text(text)
    tmp = volume / "..data_tmp"
    tmp.symlink_to(data.name)
    os.replace(tmp, volume / "..data")
    for key in files:
        link = volume / key
        if not link.is_symlink():
            link.symlink_to(f"..data/{key}")


def mycnf_files(prefix: str) -> dict[str, str]:
    return {constants.mycnf_key(u): mycnf_text(u, f"{prefix}-{u}") for u in constants.ALL_USERS}


def test_parse_mycnf_password() -> None:
    assert parse_mycnf_password(mycnf_text("u", "abc")) == "abc"
    assert parse_mycnf_password("[client]\nuser=u\npassword=plain\n") == "plain"
    assert parse_mycnf_password("[client]\nuser=u\n") is None
    assert parse_mycnf_password("[mysqld]\npassword=x\n") is None
    assert parse_mycnf_password("not an ini file") is None


def test_rule_1_the_file_wins_and_is_read_again_when_it_changes(tmp_path: Path) -> None:
    publish(tmp_path, mycnf_files("old"), 1)
    pw = MountedPasswords(tmp_path, ENV)
    assert pw[AGENT] == f"old-{AGENT}"
    publish(tmp_path, mycnf_files("new"), 2)
    assert pw[AGENT] == f"new-{AGENT}", "the rotated file is read at the next lookup"
    assert dict(pw) == {u: f"new-{u}" for u in constants.ALL_USERS}


def test_rule_2_no_file_means_the_environment(tmp_path: Path) -> None:
    pw = MountedPasswords(tmp_path / "absent", ENV)
    assert pw[AGENT] == f"env-{AGENT}"
    publish(tmp_path, {constants.mycnf_key(AGENT): "[client]\nuser=moco-agent\n"}, 1)
    assert MountedPasswords(tmp_path, ENV)[AGENT] == f"env-{AGENT}", "a file without a password"
    assert "env-" not in repr(pw)


def test_rule_3_endpoints_are_made_at_connect_time(tmp_path: Path) -> None:
    publish(tmp_path, mycnf_files("old"), 1)
    cfg = AgentConfig(
        pod_name="moco-db-0",
        cluster_name="db",
        namespace="ns",
        token="t",
        passwords=MountedPasswords(tmp_path, ENV),
    )
    source = functools.partial(cfg.endpoint, AGENT)
    assert resolve(source).password == f"old-{AGENT}"
    publish(tmp_path, mycnf_files("new"), 2)
    assert resolve(source).password == f"new-{AGENT}"
    assert resolve(cfg.endpoint(AGENT)) == cfg.endpoint(AGENT)


async def test_rule_4_the_exporter_is_asked_to_reload_when_its_file_changes(tmp_path: Path) -> None:
    calls: list[str] = []
    called = asyncio.Event()

    async def reload(request: web.Request) -> web.Response:
        calls.append(request.method)
        called.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/-/reload", reload)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    publish(tmp_path, mycnf_files("old"), 1)
    path = tmp_path / constants.mycnf_key(constants.EXPORTER_USER)
    task = asyncio.create_task(exporter_reload_loop(path, f"http://127.0.0.1:{port}/-/reload", interval=0.05))
    try:
        await asyncio.sleep(0.3)
        assert calls == [], "nothing changed: no reload"
        publish(tmp_path, mycnf_files("new"), 2)
        async with asyncio.timeout(5):
            await called.wait()
        await asyncio.sleep(0.3)
        assert calls == ["POST"], "one reload per change"
    finally:
        await cancel_and_wait(task)
        with contextlib.suppress(Exception):
            await runner.cleanup()


async def test_rule_4_no_exporter_is_no_failure(tmp_path: Path) -> None:
    publish(tmp_path, mycnf_files("old"), 1)
    path = tmp_path / constants.mycnf_key(constants.EXPORTER_USER)
    task = asyncio.create_task(exporter_reload_loop(path, "http://127.0.0.1:9/-/reload", interval=0.05))
    publish(tmp_path, mycnf_files("new"), 2)
    await asyncio.sleep(0.3)
    assert not task.done(), "the loop goes on without an exporter"
    await cancel_and_wait(task)
