"""Errors of the agent, as a small tree.

::

    AgentError                 anything the agent itself refuses or fails at
    ├── ConfigError            a missing or malformed setting (env, flag, password)
    ├── InitError              the instance could not be initialised for moco
    └── CloneError             a clone request failed (bad request, busy, or the clone failed)

Errors of a mysqld are :class:`moco.mysql.errors.MySQLError` and pass through unchanged unless a
step wraps them to say which step failed.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of the agent's errors."""


class ConfigError(AgentError):
    """A setting is missing or malformed."""


class InitError(AgentError):
    """The instance could not be initialised."""


class CloneError(AgentError):
    """A clone could not be started or did not succeed."""
