"""The image of the mysqld-exporter sidecar, ``localhost/moco/mysqld-exporter:<version>``.

Prometheus' mysqld_exporter, built static by ``hack/mysqld-exporter.sh`` (run here when the binary
is missing: ~15 s with Go's module cache warm), alone in one layer with its entrypoint, as MOCO's
exporter images are: the controller gives the container only arguments (``--config.my-cnf`` and
``--collect.<name>``). The reference is the controller's default
(:data:`moco.controllers.containers.EXPORTER_IMAGE`); it is built and imported with moco's own
images (``python -m e2e.local moco-image``, so ``make deploy``), not at ``make cluster``: only
clusters that set ``collectors`` run it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from e2e.local import images
from e2e.local.images import REPO_ROOT, ImageDef
from moco.controllers.containers import EXPORTER_IMAGE

SCRIPT = REPO_ROOT / "hack" / "mysqld-exporter.sh"
#: Where the binary sits in the image (its entrypoint).
BINARY_PATH = "/usr/bin/mysqld_exporter"


def binary(*, install: bool = True) -> Path:
    """The built mysqld_exporter (built first when ``install`` and missing)."""
    if install:
        subprocess.run(["bash", str(SCRIPT)], check=True, timeout=900)
    out = subprocess.run(
        ["bash", str(SCRIPT), "--print"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    path = Path(dict(line.split("=", 1) for line in out.split())["mysqld_exporter"])
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make mysqld-exporter`")
    return path


def version(path: Path) -> str:
    """``v0.19.0`` from the binary's name (``mysqld_exporter-v0.19.0``) -> ``0.19.0``."""
    return path.name.removeprefix("mysqld_exporter-").lstrip("v")


def exporter_image() -> ImageDef:
    """The image, built (or found in the cache); its reference is the controller's default."""
    path = binary()
    repo, name, tag = images.parse_ref(EXPORTER_IMAGE)
    if repo != "localhost/moco" or tag != version(path):
        raise RuntimeError(f"the controller's default {EXPORTER_IMAGE} is not the built {path.name}")
    return images._build_from_files(name, tag, {BINARY_PATH: path}, (BINARY_PATH,))
