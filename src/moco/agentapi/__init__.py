"""The agent's HTTP API as both ends see it: the wire model and the client.

The agent (:mod:`moco.agent.server`) serves it; the controller
(:class:`moco.controllers.kubeside.AgentCloneAgent`) calls it through :class:`AgentClient`.
One pydantic model per message (:mod:`moco.agentapi.model`), so a field renamed on one side
cannot silently go missing on the other. This package sits below ``controllers`` and ``agent``
and imports neither.
"""

from moco.agentapi.client import AgentAPIError, AgentClient, AgentRefused, AgentUnreachable
from moco.agentapi.model import CLONE_PATH, CloneProgress, CloneRequest, CloneState, ErrorBody

__all__ = [
    "CLONE_PATH",
    "AgentAPIError",
    "AgentClient",
    "AgentRefused",
    "AgentUnreachable",
    "CloneProgress",
    "CloneRequest",
    "CloneState",
    "ErrorBody",
]
