"""The backup image's make-up, checked without building it: its name and tag follow moco's image
(the controller's default backup image is derived from its agent image), the interpreter is found
in the tools layer, and the console scripts of moco's wheel become launchers for that interpreter."""

from __future__ import annotations

import zipfile
from pathlib import Path

from e2e.local import backup_image, moco_image
from moco.controllers.containers import default_backup_image


def test_name_and_tag_follow_moco_image() -> None:
    img, moco = backup_image.image_def(), moco_image.image_def()
    assert img.tag == moco.tag
    assert img.ref == default_backup_image(moco.ref)
    assert img.entrypoint == ("moco-backup",)  # MOCO's Jobs give arguments only
    assert img.user == "10000:10000"
    assert "docker.io/library/moco-backup:dev" in img.aliases  # what MOCO's makebucket Jobs run


def test_python_version_of_the_tools_layer(tmp_path: Path) -> None:
    bindir = tmp_path / "usr" / "bin"
    bindir.mkdir(parents=True)
    for name in ("python3", "python3.14", "python3.14-config", "pydoc3.14"):
        (bindir / name).touch()
    assert backup_image.python_version(tmp_path) == "3.14"


def test_console_scripts_become_launchers(tmp_path: Path) -> None:
    wheel = tmp_path / "moco-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(
            "moco-0.1.0.dist-info/entry_points.txt",
            "[console_scripts]\nmoco-backup = moco.cli.backup:main\nmoco-Agent = moco.cli.agent:main\n",
        )
    scripts = backup_image.console_scripts(wheel)
    assert scripts == {"moco-backup": "moco.cli.backup:main", "moco-Agent": "moco.cli.agent:main"}
    text = backup_image.launcher("moco.cli.backup", "main")
    assert text.startswith("#!/usr/bin/python3\n")
    compile(text, "moco-backup", "exec")


def test_ca_bundle_joins_the_certificates(tmp_path: Path) -> None:
    d = tmp_path / "usr" / "share" / "ca-certificates" / "mozilla"
    d.mkdir(parents=True)
    (d / "B.crt").write_text("-----BEGIN CERTIFICATE-----\nbbb\n-----END CERTIFICATE-----\n")
    (d / "A.crt").write_text("-----BEGIN CERTIFICATE-----\naaa\n-----END CERTIFICATE-----")
    text = backup_image.ca_bundle(tmp_path)
    assert text.count("BEGIN CERTIFICATE") == 2
    assert text.index("aaa") < text.index("bbb")
    assert text.endswith("-----END CERTIFICATE-----\n")


def test_the_tag_of_the_moco_image_just_built_is_kept() -> None:
    # `moco-image` builds moco's image, then this one: a source edited in between changes the
    # digest, and the backup image must still carry the tag the controller's default names
    moco = moco_image.image_def()
    img = backup_image.image_def("src-0123456789ab")
    assert img.tag == "src-0123456789ab"
    assert img.ref == default_backup_image(moco.ref.rsplit(":", 1)[0] + ":src-0123456789ab")
