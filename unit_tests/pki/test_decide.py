"""The CA and leaf decisions of moco.pki.decide: one table row per rule, tests named after them."""

from __future__ import annotations

import datetime

import pytest

from moco.pki import CAAction, CertFacts, LeafSpec, Policy, Usage, decide_ca, decide_leaf
from moco.pki.decide import CAView, next_due

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
P = Policy()


def ca(*, expires_in: datetime.timedelta = 3000 * DAY, key_id: str = "ca1", is_ca: bool = True) -> CertFacts:
    return CertFacts(
        common_name="moco agent CA",
        dns_names=(),
        usages=frozenset(),
        is_ca=is_ca,
        not_before=NOW - 600 * DAY,
        not_after=NOW + expires_in,
        key_id=key_id,
        issuer_key_id=key_id,
        fingerprint=key_id * 4,
    )


@pytest.mark.parametrize(
    ("view", "action", "reason"),
    [
        pytest.param(CAView(current=None), CAAction.CREATE, "rule 1: no CA", id="rule1-missing"),
        pytest.param(CAView(ca(), current_key_ok=False), CAAction.CREATE, "key is lost", id="rule1-key-lost"),
        pytest.param(CAView(ca(is_ca=False)), CAAction.CREATE, "not a CA", id="rule1-not-a-ca"),
        pytest.param(CAView(ca(expires_in=-DAY)), CAAction.CREATE, "expired", id="rule1-expired"),
        pytest.param(
            CAView(ca(expires_in=-DAY), next=ca(key_id="ca2"), next_staged_at=NOW - 365 * DAY),
            CAAction.CREATE,
            "expired",
            id="rule1-before-rule2",
        ),
        pytest.param(
            CAView(ca(expires_in=300 * DAY), next=ca(key_id="ca2"), next_staged_at=NOW - P.propagation),
            CAAction.PROMOTE,
            "rule 2",
            id="rule2-propagated",
        ),
        pytest.param(
            CAView(
                ca(expires_in=300 * DAY),
                next=ca(key_id="ca2"),
                next_staged_at=NOW - P.propagation + datetime.timedelta(seconds=1),
            ),
            CAAction.KEEP,
            "rule 5",
            id="rule2-not-yet-propagated",
        ),
        pytest.param(
            CAView(ca(expires_in=300 * DAY), next=ca(key_id="ca2"), next_staged_at=None),
            CAAction.PROMOTE,
            "rule 2",
            id="rule2-unknown-staging-time-read-off-the-certificate",
        ),
        pytest.param(CAView(ca(expires_in=P.ca_renew_before)), CAAction.STAGE, "rule 3", id="rule3-due"),
        pytest.param(
            CAView(ca(expires_in=P.ca_renew_before + DAY)), CAAction.KEEP, "rule 5", id="rule3-not-due"
        ),
        pytest.param(
            CAView(ca(), previous=(ca(key_id="old", expires_in=-DAY),)),
            CAAction.PRUNE,
            "rule 4",
            id="rule4-previous-expired",
        ),
        pytest.param(
            CAView(ca(), previous=(ca(key_id="old", expires_in=DAY),)),
            CAAction.KEEP,
            "rule 5",
            id="rule4-previous-still-valid",
        ),
        pytest.param(CAView(ca()), CAAction.KEEP, "rule 5", id="rule5-keep"),
    ],
)
def test_decide_ca(view: CAView, action: CAAction, reason: str) -> None:
    d = decide_ca(NOW, view, P)
    assert d.action is action
    assert reason in d.reason


CA = ca()
SPEC = LeafSpec("moco-agent", frozenset({Usage.SERVER}), ("*.moco-c.ns.svc",))


def leaf(
    *,
    issuer: str = "ca1",
    cn: str = "moco-agent",
    dns: tuple[str, ...] = ("*.moco-c.ns.svc",),
    usages: frozenset[Usage] = frozenset({Usage.SERVER}),
    starts: datetime.datetime = NOW - DAY,
    expires_in: datetime.timedelta = 60 * DAY,
) -> CertFacts:
    return CertFacts(
        common_name=cn,
        dns_names=dns,
        usages=usages,
        is_ca=False,
        not_before=starts,
        not_after=NOW + expires_in,
        key_id="leaf",
        issuer_key_id=issuer,
        fingerprint="f",
    )


@pytest.mark.parametrize(
    ("facts", "key_ok", "issue", "rule"),
    [
        pytest.param(None, False, True, "rule 1", id="rule1-missing"),
        pytest.param(leaf(), False, True, "rule 2", id="rule2-key-mismatch"),
        pytest.param(leaf(issuer="ca0"), True, True, "rule 3", id="rule3-other-ca"),
        pytest.param(leaf(cn="someone"), True, True, "rule 4", id="rule4-cn"),
        pytest.param(leaf(dns=("*.moco-d.ns.svc",)), True, True, "rule 4", id="rule4-dns"),
        pytest.param(leaf(usages=frozenset({Usage.CLIENT})), True, True, "rule 4", id="rule4-usage"),
        pytest.param(leaf(starts=NOW + DAY), True, True, "rule 5", id="rule5-not-yet-valid"),
        pytest.param(leaf(expires_in=-DAY), True, True, "rule 5", id="rule5-expired"),
        pytest.param(leaf(expires_in=P.leaf_renew_before), True, True, "rule 6", id="rule6-due"),
        pytest.param(leaf(expires_in=P.leaf_renew_before + DAY), True, False, "rule 7", id="rule7-keep"),
    ],
)
def test_decide_leaf(facts: CertFacts | None, key_ok: bool, issue: bool, rule: str) -> None:
    d = decide_leaf(NOW, facts, key_ok, CA, SPEC, P)
    assert d.issue is issue
    assert d.reason.startswith(rule)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ca_renew_before": 90 * DAY}, "ca_renew_before must exceed leaf_validity"),
        ({"leaf_renew_before": 90 * DAY}, "leaf_renew_before must be shorter"),
        ({"ca_validity": 365 * DAY}, "ca_renew_before must be shorter than ca_validity"),
    ],
)
def test_policy_refuses_margins_that_break_the_invariants(
    kwargs: dict[str, datetime.timedelta], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        Policy(**kwargs)


HOUR = datetime.timedelta(hours=1)


@pytest.mark.parametrize(
    ("view", "leaf_facts", "due"),
    [
        pytest.param(CAView(ca()), None, NOW + P.recheck, id="nothing-soon-recheck"),
        pytest.param(
            CAView(ca()), leaf(expires_in=P.leaf_renew_before + HOUR), NOW + HOUR, id="leaf-renewal"
        ),
        pytest.param(
            CAView(ca(expires_in=P.ca_renew_before + 2 * HOUR)), None, NOW + 2 * HOUR, id="ca-staging"
        ),
        pytest.param(
            CAView(
                ca(expires_in=300 * DAY),
                next=ca(key_id="ca2"),
                next_staged_at=NOW - P.propagation + HOUR / 60,
            ),
            None,
            NOW + HOUR / 60,
            id="ca-promotion",
        ),
        pytest.param(
            CAView(ca(), previous=(ca(key_id="old", expires_in=3 * HOUR),)), None, NOW + 3 * HOUR, id="prune"
        ),
        pytest.param(CAView(ca(expires_in=P.ca_renew_before - DAY)), None, NOW, id="already-due"),
    ],
)
def test_next_due(view: CAView, leaf_facts: CertFacts | None, due: datetime.datetime) -> None:
    assert next_due(NOW, view, leaf_facts, P) == due


@pytest.mark.parametrize(
    "view",
    [
        CAView(ca()),
        CAView(ca(expires_in=P.ca_renew_before + DAY)),
        CAView(ca(expires_in=300 * DAY), next=ca(key_id="ca2"), next_staged_at=NOW - P.propagation / 2),
    ],
)
def test_nothing_changes_before_next_due(view: CAView) -> None:
    """The invariant next_due promises: up to just before it, every decision stays KEEP."""
    f = leaf(expires_in=60 * DAY)
    due = next_due(NOW, view, f, P)
    just_before = due - datetime.timedelta(seconds=1)
    assert decide_ca(just_before, view, P).action is CAAction.KEEP
    assert not decide_leaf(just_before, f, True, CA, SPEC, P).issue
