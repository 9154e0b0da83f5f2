"""moco's own small certificate authority (``cryptography``; no I/O, no Kubernetes).

The controller keeps one CA in a Secret of its namespace and issues from it the agents' serving
certificates and its own client certificate for the mutually authenticated agent channel
(:mod:`moco.agentapi.tls`), so no cert-manager is needed. :mod:`~moco.pki.certs` makes and
reads certificates, :mod:`~moco.pki.decide` holds the pure decisions (when to create, stage,
promote or prune a CA; when to reissue a leaf), :mod:`~moco.pki.authority` the CA's material and
its transitions. Time is always a parameter, so every decision is tested at any instant.
"""

from moco.pki.authority import Authority, advance, settle
from moco.pki.certs import CertFacts, KeyPair, Usage
from moco.pki.decide import CAAction, LeafSpec, Policy, decide_ca, decide_leaf
from moco.pki.errors import BadCertificate, PKIError

__all__ = [
    "Authority",
    "BadCertificate",
    "CAAction",
    "CertFacts",
    "KeyPair",
    "LeafSpec",
    "PKIError",
    "Policy",
    "Usage",
    "advance",
    "decide_ca",
    "decide_leaf",
    "settle",
]
