"""Shared pytest set-up.

Fixtures of the test ground live in ``unit_tests/fixtures/*.py``, one module per part (mysqld,
apiserver, ...); every module there is loaded as a plugin, so a tier adds its fixtures without
touching this file. Tiers are selected by markers (see pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

pytest_plugins = sorted(
    f"unit_tests.fixtures.{p.stem}"
    for p in (Path(__file__).parent / "fixtures").glob("*.py")
    if p.stem != "__init__"
)
