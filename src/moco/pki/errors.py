"""Errors of :mod:`moco.pki`."""

from __future__ import annotations


class PKIError(Exception):
    """A certificate authority or a certificate cannot be used."""


class BadCertificate(PKIError):
    """A certificate, a key or a bundle cannot be read, or the two do not belong together."""
