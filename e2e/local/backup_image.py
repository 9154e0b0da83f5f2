"""The backup image ``localhost/moco/moco-backup:<tag>``, built without a container engine.

What the backup CronJob and the restore Job run (``moco-backup``, the entrypoint: the Pod gives
arguments only, as MOCO's Jobs do): MySQL's server and client tools and moco's package.

* layer 1: the Debian sid root of ``make mysql-root`` (mysqld 9.x with its plugins, ``mysql``,
  ``mysqlbinlog``, ``mysqldump``): the same directory as the MySQL image's first layer, so a
  node holding both stores it once;
* layer 2: ``python3``, ``zstd``, ``s3cmd`` and ``ca-certificates`` from sid with the
  dependencies the root lacks (:func:`e2e.local.images.tools_layer`), and the CA bundle their
  maintainer script would have written (:func:`ca_bundle`: without it the object-store client
  refuses to start, even for plain HTTP);
* layer 3: moco's wheel and its dependencies' wheels for that Python (fetched on the host by
  pip for the image's interpreter, ABI and platform; nothing is compiled) unpacked into
  ``/usr/local/lib/python3.X/dist-packages``, and launchers in ``/usr/local/bin`` for the
  console scripts the wheel declares; MOCO's user 10000 in ``/etc/passwd``.

The tag is moco's image tag (:func:`e2e.local.moco_image.source_tag`): the controller's default
backup image is ``moco-backup`` beside its agent image with the same tag
(:func:`moco.controllers.containers.default_backup_image`), so deploying moco's image names this
one. As the tag follows moco's sources only, a change of the image's recipe (:func:`recipe`) is
told apart by a stamp beside the archive: the archive is rebuilt and the nodes import it again
(:func:`load`). It is also tagged ``moco-backup:dev``, the image MOCO's e2e manifests run ``s3cmd mb`` in
(``makebucket*.yaml``), so they apply unchanged. Network: the Debian mirror (layer 2) and PyPI
(layer 3).
"""

from __future__ import annotations

import configparser
import dataclasses
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from e2e.local import moco_image
from e2e.local.images import (
    REPO_ROOT,
    ImageDef,
    build_archive,
    import_archive,
    mysql_root,
    node_label,
    present,
    tools_layer,
)
from e2e.local.spec import cache_dir

NAME = "moco-backup"
#: containerd label naming the recipe of the build a node imported
RECIPE_LABEL = "moco.recipe"
REPO = "localhost/moco"
#: Packages of layer 2, beside the MySQL root (s3cmd: MOCO's e2e makes its buckets with it, in
#: Jobs of its backup image).
PACKAGES = ("python3", "zstd", "s3cmd", "ca-certificates")
#: The CA bundle ca-certificates' maintainer script would write (layers are unpacked, not installed).
CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"
#: The reference MOCO's e2e manifests give their backup image (makebucket*.yaml): an alias.
MOCO_E2E_ALIAS = "docker.io/library/moco-backup:dev"
ENTRYPOINT = ("moco-backup",)
#: manylinux platforms whose wheels run on sid's glibc (x86_64)
PLATFORMS = (
    "manylinux2014_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_34_x86_64",
)


def _log(msg: str) -> None:
    print(f"[backup-image] {msg}", flush=True)


def image_def(tag: str | None = None) -> ImageDef:
    """The image, tagged ``tag`` (default: moco's image tag for the sources as they are now)."""
    return ImageDef(
        NAME,
        tag or moco_image.source_tag(),
        (),
        entrypoint=ENTRYPOINT,
        env=(
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "PYTHONDONTWRITEBYTECODE=1",
            "PYTHONUNBUFFERED=1",
        ),
        user="10000:10000",
        repo=REPO,
        aliases=(MOCO_E2E_ALIAS,),
    )


def python_version(tools: Path) -> str:
    """``3.14`` for a tools layer holding ``usr/bin/python3.14``."""
    found = sorted(
        p.name.removeprefix("python")
        for p in (tools / "usr" / "bin").glob("python3.*")
        if p.name.removeprefix("python3.").isdigit()
    )
    if not found:
        raise RuntimeError(f"no python3.X in {tools}/usr/bin")
    return found[-1]


def launcher(module: str, func: str) -> str:
    """A console script for the image's interpreter (what pip writes, with its shebang)."""
    return f"#!/usr/bin/python3\nimport sys\nfrom {module} import {func}\nsys.exit({func}())\n"


def console_scripts(wheel: Path) -> dict[str, str]:
    """``name -> module:function`` of the wheel's ``entry_points.txt``."""
    with zipfile.ZipFile(wheel) as z:
        name = next((n for n in z.namelist() if n.endswith(".dist-info/entry_points.txt")), None)
        if name is None:
            return {}
        text = z.read(name).decode()
    cp = configparser.ConfigParser()
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(text)
    return dict(cp["console_scripts"]) if cp.has_section("console_scripts") else {}


def ca_bundle(tools: Path) -> str:
    """The certificates of ``usr/share/ca-certificates`` as one PEM bundle (what
    ``update-ca-certificates`` writes; the object-store clients read it to verify TLS)."""
    certs = sorted((tools / "usr" / "share" / "ca-certificates").rglob("*.crt"))
    if not certs:
        raise RuntimeError(f"no certificates under {tools}/usr/share/ca-certificates")
    return "".join(c.read_text().rstrip("\n") + "\n" for c in certs)


def _etc_layer(root: Path, tools: Path, dest: Path) -> None:
    (dest / "etc").mkdir(parents=True)
    bundle = dest / CA_BUNDLE
    bundle.parent.mkdir(parents=True)
    bundle.write_text(ca_bundle(tools))
    passwd = (root / "etc" / "passwd").read_text()
    group = (root / "etc" / "group").read_text()
    if ":10000:" not in passwd:
        passwd += "moco:x:10000:10000::/work:/usr/sbin/nologin\n"
        group += "moco:x:10000:\n"
    (dest / "etc" / "passwd").write_text(passwd)
    (dest / "etc" / "group").write_text(group)
    (dest / "etc" / "resolv.conf").write_text("")
    (dest / "work").mkdir()


def _app_layer(dest: Path, pyver: str, work: Path) -> None:
    """moco's wheel and its dependencies for ``pyver`` into ``dest`` (layer 3)."""
    pip = [sys.executable, "-m", "pip"]
    wheels = work / "wheels"
    wheels.mkdir()
    subprocess.run(
        [*pip, "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO_ROOT)], check=True, timeout=600
    )
    wheel = next(wheels.glob("moco-*.whl"))
    target = dest / "usr" / "local" / "lib" / f"python{pyver}" / "dist-packages"
    plat = [f"--platform={p}" for p in PLATFORMS]
    abi = "cp" + pyver.replace(".", "")
    _log(f"wheels of {wheel.name} and its dependencies for CPython {pyver} (PyPI)...")
    subprocess.run(
        [
            *pip, "install", "-q", "--no-compile", "--no-warn-script-location", "--disable-pip-version-check",
            f"--target={target}", "--only-binary=:all:", "--implementation=cp", f"--python-version={pyver}",
            f"--abi={abi}", "--abi=abi3", "--abi=none", *plat, str(wheel),
        ],
        check=True,
        timeout=900,
    )  # fmt: skip
    shutil.rmtree(target / "bin", ignore_errors=True)  # pip's scripts name the host's interpreter
    bindir = dest / "usr" / "local" / "bin"
    bindir.mkdir(parents=True)
    for script, ref in console_scripts(wheel).items():
        module, _, func = ref.partition(":")
        path = bindir / script
        path.write_text(launcher(module.strip(), func.strip()))
        path.chmod(0o755)


def recipe() -> str:
    """A digest of how the image is made (this module, the MySQL root): the tag is moco's, so a
    change of the recipe alone is told by this, kept beside the archive."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(mysql_root().name.encode())
    return h.hexdigest()[:12]


def _stamp(img: ImageDef) -> Path:
    return img.archive.with_suffix(".recipe")


def build(tag: str | None = None) -> ImageDef:
    """Build (or find cached) the docker-archive of the backup image for the current sources.

    ``tag``: the tag of the moco image built just before (sources edited in between would give
    another digest, and the controller's default backup image, named by moco's tag, would be
    missing from the nodes)."""
    img = image_def(tag)
    if img.archive.exists() and _stamp(img).exists() and _stamp(img).read_text() == recipe():
        return img
    img.archive.unlink(missing_ok=True)
    root = mysql_root()
    t0 = time.monotonic()
    _log(f"1/3: {', '.join(PACKAGES)} from sid beside {root.name}...")
    tools = tools_layer(root, PACKAGES)
    pyver = python_version(tools)
    roots = cache_dir() / "e2e" / "roots"
    roots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=roots, prefix=".moco-backup-") as tmp:
        work = Path(tmp)
        etc, app = work / "etc-layer", work / "app-layer"
        _etc_layer(root, tools, etc)
        _log(f"2/3: moco for python{pyver}...")
        _app_layer(app, pyver, work)
        if not (app / "usr" / "local" / "bin" / ENTRYPOINT[0]).exists():
            raise RuntimeError(f"the wheel declares no console script {ENTRYPOINT[0]}")
        _log("3/3: the image archive...")
        build_archive(dataclasses.replace(img, layers=(root, tools, etc, app)))
    _stamp(img).write_text(recipe())
    for old in img.archive.parent.glob(f"{NAME}-src-*"):
        if old not in (img.archive, _stamp(img)):
            old.unlink(missing_ok=True)  # archives of earlier sources: one is kept
    _log(f"built {img.ref} in {time.monotonic() - t0:.0f}s")
    return img


def load(ctr: list[str], img: ImageDef, where: str) -> None:
    """Import the archive into a node unless the node holds this very build (its recipe and tag)."""
    marker = _stamp(img).read_text() if _stamp(img).exists() else ""
    have = present(ctr)
    if {img.ref, *img.aliases} <= have and node_label(ctr, img.ref, RECIPE_LABEL) == marker:
        return
    _log(f"{where}: importing {img.ref}...")
    import_archive(ctr, img.archive)
    _label_recipe(ctr, img, marker)


def _label_recipe(ctr: list[str], img: ImageDef, marker: str) -> None:
    subprocess.run(
        [*ctr, "-n", "k8s.io", "images", "label", img.ref, f"{RECIPE_LABEL}={marker}"],
        capture_output=True,
        timeout=60,
        check=True,
    )


if __name__ == "__main__":
    print(build().ref)
