"""Kubernetes quantities (``512Mi``, ``1G``, ``1.5Gi``, ``100m``, ``1e9``) as numbers.

One parser for every part of moco that reads a quantity: the controller sizes the buffer pool
from the mysqld container's memory and compares claim sizes; the agent reads its
``--log-rotation-size`` flag. It sits at the bottom layer (no moco import) so both may use it.

Spelling is Kubernetes' (``resource.Quantity``): an optionally signed decimal number, with an
optional exponent (``1e3``) or one suffix, binary (``Ki Mi Gi Ti Pi Ei``) or decimal
(``m``, none, ``k M G T P E``). ``K`` (upper case) is not a Kubernetes suffix and is refused.

Pure functions; errors are :class:`QuantityError` (a :class:`ValueError`).
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Final

#: The multiplier of each suffix.
SUFFIXES: Final[dict[str, int | Decimal]] = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "m": Decimal("0.001"),
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}
_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_QUANTITY: Final = re.compile(rf"^({_NUMBER})(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E))?$")


class QuantityError(ValueError):
    """A text that is not a quantity (or not one the caller accepts)."""


def parse(value: str | int | float, *, fractions: bool = True) -> Decimal:
    """The exact value of ``value``; with ``fractions=False`` only a whole number and a suffix
    (``100Mi``, ``1G``) are accepted: no decimal point, no exponent, no value below one (``100m``)."""
    if isinstance(value, bool):
        raise QuantityError(f"bad quantity: {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not fractions and not value.is_integer():
            raise QuantityError(f"bad quantity: {value!r} (a whole number is required)")
        return Decimal(repr(value))
    m = _QUANTITY.match(value.strip())
    if not m:
        raise QuantityError(f"bad quantity: {value!r}")
    number, exponent, suffix = m.group(1), m.group(2), m.group(3) or ""
    if not fractions and ("." in number or exponent):
        raise QuantityError(f"bad quantity: {value!r} (a whole number and a suffix are required)")
    try:
        out = Decimal(number + (exponent or ""))
    except InvalidOperation as e:  # pragma: no cover - the pattern admits only valid numbers
        raise QuantityError(f"bad quantity: {value!r}") from e
    out *= SUFFIXES[suffix]
    if not fractions and out != out.to_integral_value():
        raise QuantityError(f"bad quantity: {value!r} (not a whole number)")
    return out


def to_int(value: str | int | float, *, fractions: bool = True) -> int:
    """``value`` rounded up to a whole number (bytes, for memory and storage)."""
    return int(parse(value, fractions=fractions).to_integral_value(rounding=ROUND_CEILING))
