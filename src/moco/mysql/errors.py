"""The errors of the mysql layer: every failure of a call into mysqld is one of these.

::

    MySQLError                 anything that went wrong talking to one mysqld
    ├── Unreachable            no connection: refused, reset, lost mid-statement, closed (2003, 2013, ...);
    │   │                      ``.refused``: nothing listens on the port, or mysqld is shutting down (1053)
    │   └── UntrustedServer    TLS required, and the server's certificate was refused or no TLS offered
    ├── Timeout                connect or statement did not finish within its bound (the connection is closed)
    ├── AccessDenied           authentication failed (1045) or the user lacks a privilege (1142, ...)
    ├── SQLError               the server answered with an error; ``.code`` is MySQL's error number
    └── CloneFailed            CLONE INSTANCE did not complete; ``.code`` and the message of clone_status

Callers decide on the class (retry on :class:`Unreachable` / :class:`Timeout`, give up on
:class:`AccessDenied`) and look at ``.code`` only for :class:`SQLError`. Messages never hold a
password: the server never echoes one, and this layer never puts one in a message.
"""

from __future__ import annotations

from typing import Any

#: Client-side error numbers meaning "no usable connection".
UNREACHABLE_CODES = frozenset({2002, 2003, 2005, 2006, 2013, 2026, 2055})
#: ER_SERVER_SHUTDOWN: the server is shutting down (it closes its listener first, then answers
#: this to the statements of open connections): the same fact as a refused connection.
ER_SERVER_SHUTDOWN = 1053
#: the client library's error numbers (libmysqlclient's CR_* and pymysql's own): 2000-2999.
CLIENT_ERRORS_FIRST = 2000
CLIENT_ERRORS_LAST = 2999
#: Server error numbers meaning "who you are may not do this".
ACCESS_DENIED_CODES = frozenset({1044, 1045, 1142, 1143, 1227, 1698, 3530})


class MySQLError(Exception):
    """Base of every error raised by :mod:`moco.mysql`."""

    def __init__(self, message: str, *, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class Unreachable(MySQLError):
    """The server could not be reached or the connection was lost.

    ``refused`` is true when the connection was refused: the host (a Pod's network namespace)
    is there and answered at once, but no mysqld listens on the port. That is a different
    fact from silence (a lost packet, a dead or cut-off machine), which ends in :class:`Timeout`:
    a network blip does not refuse connections. A statement answered with "server shutdown in
    progress" (1053) is filed here too, as refused: mysqld is going away.
    """

    def __init__(self, message: str, *, code: int = 0, refused: bool = False) -> None:
        super().__init__(message, code=code)
        self.refused = refused


class UntrustedServer(Unreachable):
    """A connection that must be TLS could not be made so: the server's certificate does not
    chain to the trusted CA or does not name the server, or the server offered no TLS. No
    statement was sent. Never ``refused``: something answered, it is not known to be mysqld."""


class Timeout(MySQLError):
    """A connect or a statement exceeded its timeout; the connection was closed."""


class AccessDenied(MySQLError):
    """The server refused the credentials or the privilege."""


class SQLError(MySQLError):
    """The server rejected a statement; ``code`` is MySQL's error number (e.g. 1193)."""


class CloneFailed(MySQLError):
    """A CLONE INSTANCE FROM did not complete; ``code`` is clone_status.ERROR_NO."""


def translate(exc: BaseException, *, where: str) -> MySQLError:
    """Map an aiomysql/pymysql/OS/asyncio exception to this layer's hierarchy.

    ``where`` (e.g. ``"127.0.0.1:3306"``) is put in the message so that logs say which server.
    """
    if isinstance(exc, MySQLError):
        return exc
    if isinstance(exc, TimeoutError):
        return Timeout(f"{where}: timed out")
    if isinstance(exc, OSError | EOFError):
        return Unreachable(f"{where}: {exc or type(exc).__name__}", refused=_refused(exc))
    code, msg = _code_and_message(exc)
    if code == ER_SERVER_SHUTDOWN:
        return Unreachable(f"{where}: ({code}) {msg}", code=code, refused=True)
    if code in UNREACHABLE_CODES:
        return Unreachable(f"{where}: ({code}) {msg}", code=code, refused=_refused(exc))
    if code in ACCESS_DENIED_CODES:
        return AccessDenied(f"{where}: {msg}", code=code)
    if code == 0:
        # pymysql's InterfaceError(0, '') means the connection is already closed.
        return Unreachable(f"{where}: {msg or type(exc).__name__}", code=0)
    if CLIENT_ERRORS_FIRST <= code <= CLIENT_ERRORS_LAST:
        # the client library's own errors (CR_*): the connection, not the server, failed; the
        # server's errors are numbered below and above this range (3000+, 10000+ since 8.0)
        return Unreachable(f"{where}: ({code}) {msg}", code=code)
    return SQLError(f"{where}: ({code}) {msg}", code=code)


def _refused(exc: BaseException) -> bool:
    """Whether ``exc`` or an exception it was raised from is a refused TCP connection.

    aiomysql raises ``OperationalError(2003, ...)`` from the ``ConnectionRefusedError`` of the
    connect call; the chain is followed rather than the message parsed.
    """
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, ConnectionRefusedError):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def _code_and_message(exc: BaseException) -> tuple[int, str]:
    args: tuple[Any, ...] = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return args[0], str(args[1])
    return 0, str(exc)
