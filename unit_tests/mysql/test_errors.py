"""Mapping of client-library errors into moco.mysql.errors (unit tests, no server)."""

from __future__ import annotations

import pymysql
import pytest

from moco.mysql.conn import Endpoint
from moco.mysql.errors import AccessDenied, MySQLError, SQLError, Timeout, Unreachable, translate


@pytest.mark.parametrize(
    ("exc", "cls", "code"),
    [
        (pymysql.err.OperationalError(2003, "Can't connect"), Unreachable, 2003),
        (pymysql.err.OperationalError(2013, "Lost connection"), Unreachable, 2013),
        (pymysql.err.InterfaceError(0, ""), Unreachable, 0),
        (ConnectionRefusedError(111, "Connection refused"), Unreachable, 0),
        (ConnectionResetError(104, "reset"), Unreachable, 0),
        (pymysql.err.OperationalError(1053, "Server shutdown in progress"), Unreachable, 1053),
        (pymysql.err.OperationalError(1045, "Access denied for user"), AccessDenied, 1045),
        (pymysql.err.OperationalError(1227, "Access denied; you need SUPER"), AccessDenied, 1227),
        (pymysql.err.ProgrammingError(1064, "syntax"), SQLError, 1064),
        (pymysql.err.OperationalError(1290, "super-read-only"), SQLError, 1290),
        (pymysql.err.InternalError(1193, "Unknown system variable"), SQLError, 1193),
        (TimeoutError(), Timeout, 0),
        # server errors above the client range (2000-2999) are the server's answers, not lost
        # connections: a replica refusing CHANGE REPLICATION SOURCE while its threads run
        (pymysql.err.OperationalError(3081, "run STOP REPLICA first"), SQLError, 3081),
        (pymysql.err.OperationalError(3024, "maximum statement execution time exceeded"), SQLError, 3024),
        (pymysql.err.OperationalError(13117, "replica must stop"), SQLError, 13117),
    ],
)
def test_translate(exc: BaseException, cls: type[MySQLError], code: int) -> None:
    err = translate(exc, where="h:1")
    assert type(err) is cls
    assert err.code == code
    assert str(err).startswith("h:1: ")


@pytest.mark.parametrize(
    ("exc", "refused"),
    [
        (ConnectionRefusedError(111, "Connection refused"), True),
        (pymysql.err.OperationalError(1053, "Server shutdown in progress"), True),
        (pymysql.err.OperationalError(2013, "Lost connection"), False),
        (ConnectionResetError(104, "reset"), False),
    ],
)
def test_refused_means_no_mysqld_there(exc: BaseException, refused: bool) -> None:
    err = translate(exc, where="h:1")
    assert isinstance(err, Unreachable)
    assert err.refused is refused


def test_translate_keeps_our_errors() -> None:
    e = SQLError("x", code=1)
    assert translate(e, where="h:1") is e


def test_endpoint_repr_hides_password() -> None:
    ep = Endpoint("h", 1, "u", "s3cret")
    assert "s3cret" not in repr(ep)
    assert ep.address == "h:1"
