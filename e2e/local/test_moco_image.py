"""moco's image and its test releases, checked without building them: the tag follows the
sources and nothing else, a release with another version is another reference of the same
sources, and a version that cannot become a tag is refused naming the fix."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from e2e.local import moco_image
from moco.controllers.containers import AGENT_IMAGE


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small checkout: pyproject.toml, README.md and a package under src/."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "moco"\nversion = "0.1.0"\n')
    (tmp_path / "README.md").write_text("moco\n")
    pkg = tmp_path / "src" / "moco"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('__version__ = "0.1.0"\n')
    monkeypatch.setattr(moco_image, "REPO_ROOT", tmp_path)
    return tmp_path


def test_the_tag_follows_the_sources(checkout: Path) -> None:
    tag = moco_image.source_tag()
    assert tag == moco_image.source_tag()
    (checkout / "src" / "moco" / "__init__.py").write_text('__version__ = "0.1.1"\n')
    assert moco_image.source_tag() != tag


def test_build_by_products_leave_the_tag_alone(checkout: Path) -> None:
    # A wheel built from the checkout writes src/moco.egg-info (setuptools), and Python writes
    # __pycache__: neither is a source. Counting them gave a fresh checkout a new tag after its
    # first build, so the next `make moco-image` (`make deploy` runs it again) built once more.
    tag = moco_image.source_tag()
    info = checkout / "src" / "moco.egg-info"
    info.mkdir()
    (info / "SOURCES.txt").write_text("src/moco/__init__.py\n")
    (info / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: moco\n")
    cache = checkout / "src" / "moco" / "__pycache__"
    cache.mkdir()
    (cache / "__init__.cpython-311.pyc").write_bytes(b"\0")
    assert moco_image.source_tag() == tag


def test_a_release_is_another_reference_of_the_same_sources(checkout: Path) -> None:
    plain, release = moco_image.image_def(), moco_image.image_def("0.1.0+e2e.upgrade")
    assert (release.repo, release.name) == (plain.repo, plain.name)
    assert release.tag == f"{plain.tag}-v0.1.0_e2e.upgrade"  # '+' is not allowed in a tag
    assert release.ref != plain.ref
    # the agent keeps its own version: a controller release changes no Pod template
    assert moco_image.agent_image_def().ref == AGENT_IMAGE


@pytest.mark.parametrize("version", ["", "v1.0", "1.0 beta", "1.0/2", "1." + "0" * 41])
def test_a_version_that_cannot_be_a_tag_is_refused(checkout: Path, version: str) -> None:
    with pytest.raises(ValueError, match=r"want a PEP 440 version such as 0\.1\.1"):
        moco_image.image_def(version)


def test_the_release_wheel_carries_its_version_and_the_sources_unchanged(checkout: Path) -> None:
    with moco_image._wheel_source("0.2.0") as src:
        assert src != checkout
        meta = tomllib.loads((src / "pyproject.toml").read_text())
        assert meta["project"]["version"] == "0.2.0"
        assert (src / "src" / "moco" / "__init__.py").read_bytes() == (
            checkout / "src" / "moco" / "__init__.py"
        ).read_bytes()
    assert not src.exists()  # a temporary copy
    assert tomllib.loads((checkout / "pyproject.toml").read_text())["project"]["version"] == "0.1.0"
    with moco_image._wheel_source(None) as src:
        assert src == checkout


def test_a_pyproject_without_a_version_line_is_refused(checkout: Path) -> None:
    (checkout / "pyproject.toml").write_text('[project]\nname = "moco"\ndynamic = ["version"]\n')
    with pytest.raises(RuntimeError, match="no `version = "), moco_image._wheel_source("0.2.0"):
        pass
