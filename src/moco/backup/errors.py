"""The errors of the backup and restore programs: each says what failed and what fixes it.

::

    BackupError               anything that stops a backup or a restore
    ├── BucketError           the object store refused or failed a call (``.key`` names the object)
    │   ├── BucketAccessDenied  credentials missing or refused: the message names the variables to fix
    │   └── ObjectNotFound      no object under that key
    ├── NoBackup              no full backup at or before the restore point
    ├── RestorePointUnavailable  the restore point is past what the bucket holds (the last
    │                         backup, or how far the binlog archive is complete): names the latest point
    ├── ToolFailed            an external program (mysqld, mysqlbinlog, mysql) exited with an error
    └── InvalidArgument       a command-line argument or option is malformed

The command-line entry point prints the message and exits 1: a Job's Pod log then says why.
Messages never carry a password or a secret key.
"""

from __future__ import annotations


class BackupError(Exception):
    """Base of every error of :mod:`moco.backup`."""


class BucketError(BackupError):
    """An object-store call failed."""

    def __init__(self, message: str, *, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class BucketAccessDenied(BucketError):
    """The object store refused the credentials (or there are none)."""


class ObjectNotFound(BucketError):
    """No object under the key."""


class NoBackup(BackupError):
    """No full backup exists at or before the restore point."""


class RestorePointUnavailable(BackupError):
    """The restore point is past what the bucket holds; the message names the latest point.

    Raised before the target is touched: restoring less than asked, silently, is the failure
    this error exists to prevent."""


class ToolFailed(BackupError):
    """An external program failed; the message holds the tail of its stderr."""


class InvalidArgument(BackupError):
    """A malformed argument or option."""
