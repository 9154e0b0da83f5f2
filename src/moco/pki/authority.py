"""The CA's material and its transitions (no I/O: the caller stores :meth:`Authority.to_data`).

An :class:`Authority` is what the CA Secret holds: the signing CA (certificate + key), a staged
successor (certificate + key + when it was staged) and the certificates of previous CAs. The
data keys (:data:`CA_CERT_KEY` ...) are the Secret's. :func:`advance` applies one decision of
:func:`moco.pki.decide.decide_ca`; :meth:`Authority.trust_bundle` is what both ends of a channel
verify peers against; :meth:`Authority.leaf` (re)issues a leaf when
:func:`moco.pki.decide.decide_leaf` says so.

Invariants: the key of a previous CA is never kept (nothing is signed by a CA once it is
replaced); a trust bundle never holds an expired CA; ``to_data``/``from_data`` round-trip.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace
from typing import Final

from moco.pki import certs
from moco.pki.certs import CertFacts, KeyPair
from moco.pki.decide import CAAction, CAView, LeafDecision, LeafSpec, Policy, decide_ca, decide_leaf
from moco.pki.errors import BadCertificate

CA_CERT_KEY: Final = "ca.crt"
CA_KEY_KEY: Final = "ca.key"
NEXT_CERT_KEY: Final = "next.crt"
NEXT_KEY_KEY: Final = "next.key"
NEXT_STAGED_AT_KEY: Final = "next-staged-at"
PREVIOUS_KEY: Final = "previous.crt"
#: the CA's subject (MOCO names its gRPC CA "MOCO gRPC CA")
CA_COMMON_NAME: Final = "moco agent CA"


@dataclass(frozen=True)
class Authority:
    current: KeyPair
    next: KeyPair | None = None
    next_staged_at: datetime.datetime | None = None
    previous: tuple[bytes, ...] = field(default=(), repr=False)

    # --- the Secret's data -------------------------------------------------------------------
    def to_data(self) -> dict[str, bytes]:
        data = {CA_CERT_KEY: self.current.cert_pem, CA_KEY_KEY: self.current.key_pem}
        if self.next is not None:
            data[NEXT_CERT_KEY] = self.next.cert_pem
            data[NEXT_KEY_KEY] = self.next.key_pem
            staged = self.next_staged_at or datetime.datetime.now(datetime.UTC)
            data[NEXT_STAGED_AT_KEY] = staged.isoformat().encode()
        if self.previous:
            data[PREVIOUS_KEY] = certs.bundle(self.previous)
        return data

    @classmethod
    def from_data(cls, data: dict[str, bytes]) -> Authority | None:
        """The authority stored in ``data`` (None when it has no current CA)."""
        if not data.get(CA_CERT_KEY) or not data.get(CA_KEY_KEY):
            return None
        nxt = None
        staged = None
        if data.get(NEXT_CERT_KEY) and data.get(NEXT_KEY_KEY):
            nxt = KeyPair(data[NEXT_CERT_KEY], data[NEXT_KEY_KEY])
            try:
                staged = datetime.datetime.fromisoformat(data.get(NEXT_STAGED_AT_KEY, b"").decode())
            except ValueError:
                staged = None  # decide_ca then reads the staging time off the certificate
        try:
            previous = certs.split_bundle(data.get(PREVIOUS_KEY, b""))
        except BadCertificate:
            previous = ()
        return cls(KeyPair(data[CA_CERT_KEY], data[CA_KEY_KEY]), nxt, staged, previous)

    # --- facts -------------------------------------------------------------------------------
    def view(self) -> CAView:
        def facts(pem: bytes) -> CertFacts | None:
            try:
                return certs.read(pem)
            except BadCertificate:
                return None

        previous = tuple(f for f in (facts(p) for p in self.previous) if f is not None)
        return CAView(
            current=facts(self.current.cert_pem),
            current_key_ok=certs.key_matches(self.current),
            next=None if self.next is None else facts(self.next.cert_pem),
            next_staged_at=self.next_staged_at,
            previous=previous,
        )

    @property
    def signer(self) -> CertFacts:
        return certs.read(self.current.cert_pem)

    def trust_bundle(self, now: datetime.datetime) -> bytes:
        """Current, next and unexpired previous CAs, as one PEM bundle."""
        pems = [self.current.cert_pem]
        if self.next is not None:
            pems.append(self.next.cert_pem)
        return certs.bundle([*pems, *_unexpired(self.previous, now)])

    # --- leaves ------------------------------------------------------------------------------
    def leaf(
        self, now: datetime.datetime, existing: KeyPair | None, want: LeafSpec, policy: Policy
    ) -> tuple[KeyPair, LeafDecision]:
        """``existing`` when :func:`decide_leaf` keeps it, else a new leaf; and the decision."""
        facts = None
        if existing is not None:
            try:
                facts = certs.read(existing.cert_pem)
            except BadCertificate:
                facts = None
        key_ok = existing is not None and certs.key_matches(existing)
        verdict = decide_leaf(now, facts, key_ok, self.signer, want, policy)
        if not verdict.issue and existing is not None:
            return existing, verdict
        pair = certs.issue(
            self.current,
            want.common_name,
            sorted(want.usages),
            now=now,
            validity=policy.leaf_validity,
            dns_names=want.dns_names,
        )
        return pair, verdict


def _new_ca(now: datetime.datetime, policy: Policy) -> KeyPair:
    return certs.new_ca(CA_COMMON_NAME, now=now, validity=policy.ca_validity)


def advance(
    now: datetime.datetime, authority: Authority | None, policy: Policy
) -> tuple[Authority, str] | None:
    """One step of the CA's life (None: nothing to do); the reason names the rule applied."""
    view = CAView(current=None) if authority is None else authority.view()
    decision = decide_ca(now, view, policy)
    if decision.action is CAAction.KEEP:
        return None
    if decision.action is CAAction.CREATE or authority is None:
        kept: tuple[bytes, ...] = ()
        if authority is not None and view.current is not None and view.current.not_after > now:
            kept = (authority.current.cert_pem,)  # a CA with a lost key still verifies what it signed
        prev = () if authority is None else authority.previous
        return Authority(_new_ca(now, policy), previous=prev + kept), decision.reason
    if decision.action is CAAction.PROMOTE:
        assert authority.next is not None
        return (
            Authority(authority.next, previous=(*authority.previous, authority.current.cert_pem)),
            decision.reason,
        )
    if decision.action is CAAction.STAGE:
        return replace(authority, next=_new_ca(now, policy), next_staged_at=now), decision.reason
    # PRUNE
    return replace(authority, previous=_unexpired(authority.previous, now)), decision.reason


def _unexpired(pems: tuple[bytes, ...], now: datetime.datetime) -> tuple[bytes, ...]:
    out = []
    for p in pems:
        try:
            if certs.read(p).not_after > now:
                out.append(p)
        except BadCertificate:
            continue
    return tuple(out)


def settle(
    now: datetime.datetime, authority: Authority | None, policy: Policy
) -> tuple[Authority, list[str]] | None:
    """Every step due now, in order (None: nothing to do); the reasons of the steps applied."""
    reasons: list[str] = []
    current = authority
    for _ in range(len(CAAction)):
        step = advance(now, current, policy)
        if step is None:
            break
        current, reason = step
        reasons.append(reason)
    if not reasons or current is None:
        return None
    return current, reasons
