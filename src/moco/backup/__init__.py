"""Backup and point-in-time restore programs run by the backup CronJob and the restore Job.

The engine is a physical copy by CLONE: a backup clones a replica into the Job's own scratch
mysqld and streams the copied data directory, tar + zstd, to the bucket with a multipart upload;
a restore starts a scratch mysqld on the downloaded copy, gives moco's users the target's
passwords there, lets the target's primary clone it, then replays the source's binlogs up to the
restore point. API, command line, bucket layout and status fields are MOCO's.

Modules, one concept each (the Kubernetes side is :mod:`~moco.backup.kubeside` only):

- :mod:`~moco.backup.errors`: the error hierarchy;
- :mod:`~moco.backup.bucket`: one async bucket interface over S3, GCS and Azure (obstore);
- :mod:`~moco.backup.layout`: object keys and the backup serving a restore point (pure);
- :mod:`~moco.backup.choose`: the source instance and binlog continuity by server UUIDs (pure);
- :mod:`~moco.backup.archive`: a directory to/from one tar.zst object, streamed;
- :mod:`~moco.backup.scratch`: the scratch mysqld and the MySQL programs (:class:`Tools`);
- :mod:`~moco.backup.binlog`: binlog copy (mysqlbinlog, raw) and replay (mysqlbinlog | mysql);
- :mod:`~moco.backup.backup` / :mod:`~moco.backup.restore`: the two programs' cores, callable
  without Kubernetes;
- :mod:`~moco.backup.kubeside`: reading the MySQLCluster and Pods, writing status and Events.

Invariants: every SQL statement, HTTP request and child program is bounded; nothing the programs
run on a scratch server is binlogged (no errant GTID can reach a cluster); passwords travel only
as bound statement arguments or in 0600 files that are removed, never in logs or messages.
"""
