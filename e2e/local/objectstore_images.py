"""Images of the three object-store servers, built without a container engine from what
``hack/object-stores.sh`` installed (``make object-stores``), like the other images of
:mod:`e2e.local.images`:

- ``versitygw`` (S3, posix backend) and ``fake-gcs-server`` (GCS): their static Go binaries alone;
- ``azurite`` (Azure Blob): this machine's ``node`` with the shared libraries it links (``ldd``)
  and the installed azurite package under ``/opt/azurite``.

References are ``localhost/moco/<name>:<version>`` (fake-gcs-server's tag also names the digest of
the XML-upload handlers built into it; azurite's names node's version), so a new version or
build gives a new reference. :func:`load` imports the images missing from every node of the local
cluster; other providers load them themselves and name them in ``MOCO_E2E_<NAME>_IMAGE``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from e2e.local import images, node
from e2e.local import spec as spec_mod
from e2e.local.images import ImageDef
from moco.testing import objectstore


def _log(msg: str) -> None:
    print(f"[objectstore-images] {msg}", flush=True)


def _program(name: str) -> Path:
    path = objectstore.programs()[name]
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make object-stores` first")
    return path


def versitygw_image() -> ImageDef:
    binary = _program("versitygw")
    tag = binary.name.removeprefix("versitygw-")
    return images._build_from_files("versitygw", tag, {"/usr/bin/versitygw": binary}, ("/usr/bin/versitygw",))


def fake_gcs_image() -> ImageDef:
    binary = _program("fake-gcs-server")
    tag = binary.name.removeprefix("fake-gcs-server-")
    return images._build_from_files(
        "fake-gcs-server", tag, {"/usr/bin/fake-gcs-server": binary}, ("/usr/bin/fake-gcs-server",)
    )


def _shared_libraries(binary: Path) -> list[Path]:
    """The files ``ldd`` resolves for ``binary`` (the loader included)."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True, timeout=30).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"(/\S+) \(0x", line)
        if m:
            libs.append(Path(m.group(1)))
    return libs


#: Where azurite's package goes in its image; the entrypoint runs its blob service.
AZURITE_HOME = "/opt/azurite"


def azurite_image() -> ImageDef:
    main_js = _program("azurite")  # <dir>/node_modules/azurite/dist/src/blob/main.js
    install = main_js.parents[5]
    node_bin = Path(shutil.which("node") or "/usr/bin/node")
    version = subprocess.run(
        [str(node_bin), "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    tag = f"{install.name.removeprefix('azurite-')}-node{version.lstrip('v')}"
    entry = ("/usr/bin/node", f"{AZURITE_HOME}/{main_js.relative_to(install)}")
    probe = ImageDef("azurite", tag, (), entrypoint=entry)
    if probe.archive.exists():
        return probe
    with images._scratch() as root:
        (root / "usr" / "bin").mkdir(parents=True)
        shutil.copy2(node_bin.resolve(), root / "usr" / "bin" / "node")
        for lib in _shared_libraries(node_bin):
            dest = root / str(lib).lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(lib.resolve(), dest)
        shutil.copytree(install, root / AZURITE_HOME.lstrip("/"), symlinks=True)
        for d in ("tmp", "etc", "data"):
            (root / d).mkdir(exist_ok=True)
        (root / "tmp").chmod(0o1777)
        (root / "etc" / "passwd").write_text(
            "root:x:0:0:root:/:/bin/false\nnobody:x:65534:65534::/:/bin/false\n"
        )
        (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
        _log(f"building {probe.ref} (node {version}, azurite from {install})...")
        img = ImageDef("azurite", tag, (root,), entrypoint=entry)
        images.build_archive(img)
        return img


def all_images() -> dict[str, ImageDef]:
    """The three images by backend (built or found in the cache)."""
    return {"s3": versitygw_image(), "gcs": fake_gcs_image(), "azure": azurite_image()}


def load(imgs: dict[str, ImageDef]) -> None:
    """Import ``imgs`` into every node of the local cluster (those already there are skipped)."""
    spec = spec_mod.current()
    for n in spec.node_specs:
        images.load(node.ctr_argv(n), imgs, n.name)
