"""``moco-backup``: the backup and restore programs run by the CronJob and the restore Job.

MOCO's command line (and, beyond MOCO, ``archive``: continuous binlog archiving)::

    moco-backup [flags] backup BUCKET NAMESPACE NAME
    moco-backup [flags] restore BUCKET SOURCE_NAMESPACE SOURCE_NAME NAMESPACE NAME
        YYYYMMDD-hhmmss SCHEMA USERS
    moco-backup [flags] archive [--interval=5] BUCKET NAMESPACE NAME

Flags (before or after the subcommand, as cobra's persistent flags): ``--work-dir`` (/work),
``--threads`` (4), ``--region``, ``--endpoint``, ``--use-path-style``, ``--backend-type``
(s3|gcs|azure), ``--ca-cert-file-path`` (also ``--ca-cert``, the name of MOCO's newer
releases). ``MYSQL_PASSWORD`` is the backup user's password (backup) or the target's admin
password (restore); ``MOCO_BACKUP_SCRATCH_TEMPLATE`` optionally names an initialised data
directory the backup's scratch mysqld starts from (made on first use). Errors are printed on
stderr and exit with status 1; SIGTERM stops the scratch mysqld and child programs first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

from moco import log as mocolog
from moco.backup import kubeside
from moco.backup.bucket import BACKEND_TYPES, BucketConfig, open_bucket
from moco.backup.errors import BackupError, InvalidArgument
from moco.backup.layout import parse_time
from moco.backup.restore import parse_users
from moco.backup.scratch import Tools
from moco.kube.client import Client
from moco.kube.errors import KubeError

log = mocolog.get_logger("moco.cli.backup")

#: An initialised data directory for the backup's scratch mysqld, copied instead of running
#: ``mysqld --initialize`` (seconds) at every backup; made on first use when absent (an image
#: may ship one, a persistent work volume keeps one).
ENV_SCRATCH_TEMPLATE = "MOCO_BACKUP_SCRATCH_TEMPLATE"


def _bool(text: str) -> bool:
    v = text.strip().lower()
    if v in ("1", "t", "true", "yes", "on"):
        return True
    if v in ("0", "f", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    def d(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--work-dir", default=d("/work"), help="The writable working directory")
    parser.add_argument("--threads", type=int, default=d(4), help="The number of threads to be used")
    parser.add_argument("--region", default=d(""), help="Region used for object storage API")
    parser.add_argument("--endpoint", default=d(""), help="Object storage API endpoint URL")
    parser.add_argument(
        "--use-path-style",
        dest="use_path_style",
        action="store_true",
        default=d(False),
        help="Use path-style S3 API",
    )
    parser.add_argument(
        "--no-use-path-style", dest="use_path_style", action="store_false", help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--backend-type", default=d("s3"), help=f"The object storage to be used: {', '.join(BACKEND_TYPES)}"
    )
    parser.add_argument(
        "--ca-cert-file-path", "--ca-cert", dest="ca_cert", default=d(""), help="A CA certificate file (PEM)"
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="moco-backup", description="Backup and restore MySQL data.")
    _common(p, suppress=False)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backup", help="backup a MySQLCluster")
    _common(b, suppress=True)
    b.add_argument("bucket")
    b.add_argument("namespace")
    b.add_argument("name")
    r = sub.add_parser("restore", help="restore MySQL data from a backup")
    _common(r, suppress=True)
    for a in (
        "bucket",
        "source_namespace",
        "source_name",
        "namespace",
        "name",
        "restore_point",
        "schema",
        "users",
    ):
        r.add_argument(a)
    ar = sub.add_parser("archive", help="ship the primary's binlogs to the bucket continuously")
    _common(ar, suppress=True)
    ar.add_argument("--interval", type=float, default=5.0, help="Seconds between two uploads")
    ar.add_argument("bucket")
    ar.add_argument("namespace")
    ar.add_argument("name")
    return p


def bucket_config(ns: argparse.Namespace) -> BucketConfig:
    return BucketConfig(
        name=ns.bucket,
        backend_type=ns.backend_type,
        endpoint_url=ns.endpoint,
        region=ns.region,
        use_path_style=bool(ns.use_path_style),
        ca_cert_file=ns.ca_cert,
    )


async def run(ns: argparse.Namespace, env: dict[str, str]) -> None:
    password = env.get("MYSQL_PASSWORD", "")
    if not password:
        raise InvalidArgument("no MYSQL_PASSWORD environment variable")
    bucket = open_bucket(bucket_config(ns), env)
    template = env.get(ENV_SCRATCH_TEMPLATE, "")
    opts = kubeside.Options(
        work_dir=Path(ns.work_dir),
        threads=max(int(ns.threads), 1),
        password=password,
        scratch_template=Path(template) if template else None,
    )
    # mysqld refuses to run as root unless told to (a Job's container may run as root)
    tools = Tools(mysqld=("mysqld", "--no-defaults", "--user=root")) if os.geteuid() == 0 else Tools()
    if ns.command == "backup":
        async with await Client.auto() as client:
            await kubeside.backup(client, bucket, tools, opts, ns.namespace, ns.name)
        return
    if ns.command == "archive":
        async with await Client.auto() as client:
            await kubeside.archive(client, bucket, tools, opts, ns.namespace, ns.name, interval=ns.interval)
        return
    try:
        point = parse_time(ns.restore_point)
    except ValueError:
        raise InvalidArgument(f"invalid restore point {ns.restore_point} (YYYYMMDD-hhmmss)") from None
    async with await Client.auto() as client:
        await kubeside.restore(
            client,
            bucket,
            tools,
            opts,
            source_namespace=ns.source_namespace,
            source_name=ns.source_name,
            namespace=ns.namespace,
            name=ns.name,
            restore_point=point,
            schema=ns.schema,
            users=parse_users(ns.users),
            env=env,
        )


async def _main(ns: argparse.Namespace) -> int:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await run(ns, dict(os.environ))
    except asyncio.CancelledError:
        print("moco-backup: terminated", file=sys.stderr)
        return 143
    except (BackupError, KubeError, OSError) as e:
        log.error("failed", command=ns.command, error=str(e))
        print(f"moco-backup {ns.command}: {e}", file=sys.stderr)
        return 1
    return 0


def normalize(argv: Sequence[str]) -> list[str]:
    """cobra's ``--use-path-style=true|false`` as this parser's flags (a bare ``--use-path-style``
    never takes the next argument, the bucket, for its value)."""
    out = []
    for a in argv:
        if a.startswith("--use-path-style="):
            out.append("--use-path-style" if _bool(a.split("=", 1)[1]) else "--no-use-path-style")
        else:
            out.append(a)
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (``sys.argv[1:]`` by default), cobra's boolean forms included."""
    try:
        return parser().parse_args(normalize(sys.argv[1:] if argv is None else argv))
    except argparse.ArgumentTypeError as e:
        raise SystemExit(f"moco-backup: {e}") from None


def work_env(env: MutableMapping[str, str], work_dir: str) -> None:
    """Point the programs' own files at the work dir: ``HOME`` (the mysql clients' history and
    option files) always, ``TMPDIR`` unless the Pod sets one. The Jobs' root file system is
    read-only, and ``mysqld --initialize`` takes its temporary files from ``TMPDIR`` (else
    ``/tmp``: "Unable to create temporary file inside /tmp; errno: 30", every backup failed)."""
    env["HOME"] = work_dir
    env.setdefault("TMPDIR", work_dir)


def main(argv: Sequence[str] | None = None) -> None:
    ns = parse_args(argv)
    mocolog.setup(fmt="json")
    work_env(os.environ, ns.work_dir)
    sys.exit(asyncio.run(_main(ns)))


if __name__ == "__main__":
    main()
