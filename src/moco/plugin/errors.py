"""The failures ``kubectl moco`` reports: one message that names the cluster and what to do.

Every failure is a :class:`PluginError`; the entry point prints its message on stderr and exits
with :attr:`PluginError.exit_code`. Usage errors (unknown flag, missing argument) are click's and
exit with 2, as kubectl's own do.

==================  ====  ===========================================================
class               exit  when
==================  ====  ===========================================================
Refused             1     the command does not apply to this cluster (offline, single
                          instance, clustering stopped); nothing was changed
NotFound            1     the MySQLCluster, its Pod or its Secret does not exist
ApiFailure          1     the apiserver could not be reached or refused the request
WaitTimedOut        3     ``--wait`` gave up; the request stays in place
==================  ====  ===========================================================
"""

from __future__ import annotations


class PluginError(Exception):
    """A failure of one command; ``str()`` is what the user reads."""

    exit_code: int = 1


class Refused(PluginError):
    """The command does not apply to the cluster as it is; nothing was changed."""


class NotFound(PluginError):
    """An object the command needs does not exist."""


class ApiFailure(PluginError):
    """The apiserver was unreachable, too slow, or refused the request."""


class WaitTimedOut(PluginError):
    """``--wait`` ran out of time; what was requested is still requested."""

    exit_code = 3
