"""``moco-agent``: the sidecar of every mysqld Pod.

Subcommands:

* ``moco-agent server`` (the default): initialise the local mysqld for moco, then serve the
  probes (9081), the agent API (9080, mutual TLS with the certificate of ``--grpc-cert-dir``)
  and metrics (8080) until SIGTERM/SIGINT;
* ``moco-agent init-script [--output PATH]``: write the POSIX shell init script that the
  ``moco-init`` init container runs with the user's mysqld image (``sh PATH SERVER_ID_BASE``).

Settings come from the environment (POD_NAME, CLUSTER_NAME, POD_NAMESPACE, MOCO_AGENT_TOKEN,
the users' passwords) and from flags; see :mod:`moco.agent.config`. Logs are structlog JSON
lines with ``pod`` and ``cluster`` keys; passwords and the token are never logged.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from moco import constants
from moco.log import get_logger, setup

if TYPE_CHECKING:
    from moco.agent.config import AgentConfig
    from moco.agentapi.tls import ReloadingServerContext

_DEFAULT_CERT_DIR = "/grpc-cert"  # moco.agentapi.tls.DEFAULT_CERT_DIR (a test keeps them equal)

# The agent's modules are imported after logging is set up (see ``main``): their module-level
# loggers take the configuration in force when they are created.


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="moco-agent", description="Agent for mysqld Pods managed by moco.")
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("server", help="initialise mysqld and serve probes, the agent API and metrics")
    s.add_argument("--log-level", default=os.environ.get("MOCO_LOG_LEVEL", "INFO"))
    s.add_argument("--listen-host", default="0.0.0.0", help="address of the three listeners")
    s.add_argument("--address-port", type=int, default=constants.AGENT_PORT, help="agent API port")
    s.add_argument("--probe-port", type=int, default=constants.MYSQL_HEALTH_PORT, help="probe port")
    s.add_argument("--metrics-port", type=int, default=constants.AGENT_METRICS_PORT, help="metrics port")
    s.add_argument("--mysqld-host", default="127.0.0.1", help="where the local mysqld listens")
    s.add_argument("--mysqld-port", type=int, default=constants.MYSQL_PORT)
    s.add_argument("--max-delay", default="60s", help="replication lag still ready (0 accepts any lag)")
    s.add_argument("--transaction-queueing-wait", default="60s", help="grace for a fresh replica")
    s.add_argument("--log-rotation-schedule", default="*/5 * * * *", help="cron schedule of log rotation")
    s.add_argument("--log-rotation-size", default="0", help="rotate logs larger than this (0: never)")
    s.add_argument("--log-dir", default=constants.LOG_DIR_PATH)
    s.add_argument("--init-timeout", default="60s", help="how long to wait for mysqld at start")
    s.add_argument(
        "--grpc-cert-dir",
        default=_DEFAULT_CERT_DIR,
        help="the agent API's certificate: tls.crt, tls.key and ca.crt (Secret moco-<cluster>-grpc)",
    )

    i = sub.add_parser("init-script", help="write the init script run by the mysqld image")
    i.add_argument("--log-level", default=os.environ.get("MOCO_LOG_LEVEL", "INFO"))
    i.add_argument("--output", "-o", help="file to write (default: stdout)")
    return p


def _write_init_script(output: str | None) -> int:
    from moco.agent.initscript import render_init_script

    text = render_init_script()
    if output is None:
        sys.stdout.write(text)
        return 0
    path = Path(output)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(0o755)
    tmp.replace(path)
    return 0


def config_from(args: argparse.Namespace, env: dict[str, str]) -> AgentConfig:
    """The agent's configuration from parsed flags and the environment."""
    from moco.agent.config import AgentConfig, env_settings, parse_duration, parse_size
    from moco.agent.readiness import ReadinessPolicy

    settings: dict[str, Any] = env_settings(env)
    return AgentConfig(
        **settings,
        mysqld_host=args.mysqld_host,
        mysqld_port=args.mysqld_port,
        listen_host=args.listen_host,
        agent_port=args.address_port,
        probe_port=args.probe_port,
        metrics_port=args.metrics_port,
        policy=ReadinessPolicy(
            max_delay_s=parse_duration(args.max_delay),
            transaction_queueing_wait_s=parse_duration(args.transaction_queueing_wait),
        ),
        log_dir=Path(args.log_dir),
        log_rotation_schedule=args.log_rotation_schedule,
        log_rotation_size=parse_size(args.log_rotation_size),
        init_timeout_s=parse_duration(args.init_timeout),
    ).validate()


def server_tls(cert_dir: str) -> ReloadingServerContext:
    """The agent API's TLS from ``--grpc-cert-dir``; raises :class:`moco.agent.errors.ConfigError`
    naming the flag and the files when they cannot be used (the agent never serves without)."""
    import ssl

    from moco.agent.errors import ConfigError
    from moco.agentapi import tls

    try:
        return tls.ReloadingServerContext(Path(cert_dir))
    except (OSError, ssl.SSLError, ValueError) as e:
        raise ConfigError(
            f"--grpc-cert-dir={cert_dir}: cannot load {tls.CERT_FILE}, {tls.KEY_FILE} and {tls.CA_FILE} "
            f"({e}); the Pod mounts Secret moco-<cluster>-grpc there, issued by moco-controller"
        ) from e


async def _serve(config: AgentConfig, tls: ReloadingServerContext) -> None:
    from moco.agent.server import Agent

    agent = Agent(config, tls=tls)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.stop_event.set)
    await agent.run()


SUBCOMMANDS = ("server", "init-script")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``moco-agent``; without a subcommand (MOCO's Pod spec passes only flags) it is ``server``."""
    words = list(sys.argv[1:] if argv is None else argv)
    if not words or (words[0] not in SUBCOMMANDS and words[0] not in ("-h", "--help")):
        words.insert(0, "server")
    args = _parser().parse_args(words)
    setup(args.log_level, "json" if args.command != "init-script" else "auto")
    if args.command == "init-script":
        return _write_init_script(args.output)
    from moco.agent.errors import AgentError
    from moco.mysql.errors import MySQLError

    log = get_logger("moco.cli.agent")
    try:
        config = config_from(args, dict(os.environ))
        tls = server_tls(args.grpc_cert_dir)
    except AgentError as e:
        log.error("bad configuration", error=str(e))
        return 2
    structlog.contextvars.bind_contextvars(pod=config.pod_name, cluster=config.cluster_name)
    try:
        import uvloop

        uvloop.run(_serve(config, tls))
    except (AgentError, MySQLError) as e:
        log.error("agent failed", error=str(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
