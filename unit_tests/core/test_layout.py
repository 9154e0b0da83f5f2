"""Test files name their tier, so a reader (and ``pytest path``) finds a tier by its name.

``test_<concept>.py`` holds unit tests only; ``test_<concept>_mysql.py`` needs real mysqld
(marker ``mysql``); ``test_<concept>_apiserver.py`` needs a real kube-apiserver (marker
``apiserver``); ``test_<concept>_objectstore.py`` needs real object-store servers (marker
``objectstore``: versitygw, fake-gcs-server, azurite). The e2e suite lives in ``e2e/``
(``test_scenario_*.py``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIERS = ("mysql", "apiserver", "objectstore")


def _tiers_used(text: str) -> set[str]:
    return {t for t in TIERS if re.search(rf"pytest\.mark\.{t}\b", text)}


def _files() -> list[Path]:
    return sorted(ROOT.rglob("test_*.py"))


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_test_file_names_its_tier(path: Path) -> None:
    used = _tiers_used(path.read_text())
    named = next((t for t in TIERS if path.stem.endswith(f"_{t}")), None)
    if named is None:
        assert not used, f"{path.name} has {sorted(used)} tests: name it test_<concept>_<tier>.py"
    else:
        assert named in used, f"{path.name} is named for the {named} tier but has no such test"
        assert used <= {named}, f"{path.name} mixes tiers {sorted(used)}: split it"
