"""Async operations on one mysqld: knows nothing of Kubernetes; the only package importing aiomysql.

Modules, one concept each:

- :mod:`moco.mysql.errors`: the error hierarchy (``MySQLError`` and its subclasses).
- :mod:`moco.mysql.conn`: :class:`~moco.mysql.conn.Endpoint`, :func:`~moco.mysql.conn.connect`,
  :class:`~moco.mysql.conn.Connection` (timeouts on connect and on every statement).
- :mod:`moco.mysql.gtid`: :class:`~moco.mysql.gtid.GtidSet`, pure-Python GTID set algebra
  printing exactly what MySQL prints.
- :mod:`moco.mysql.status`: :func:`~moco.mysql.status.get_status`, the state of one server as
  frozen dataclasses.
- :mod:`moco.mysql.ops`: idempotent operations (read-only, semi-sync, replication source,
  waiting for GTIDs, killing connections, CLONE, plugins, binary log reset).

Invariants of the whole package: nothing waits without a bound; every failure is a
:class:`~moco.mysql.errors.MySQLError`; every operation can be repeated safely after a timeout;
only MySQL 8.4+ syntax; passwords are never logged. Callers hold a connection per server and
per task: a :class:`~moco.mysql.conn.Connection` runs one statement at a time.
"""
