"""The exporter image's make-up: the reference is the controller's default, the entrypoint is the
static mysqld_exporter of ``hack/mysqld-exporter.sh`` (the container gets arguments only), and the
binary in the layer runs and is the pinned version. Builds the archive when missing (a second)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

from e2e.local import exporter_image
from moco.controllers.containers import EXPORTER_IMAGE, EXPORTER_VERSION


def test_archive_holds_the_static_binary_as_entrypoint(tmp_path: Path) -> None:
    img = exporter_image.exporter_image()
    assert img.ref == EXPORTER_IMAGE
    with tarfile.open(img.archive) as t:
        manifest = json.loads(t.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert manifest[0]["RepoTags"] == [EXPORTER_IMAGE]
        config = json.loads(t.extractfile(manifest[0]["Config"]).read())  # type: ignore[union-attr]
        assert config["config"]["Entrypoint"] == [exporter_image.BINARY_PATH]
        assert config["config"]["Cmd"] is None
        (layer_name,) = manifest[0]["Layers"]
        data = io.BytesIO(t.extractfile(layer_name).read())  # type: ignore[union-attr]
    with tarfile.open(fileobj=data) as layer:
        member = layer.getmember("." + exporter_image.BINARY_PATH)
        assert member.mode & 0o111 == 0o111
        layer.extract(member, tmp_path)
    binary = tmp_path / exporter_image.BINARY_PATH.lstrip("/")
    kind = subprocess.run(["file", str(binary)], capture_output=True, text=True, timeout=30, check=True)
    assert "statically linked" in kind.stdout
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30, check=True)
    assert f"version {EXPORTER_VERSION} " in out.stdout + out.stderr
