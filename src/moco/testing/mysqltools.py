"""The MySQL programs of the test ground's root as the backup engine's :class:`Tools`.

mysqld, mysqlbinlog, mysql and mysqldump of the Debian sid root (``make mysql-root``) need sid's
glibc: each runs through the root's own dynamic loader, as :mod:`moco.testing.mysqld` runs
mysqld. In the backup image the same programs are simply on ``PATH`` (``Tools()``).
"""

from __future__ import annotations

from pathlib import Path

from moco.backup.scratch import Tools
from moco.testing.mysqld import find_root, mysqld_argv


def tools_from_root(root: Path | None = None) -> Tools:
    """The root's programs (the current root by default)."""
    root = root or find_root()
    loader = (
        str(root / "lib64/ld-linux-x86-64.so.2"),
        "--library-path",
        f"{root}/usr/lib/x86_64-linux-gnu:{root}/lib/x86_64-linux-gnu",
    )
    return Tools(
        mysqld=(*mysqld_argv(root), "--innodb-buffer-pool-size=64M", "--innodb-redo-log-capacity=16M"),
        mysqlbinlog=(*loader, str(root / "usr/bin/mysqlbinlog")),
        mysql=(*loader, str(root / "usr/bin/mysql")),
        mysqldump=(*loader, str(root / "usr/bin/mysqldump")),
    )


__all__ = ["tools_from_root"]
