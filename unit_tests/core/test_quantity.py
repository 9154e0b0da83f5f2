"""moco.quantity: Kubernetes' spelling of quantities, exact values, whole-number mode."""

from __future__ import annotations

from decimal import Decimal

import pytest

from moco import quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("100", 100),
        ("512Mi", 512 * 2**20),
        ("1Ki", 1024),
        ("1.5Gi", 3 * 2**29),
        ("1G", 10**9),
        ("1k", 1000),
        ("2E", 2 * 10**18),
        ("1Ei", 2**60),
        ("1e9", 10**9),
        ("1E3", 1000),
        ("100m", Decimal("0.1")),
        (".5", Decimal("0.5")),
        ("+1M", 10**6),
        ("-1Mi", -(2**20)),
        (" 10Mi ", 10 * 2**20),
        (7, 7),
        (2.5, Decimal("2.5")),
    ],
)
def test_parse(text: str | int | float, value: int | Decimal) -> None:
    assert quantity.parse(text) == value


@pytest.mark.parametrize("text", ["", "lots", "1K", "1.2.3", "1e3Ki", "Mi", "1 Mi", "0x10", "1mi"])
def test_refused(text: str) -> None:
    with pytest.raises(quantity.QuantityError):
        quantity.parse(text)


def test_to_int_rounds_up() -> None:
    assert quantity.to_int("1500m") == 2
    assert quantity.to_int("1.5Gi") == 3 * 2**29
    assert quantity.to_int("0.1") == 1


@pytest.mark.parametrize("text", ["1.5Gi", "1e3", "100m", "0.5"])
def test_whole_numbers_only(text: str) -> None:
    with pytest.raises(quantity.QuantityError):
        quantity.to_int(text, fractions=False)
    assert quantity.to_int("10Mi", fractions=False) == 10 * 2**20


def test_error_is_a_value_error() -> None:
    assert issubclass(quantity.QuantityError, ValueError)
    with pytest.raises(quantity.QuantityError):
        quantity.parse(True)
