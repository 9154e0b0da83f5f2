"""When to create, rotate or retire a CA and when to (re)issue a leaf: pure decisions over facts.

The CA lives through three states: a **current** CA signs; a **next** CA, once staged, is
trusted everywhere but signs nothing yet; **previous** CAs are trusted until they expire. Both
ends of a channel read the trust bundle (current + next + previous) from a Secret that reaches
them with a delay (a kubelet refreshes a mounted Secret within about a minute or two; the agent
polls its files). Staging the next CA ``propagation`` before it signs anything means every peer
already trusts a new certificate when it first sees one: rotation never breaks a handshake.

:func:`decide_ca`, first rule that holds:

1. ``CREATE``: there is no usable current CA (missing, its key lost, not a CA) or it expired
   (nothing it signed verifies any longer, so waiting for a staged successor would only prolong
   the outage);
2. ``PROMOTE``: a next CA has been staged for ``propagation``: it becomes current, the current
   one becomes previous;
3. ``STAGE``: the current CA expires within ``ca_renew_before`` and no next CA is staged;
4. ``PRUNE``: a previous CA expired: it leaves the bundle;
5. ``KEEP``.

:func:`decide_leaf`, first rule that holds (``ISSUE`` names the rule in its reason):

1. no certificate, or one that cannot be read;
2. its key does not belong to it;
3. it was signed by another CA than the current one (after a promotion);
4. its names or usages differ from the wanted ones;
5. it is not valid now (not yet, or no longer);
6. it expires within ``leaf_renew_before``;
7. ``KEEP``.

:func:`next_due` is the earliest instant either decision may change: a controller that looks
again then (and at least every ``recheck``) renews everything in time without any event.

Invariant (checked by :class:`Policy`): ``ca_renew_before > leaf_validity + propagation``, so
a leaf signed by a CA about to be replaced never needs to be clamped to its CA's expiry.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from moco.pki.certs import DEFAULT_BACKDATE, CertFacts, Usage

_DAY: Final = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Policy:
    """Lifetimes and margins (each default is the production value)."""

    #: a CA lives 10 years (MOCO's gRPC CA: 87600h)
    ca_validity: datetime.timedelta = 3650 * _DAY
    #: its successor is staged one year before it expires
    ca_renew_before: datetime.timedelta = 365 * _DAY
    #: a staged CA is trusted this long before it signs: longer than a kubelet takes to refresh a
    #: mounted Secret (sync period + cache TTL, 1 min each by default) plus the agent's poll
    propagation: datetime.timedelta = datetime.timedelta(minutes=10)
    #: a leaf (agent serving certificate, the controller's client certificate) lives 90 days
    leaf_validity: datetime.timedelta = 90 * _DAY
    #: and is reissued 30 days before it expires (a controller down for weeks still finds
    #: every agent certificate valid when it comes back)
    leaf_renew_before: datetime.timedelta = 30 * _DAY
    #: the longest a cluster goes without its certificates being looked at (another replica may
    #: have rotated the CA meanwhile; a clock may have jumped)
    recheck: datetime.timedelta = datetime.timedelta(hours=12)

    def __post_init__(self) -> None:
        if self.ca_renew_before <= self.leaf_validity + self.propagation:
            raise ValueError("Policy: ca_renew_before must exceed leaf_validity + propagation")
        if self.leaf_renew_before >= self.leaf_validity:
            raise ValueError("Policy: leaf_renew_before must be shorter than leaf_validity")
        if self.ca_renew_before >= self.ca_validity:
            raise ValueError("Policy: ca_renew_before must be shorter than ca_validity")


class CAAction(StrEnum):
    CREATE = "create"
    PROMOTE = "promote"
    STAGE = "stage"
    PRUNE = "prune"
    KEEP = "keep"


@dataclass(frozen=True)
class CAView:
    """The facts of a CA Secret that :func:`decide_ca` reads."""

    #: None: missing or unreadable
    current: CertFacts | None
    #: whether the stored key belongs to the current certificate
    current_key_ok: bool = True
    next: CertFacts | None = None
    next_staged_at: datetime.datetime | None = None
    previous: tuple[CertFacts, ...] = ()


@dataclass(frozen=True)
class Decision:
    action: CAAction
    reason: str


def decide_ca(now: datetime.datetime, view: CAView, policy: Policy) -> Decision:
    """The next step of the CA (see the module docstring for the rules)."""
    cur = view.current
    if cur is None or not view.current_key_ok or not cur.is_ca:
        why = "no CA" if cur is None else ("its key is lost" if not view.current_key_ok else "not a CA")
        return Decision(CAAction.CREATE, f"rule 1: {why}")
    if now >= cur.not_after:
        return Decision(CAAction.CREATE, f"rule 1: the CA expired at {cur.not_after.isoformat()}")
    if view.next is not None:
        # no (readable) staging time: the successor's start, which is its staging time minus the
        # backdate every certificate gets
        staged = view.next_staged_at or view.next.not_before + DEFAULT_BACKDATE
        if now - staged >= policy.propagation:
            return Decision(CAAction.PROMOTE, f"rule 2: next CA staged at {staged.isoformat()}")
    elif cur.not_after - now <= policy.ca_renew_before:
        return Decision(CAAction.STAGE, f"rule 3: the CA expires at {cur.not_after.isoformat()}")
    if any(p.not_after <= now for p in view.previous):
        return Decision(CAAction.PRUNE, "rule 4: a previous CA expired")
    return Decision(CAAction.KEEP, "rule 5")


@dataclass(frozen=True)
class LeafSpec:
    """The leaf wanted: its subject, DNS names and usages."""

    common_name: str
    usages: frozenset[Usage]
    dns_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class LeafDecision:
    issue: bool
    reason: str


def decide_leaf(
    now: datetime.datetime,
    leaf: CertFacts | None,
    key_ok: bool,
    signer: CertFacts,
    want: LeafSpec,
    policy: Policy,
) -> LeafDecision:
    """Whether to (re)issue a leaf (see the module docstring for the rules)."""
    if leaf is None:
        return LeafDecision(True, "rule 1: no readable certificate")
    if not key_ok:
        return LeafDecision(True, "rule 2: the key does not belong to the certificate")
    if leaf.issuer_key_id != signer.key_id:
        return LeafDecision(True, "rule 3: signed by another CA")
    if (leaf.common_name, tuple(sorted(leaf.dns_names)), leaf.usages) != (
        want.common_name,
        tuple(sorted(want.dns_names)),
        want.usages,
    ):
        return LeafDecision(True, "rule 4: names or usages changed")
    if not leaf.valid_at(now):
        return LeafDecision(True, "rule 5: not valid now")
    if leaf.not_after - now <= policy.leaf_renew_before:
        return LeafDecision(True, f"rule 6: expires at {leaf.not_after.isoformat()}")
    return LeafDecision(False, "rule 7")


def next_due(
    now: datetime.datetime, view: CAView, leaf: CertFacts | None, policy: Policy
) -> datetime.datetime:
    """The earliest instant :func:`decide_ca` or :func:`decide_leaf` may decide otherwise than
    now, bounded by ``now + recheck`` (``now`` when something is due already)."""
    instants = [now + policy.recheck]
    cur = view.current
    if cur is not None:
        if view.next is not None:
            staged = view.next_staged_at or view.next.not_before + DEFAULT_BACKDATE
            instants.append(staged + policy.propagation)
        else:
            instants.append(cur.not_after - policy.ca_renew_before)
        instants.append(cur.not_after)
    instants += [p.not_after for p in view.previous]
    if leaf is not None:
        instants += [leaf.not_after - policy.leaf_renew_before, leaf.not_after]
    return max(now, min(instants))
