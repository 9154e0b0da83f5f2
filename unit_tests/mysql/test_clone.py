"""How the clone procedure (:mod:`moco.mysql.clone`) reads the end of the CLONE statement."""

from __future__ import annotations

from moco.mysql.clone import Outcome, classify
from moco.mysql.errors import AccessDenied, SQLError, Timeout, Unreachable


def test_classify_the_end_of_the_clone_statement() -> None:
    # 3707: no supervisor (every Pod): the data is cloned, mysqld shuts down and is restarted
    restart_failed = Unreachable("x: (3707) Restart server failed", code=3707)
    assert classify(restart_failed) is Outcome.RESTARTING
    assert classify(SQLError("x: (3707) Restart server failed", code=3707)) is Outcome.RESTARTING
    assert classify(None) is Outcome.RESTARTING
    assert classify(Unreachable("lost", code=2013)) is Outcome.RESTARTING
    assert classify(Timeout("slow")) is Outcome.RESTARTING
    assert classify(SQLError("(3862) Clone Donor Error", code=3862)) is Outcome.FAILED
    assert classify(Unreachable("(3862) Clone Donor Error", code=3862)) is Outcome.FAILED
    assert classify(AccessDenied("denied", code=1045)) is Outcome.FAILED
