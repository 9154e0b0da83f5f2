"""Container images of the local cluster, built without a container engine.

An image here is one or more layer tars made from directories, a config and a hand-written
docker-archive ``manifest.json``; ``ctr images import`` loads it into a node's containerd. Built
archives are cached under ``$MOCO_CACHE/e2e/images`` keyed by name and tag (a new MySQL root or a
new binary gives a new tag), and an image already in a node's containerd is not imported again.

Images (all ``localhost/moco/...``, so no reference ever names a registry we could pull from):
- ``pause``: the static binary built from ``images/pause/pause.c``;
- ``busybox``: Debian's static busybox, the helper of the volume provisioner and a test shell;
- ``coredns`` and ``local-path-provisioner``: the static Go binaries of ``go-tools.sh``;
- ``mysql``: the Debian sid root of ``hack/mysql-root.sh`` (mysqld 9.x, the same content as
  ``images/mysql/Containerfile``), a layer with the tools operators and tests run in the mysqld
  container (:data:`MYSQL_TOOLS`: ``procps`` gives ``kill``, ``ps``, ``pgrep``; MOCO's failover
  test runs ``kill 1``), and a layer adding MOCO's user 10000; entrypoint ``mysqld`` (MOCO's
  StatefulSet gives the mysqld container arguments only). The same image is also tagged
  :data:`MOCO_MYSQL_REPOS` ``:<mysqld version>``, the references MOCO's own manifests name, so
  they apply unchanged and nothing is pulled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from e2e.local.spec import cache_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ImageDef:
    """What an image is made of: layer directories (bottom first) and its config."""

    name: str
    tag: str
    layers: tuple[Path, ...]
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = (PATH_ENV,)
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    repo: str = "localhost/moco"
    #: further references of the same image (imported with it)
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.repo}/{self.name}:{self.tag}"

    @property
    def archive(self) -> Path:
        stem = f"{self.repo}/{self.name}-{self.tag}".replace("/", "_").replace(":", "_")
        if self.repo == "localhost/moco":
            stem = f"{self.name}-{self.tag}"
        return cache_dir() / "e2e" / "images" / f"{stem}.tar"


def parse_ref(ref: str) -> tuple[str, str, str]:
    """``registry/path/name:tag`` -> (``registry/path``, ``name``, ``tag``); the tag is required."""
    head, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        raise ValueError(f"image reference needs a tag: {ref}")
    repo, _, name = head.rpartition("/")
    return repo or "localhost", name, tag


def _log(msg: str) -> None:
    print(f"[images] {msg}", flush=True)


def _layer_tar(src: Path, dest: Path) -> str:
    """Tar ``src`` (numeric owners, as is) into ``dest``; returns the sha256 of the tar."""
    subprocess.run(
        ["tar", "--numeric-owner", "--xattrs", "-C", str(src), "-cf", str(dest), "."],
        check=True,
        timeout=600,
    )
    h = hashlib.sha256()
    with dest.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def build_archive(img: ImageDef) -> Path:
    """Write the docker-archive of ``img`` (cached: returns at once when present)."""
    if img.archive.exists():
        return img.archive
    img.archive.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(dir=img.archive.parent, prefix=".build-") as tmp:
        work = Path(tmp)
        diff_ids, names = [], []
        for i, layer in enumerate(img.layers):
            name = f"layer{i}.tar"
            diff_ids.append("sha256:" + _layer_tar(layer, work / name))
            names.append(name)
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Env": list(img.env),
                "Entrypoint": list(img.entrypoint) or None,
                "Cmd": list(img.cmd) or None,
                "User": img.user,
                "Labels": img.labels or None,
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "moco e2e/local/images.py"} for _ in names],
        }
        cfg = json.dumps(config, sort_keys=True).encode()
        cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
        manifest = json.dumps(
            [{"Config": cfg_name, "RepoTags": [img.ref, *img.aliases], "Layers": names}]
        ).encode()
        part = work / "image.tar"
        with tarfile.open(part, "w") as out:
            for fname, data in ((cfg_name, cfg), ("manifest.json", manifest)):
                info = tarfile.TarInfo(fname)
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))
            for name in names:
                out.add(work / name, arcname=name)
        part.rename(img.archive)
    _log(f"built {img.ref} in {time.monotonic() - t0:.1f}s ({img.archive.stat().st_size >> 20} MiB)")
    return img.archive


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    base = cache_dir() / "e2e" / "images"
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base, prefix=".root-") as d:
        yield Path(d)


def _build_from_files(
    img_name: str, tag: str, files: dict[str, Path], entrypoint: tuple[str, ...]
) -> ImageDef:
    """An image whose single layer holds ``files`` (path in image -> file on the host)."""
    probe = ImageDef(img_name, tag, (), entrypoint=entrypoint)
    if probe.archive.exists():
        return probe
    with _scratch() as root:
        for dest, src in files.items():
            target = root / dest.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
        (root / "tmp").mkdir(mode=0o1777, exist_ok=True)
        (root / "etc").mkdir(exist_ok=True)
        (root / "etc" / "passwd").write_text(
            "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
        )
        (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
        img = ImageDef(img_name, tag, (root,), entrypoint=entrypoint)
        build_archive(img)
        return img


def pause_image() -> ImageDef:
    src = REPO_ROOT / "images" / "pause" / "pause.c"
    tag = "c-" + hashlib.sha256(src.read_bytes()).hexdigest()[:8]
    if ImageDef("pause", tag, ()).archive.exists():
        return ImageDef("pause", tag, (), entrypoint=("/pause",))
    with _scratch() as d:
        binary = d / "pause"
        subprocess.run(["gcc", "-static", "-O2", "-s", "-o", str(binary), str(src)], check=True, timeout=120)
        return _build_from_files("pause", tag, {"/pause": binary}, entrypoint=("/pause",))


def busybox_image() -> ImageDef:
    bb = Path("/bin/busybox")
    ver = subprocess.run([str(bb)], capture_output=True, text=True, timeout=10, check=False).stdout.split()[1]
    tag = ver.lstrip("v")
    if ImageDef("busybox", tag, ()).archive.exists():
        return ImageDef("busybox", tag, (), cmd=("sh",))
    with _scratch() as root:
        (root / "bin").mkdir()
        shutil.copy2(bb, root / "bin" / "busybox")
        applets = subprocess.run(
            [str(bb), "--list"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.split()
        for a in applets:
            if a != "busybox":
                (root / "bin" / a).symlink_to("busybox")
        for d in ("tmp", "etc", "var", "root"):
            (root / d).mkdir(exist_ok=True)
        (root / "tmp").chmod(0o1777)
        (root / "etc" / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
        )
        (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
        img = ImageDef("busybox", tag, (root,), cmd=("sh",))
        build_archive(img)
        return img


def _go_tool(name: str) -> Path:
    out = subprocess.run(
        ["bash", str(REPO_ROOT / "e2e" / "local" / "go-tools.sh"), "--print"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    paths = dict(line.split("=", 1) for line in out.split())
    return Path(paths[name])


def coredns_image() -> ImageDef:
    binary = _go_tool("coredns")
    tag = binary.name.removeprefix("coredns-")
    return _build_from_files("coredns", tag, {"/coredns": binary}, entrypoint=("/coredns",))


def local_path_image() -> ImageDef:
    binary = _go_tool("local-path-provisioner")
    tag = binary.name.removeprefix("local-path-provisioner-")
    return _build_from_files(
        "local-path-provisioner",
        tag,
        {"/usr/bin/local-path-provisioner": binary},
        entrypoint=("/usr/bin/local-path-provisioner",),
    )


def mysql_root() -> Path:
    stamp = cache_dir() / "mysql-root.current"
    if not stamp.exists():
        raise FileNotFoundError(f"{stamp} missing: run `make mysql-root` first")
    return Path(stamp.read_text().strip())


#: Bumped when the MySQL image's make-up changes (the root's version is the rest of the tag).
MYSQL_IMAGE_REVISION = 3
#: Debian packages added to the MySQL root in a layer of their own (with the dependencies the
#: root lacks), as MOCO's MySQL images carry them on their base.
MYSQL_TOOLS = ("procps",)
#: Where MOCO's manifests take MySQL from (``<repo>:<version>``): aliases of our MySQL image.
MOCO_MYSQL_REPOS = ("quay.io/cybozu/mysql", "ghcr.io/cybozu-go/moco/mysql")


def mysql_version() -> str:
    """The version of mysqld in the MySQL root (``9.7.4``), as MOCO's image tags name it."""
    return mysql_root().name.split("-", 1)[0].split("_")[-1]


def mysql_aliases() -> tuple[str, ...]:
    return tuple(f"{repo}:{mysql_version()}" for repo in MOCO_MYSQL_REPOS)


def mysql_tag() -> str:
    """The MySQL image's tag: the version of the MySQL root it is made of, and our revision."""
    version = mysql_root().name.replace("_", "-").replace("~", "-").replace("+", "-")
    return f"{version}.r{MYSQL_IMAGE_REVISION}"


def _mirror() -> str:
    return os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")


def tools_layer(root: Path, packages: tuple[str, ...] = MYSQL_TOOLS) -> Path:
    """A directory holding ``packages`` and the dependencies ``root`` lacks, unpacked (cached).

    apt of the host resolves them against the root's own dpkg status from a private sid
    sources list (nothing of the host's apt configuration is touched) and downloads them;
    ``dpkg -x`` unpacks each. Maintainer scripts are not run (these packages need none to work).
    """
    key = hashlib.sha256("\n".join((root.name, *packages)).encode()).hexdigest()[:8]
    dest = cache_dir() / "e2e" / "mysql-tools" / f"{root.name}-{key}"
    done = dest.with_name(dest.name + ".done")
    if done.exists() and dest.is_dir():
        return dest
    t0 = time.monotonic()
    with _scratch() as work:
        (work / "lists" / "partial").mkdir(parents=True)
        (work / "archives" / "partial").mkdir(parents=True)
        (work / "sources.list").write_text(f"deb {_mirror()} sid main\n")
        opts = [
            f"-o=Dir::Etc::sourcelist={work}/sources.list",
            "-o=Dir::Etc::sourceparts=/dev/null",
            f"-o=Dir::State::Lists={work}/lists",
            f"-o=Dir::State::status={root}/var/lib/dpkg/status",
            f"-o=Dir::Cache={work}",
            f"-o=Dir::Cache::archives={work}/archives",
            "-o=Debug::NoLocking=1",
            "-o=Acquire::Check-Valid-Until=false",
        ]
        _log(f"downloading {' '.join(packages)} for {root.name} (sid)...")
        subprocess.run(["apt-get", *opts, "-qq", "update"], check=True, timeout=600, capture_output=True)
        subprocess.run(
            [
                "apt-get",
                *opts,
                "-qq",
                "-y",
                "--no-install-recommends",
                "install",
                "--download-only",
                *packages,
            ],
            check=True,
            timeout=600,
            capture_output=True,
        )
        out = work / "layer"
        out.mkdir()
        debs = sorted((work / "archives").glob("*.deb"))
        for deb in debs:
            subprocess.run(["dpkg", "-x", str(deb), str(out)], check=True, timeout=120)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(dest, ignore_errors=True)
        out.rename(dest)
        done.write_text("\n".join(d.name for d in debs) + "\n")
    _log(f"tools layer {dest.name}: {len(debs)} packages in {time.monotonic() - t0:.1f}s")
    return dest


#: Where :func:`mysql_image` with a ``rebuild`` writes it (a file of the image's own top layer).
REBUILD_MARKER = "etc/moco-mysql-rebuild"


def mysql_image(rebuild: str | None = None) -> ImageDef:
    """The MySQL image: the sid root as it is, the tools layer, and a layer with MOCO's user 10000.

    ``rebuild``: another image of the same mysqld, tagged ``<tag>-<rebuild>``, whose top layer
    also holds :data:`REBUILD_MARKER` (its content: ``rebuild``): a real new image (another
    digest, another reference) for the rolling-upgrade scenario, as only one MySQL version can
    be installed here. It has no aliases (MOCO's references name the first build).
    """
    if rebuild is not None and not re.fullmatch(r"[a-z0-9][a-z0-9.-]{0,30}", rebuild):
        raise ValueError(f"rebuild {rebuild!r}: want lower-case letters, digits, '.' or '-' (at most 31)")
    root = mysql_root()
    tag = mysql_tag() if rebuild is None else f"{mysql_tag()}-{rebuild}"
    aliases = mysql_aliases() if rebuild is None else ()
    # As MOCO's MySQL images: mysqld is the entrypoint, MOCO passes only its arguments.
    probe = ImageDef("mysql", tag, (), entrypoint=("mysqld",), aliases=aliases)
    if probe.archive.exists():
        return probe
    tools = tools_layer(root)
    with _scratch() as top:
        (top / "etc").mkdir()
        passwd = (root / "etc" / "passwd").read_text()
        group = (root / "etc" / "group").read_text()
        if ":10000:" not in passwd:
            passwd += "moco:x:10000:10000::/var/lib/mysql:/usr/sbin/nologin\n"
            group += "moco:x:10000:\n"
        (top / "etc" / "passwd").write_text(passwd)
        (top / "etc" / "group").write_text(group)
        (top / "etc" / "resolv.conf").write_text("")
        if rebuild is not None:
            (top / REBUILD_MARKER).write_text(rebuild + "\n")
        _log(f"building {probe.ref} from {root} (a few seconds; the import takes longer)...")
        img = dataclasses.replace(probe, layers=(root, tools, top))
        build_archive(img)
        return img


def all_images(*, with_mysql: bool = True) -> dict[str, ImageDef]:
    """Every image the local cluster needs, built (or found in the cache)."""
    imgs = {
        "pause": pause_image(),
        "busybox": busybox_image(),
        "coredns": coredns_image(),
        "local-path-provisioner": local_path_image(),
    }
    if with_mysql:
        imgs["mysql"] = mysql_image()
    return imgs


def present(ctr: list[str]) -> set[str]:
    """References already in the ``k8s.io`` namespace of the containerd that ``ctr`` talks to."""
    out = subprocess.run(
        [*ctr, "-n", "k8s.io", "images", "ls", "-q"], capture_output=True, text=True, check=True, timeout=60
    )
    return set(out.stdout.split())


#: The bound of one import: ctr's own ``--timeout`` (a node's, 30 s, is meant for short calls)
#: cuts an import of a few hundred MB on a loaded machine ("failed to send write: EOF").
IMPORT_TIMEOUT_S = 600


def import_archive(ctr: list[str], archive: Path) -> None:
    """``ctr -n k8s.io images import`` of a docker-archive (unpacked for the CRI's snapshotter)."""
    argv = list(ctr)
    if "--timeout" in argv[:-1]:
        argv[argv.index("--timeout") + 1] = f"{IMPORT_TIMEOUT_S}s"
    subprocess.run(
        [*argv, "-n", "k8s.io", "images", "import", str(archive)],
        check=True,
        timeout=IMPORT_TIMEOUT_S + 30,
        stdout=subprocess.DEVNULL,
    )


def in_use(ctr: list[str]) -> set[str]:
    """References the node's containers were created from (running Pods' images)."""
    out = subprocess.run(
        [*ctr, "-n", "k8s.io", "containers", "ls"], capture_output=True, text=True, check=True, timeout=60
    )
    return {cols[1] for line in out.stdout.splitlines()[1:] if len(cols := line.split()) >= 2}


def prune(ctr: list[str], current: dict[str, ImageDef]) -> list[str]:
    """Remove older tags of the cluster's own images (same name, other tag) that no container of
    the node runs; returns them. An image a Pod runs stays: a cluster reconciled at version 1 runs
    its agent from an earlier moco image (:mod:`moco.controllers.reconcileversion`), and its
    containers must be able to restart."""
    names = {f"{img.repo}/{img.name}:" for img in current.values()}
    keep = {img.ref for img in current.values()} | in_use(ctr)
    stale = [ref for ref in present(ctr) if ref not in keep and any(ref.startswith(n) for n in names)]
    if stale:
        subprocess.run(
            [*ctr, "-n", "k8s.io", "images", "rm", *stale], capture_output=True, timeout=120, check=False
        )
    return stale


#: containerd label naming the build of a re-made image that a node imported (see :func:`load_stamped`)
BUILD_LABEL = "moco.build"


def node_label(ctr: list[str], ref: str, key: str) -> str:
    """The value of label ``key`` on the node's image ``ref`` ("" when absent)."""
    r = subprocess.run(
        [*ctr, "-n", "k8s.io", "images", "ls", f"name=={ref}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    for line in r.stdout.splitlines()[1:]:
        for label in line.split()[-1].split(","):
            k, _, value = label.partition("=")
            if k == key:
                return value
    return ""


def load_stamped(ctr: list[str], img: ImageDef, build: str, where: str = "containerd") -> None:
    """Import ``img`` unless the node holds this very ``build`` of it under its reference.

    For an image whose tag outlives its content (the agent image, tagged by its version and made
    again locally from the checkout): :func:`load` would keep the node's earlier build for ever.
    """
    if img.ref in present(ctr) and node_label(ctr, img.ref, BUILD_LABEL) == build:
        return
    t0 = time.monotonic()
    _log(f"{where}: importing {img.ref} (build {build})...")
    import_archive(ctr, img.archive)
    subprocess.run(
        [*ctr, "-n", "k8s.io", "images", "label", img.ref, f"{BUILD_LABEL}={build}"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    _log(f"{where}: imported {img.ref} in {time.monotonic() - t0:.1f}s")


def load(ctr: list[str], images: dict[str, ImageDef], where: str = "containerd") -> None:
    """Import every image not yet present."""
    have = present(ctr)
    todo = [img for img in images.values() if not {img.ref, *img.aliases} <= have]
    for i, img in enumerate(todo, 1):
        t0 = time.monotonic()
        _log(f"{where}: importing {img.ref} ({i}/{len(todo)})...")
        import_archive(ctr, img.archive)
        _log(f"{where}: imported {img.ref} in {time.monotonic() - t0:.1f}s")
