"""A CA's whole life with real certificates: create, issue, stage, promote, prune, round-trips."""

from __future__ import annotations

import datetime

from moco.pki import Authority, KeyPair, LeafSpec, Policy, Usage, certs, settle

T0 = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
P = Policy()
AGENT = LeafSpec("moco-agent", frozenset({Usage.SERVER}), ("*.moco-c.ns.svc",))


def created() -> Authority:
    step = settle(T0, None, P)
    assert step is not None
    authority, reasons = step
    assert reasons == ["rule 1: no CA"]
    return authority


def bundle_fingerprints(pem: bytes) -> set[str]:
    return {certs.facts_of(c).fingerprint for c in certs.load_all(pem)}


def test_a_new_ca_is_a_ca_for_ten_years_and_needs_nothing_more() -> None:
    a = created()
    f = certs.read(a.current.cert_pem)
    assert f.is_ca
    assert f.key_id == f.issuer_key_id
    assert f.not_after == T0 + P.ca_validity
    assert certs.key_matches(a.current)
    assert settle(T0 + 100 * DAY, a, P) is None


def test_a_leaf_is_signed_by_the_ca_names_what_was_asked_and_is_kept_until_due() -> None:
    a = created()
    pair, d = a.leaf(T0, None, AGENT, P)
    assert d.issue
    f = certs.read(pair.cert_pem)
    assert (f.common_name, f.dns_names, f.usages, f.is_ca) == (
        "moco-agent",
        ("*.moco-c.ns.svc",),
        frozenset({Usage.SERVER}),
        False,
    )
    assert certs.signed_by(pair.cert_pem, a.current.cert_pem)
    assert f.not_before < T0 < f.not_after == T0 + P.leaf_validity
    same, d = a.leaf(T0 + 59 * DAY, pair, AGENT, P)
    assert same is pair
    assert not d.issue
    renewed, d = a.leaf(T0 + 60 * DAY, pair, AGENT, P)
    assert d.issue
    assert renewed.cert_pem != pair.cert_pem


def test_a_leaf_whose_key_was_swapped_is_reissued() -> None:
    a = created()
    one, _ = a.leaf(T0, None, AGENT, P)
    two, _ = a.leaf(T0, None, AGENT, P)
    mixed = KeyPair(one.cert_pem, two.key_pem)
    _, d = a.leaf(T0, mixed, AGENT, P)
    assert d.issue
    assert d.reason.startswith("rule 2")


def test_rotation_stages_then_promotes_and_both_cas_are_trusted_throughout() -> None:
    a = created()
    old_leaf, _ = a.leaf(T0, None, AGENT, P)
    stage_at = T0 + P.ca_validity - P.ca_renew_before
    step = settle(stage_at, a, P)
    assert step is not None
    staged, reasons = step
    assert [r.split(":")[0] for r in reasons] == ["rule 3"]
    assert staged.next is not None
    assert staged.current == a.current
    both = bundle_fingerprints(staged.trust_bundle(stage_at))
    assert {certs.read(a.current.cert_pem).fingerprint, certs.read(staged.next.cert_pem).fingerprint} == both
    assert settle(stage_at + P.propagation / 2, staged, P) is None  # not yet: peers may not trust it yet

    promote_at = stage_at + P.propagation
    step = settle(promote_at, staged, P)
    assert step is not None
    promoted, reasons = step
    assert [r.split(":")[0] for r in reasons] == ["rule 2"]
    assert promoted.current == staged.next
    assert promoted.previous == (a.current.cert_pem,)
    assert bundle_fingerprints(promoted.trust_bundle(promote_at)) == both  # the old CA still verifies
    # leaves are reissued by the new CA (rule 3), the old leaf stays verifiable meanwhile
    new_leaf, d = promoted.leaf(promote_at, old_leaf, AGENT, P)
    assert d.reason.startswith("rule 3")
    assert certs.signed_by(new_leaf.cert_pem, promoted.current.cert_pem)

    # at the old CA's expiry it leaves the bundle
    old_end = certs.read(a.current.cert_pem).not_after
    step = settle(old_end, promoted, P)
    assert step is not None
    pruned, reasons = step
    assert [r.split(":")[0] for r in reasons] == ["rule 4"]
    assert pruned.previous == ()
    assert bundle_fingerprints(pruned.trust_bundle(old_end)) == {
        certs.read(promoted.current.cert_pem).fingerprint
    }


def test_an_expired_ca_is_replaced_at_once() -> None:
    a = created()
    end = T0 + P.ca_validity
    step = settle(end, a, P)
    assert step is not None
    replaced, reasons = step
    assert reasons[0].startswith("rule 1")
    assert "expired" in reasons[0]
    assert replaced.previous == ()  # an expired CA verifies nothing: not kept
    assert certs.read(replaced.current.cert_pem).not_after == end + P.ca_validity


def test_a_ca_whose_key_is_lost_is_replaced_and_kept_trusted_for_what_it_signed() -> None:
    a = created()
    other = created()
    broken = Authority(KeyPair(a.current.cert_pem, other.current.key_pem))
    step = settle(T0, broken, P)
    assert step is not None
    replaced, reasons = step
    assert "key is lost" in reasons[0]
    assert replaced.previous == (a.current.cert_pem,)


def test_a_leaf_never_outlives_its_ca() -> None:
    a = created()
    late = T0 + P.ca_validity - 10 * DAY
    pair = certs.issue(a.current, "x", [Usage.CLIENT], now=late, validity=P.leaf_validity)
    assert certs.read(pair.cert_pem).not_after == certs.read(a.current.cert_pem).not_after


def test_the_secret_data_round_trips_in_every_state() -> None:
    a = created()
    step = settle(T0 + P.ca_validity - P.ca_renew_before, a, P)
    assert step is not None
    staged = step[0]
    promoted_step = settle(T0 + P.ca_validity - P.ca_renew_before + P.propagation, staged, P)
    assert promoted_step is not None
    for authority in (a, staged, promoted_step[0]):
        assert Authority.from_data(authority.to_data()) == authority
    assert Authority.from_data({}) is None


def test_a_key_never_shows_in_a_repr() -> None:
    a = created()
    assert b"PRIVATE KEY" in a.current.key_pem
    assert "PRIVATE" not in repr(a)
