"""moco's own image, built without a container engine, with the content of the top-level
``Containerfile``: a Python 3.11 Debian bookworm base, moco's wheel installed with its
dependencies into the venv ``/opt/moco``, ``PATH`` through it, user 10000:10000.

The base (``debootstrap --variant=minbase bookworm`` + ``python3``, ``python3-venv``) is built
once and cached under ``$MOCO_CACHE/e2e/roots``; the venv is built anew for each source state
into a layer of its own. The tag is a digest of ``pyproject.toml`` and ``src/``, so the same
sources give the same reference and a change gives a new one. Only the controller runs this
reference: a new one restarts the controller's Pods, never a mysqld Pod.

The agent image ``localhost/moco/moco-agent:<AGENT_VERSION>`` (the controller's default
``--agent-image``, :data:`moco.controllers.containers.AGENT_IMAGE`) is the same two layers under
the agent's own version, which the controller's release does not change: deploying a new
controller image leaves every Pod template as it was. Locally the agent image is made again from
the checkout whenever its sources change (a stamp beside the archive and a label on each node's
image name the build), so Pods created afterwards run the checkout's agent; running Pods keep
theirs until their template changes (an ``AGENT_VERSION`` bump, or a change of the cluster).

``build(version=...)``: the same sources with another version string baked into the wheel's
metadata (what ``moco-controller`` reports as its version), under the tag
``<source tag>-v<version>``: a real new controller release for the upgrade scenario, without
touching the checkout. Such a build leaves the agent image alone.

Network: the Debian mirror (the base) and PyPI (the dependencies: fetched on the host with its
pip configuration, installed offline in the root).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from e2e.local.images import REPO_ROOT, ImageDef, build_archive, parse_ref
from e2e.local.spec import cache_dir
from moco.controllers.containers import AGENT_IMAGE

SUITE = "bookworm"
REPO = "localhost/moco"
NAME = "moco"
VENV = "/opt/moco"
#: what a version string may hold to become part of a tag (PEP 440 local versions fit)
VERSION_PATTERN = re.compile(r"[0-9][0-9A-Za-z.+-]{0,40}")


def _log(msg: str) -> None:
    print(f"[moco-image] {msg}", flush=True)


def _mirror() -> str:
    return os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")


def _by_product(path: Path) -> bool:
    """Written by a build or by Python, never a source: ``__pycache__``, and the ``*.egg-info``
    that setuptools leaves in src/ when a wheel is built from the checkout (counted, it gave a
    fresh checkout another tag after its first build, and so a second build)."""
    return any(part == "__pycache__" or part.endswith(".egg-info") for part in path.parts)


def source_tag() -> str:
    """A digest of what goes into the wheel: pyproject.toml, README.md and every source of src/."""
    h = hashlib.sha256()
    files = [REPO_ROOT / "pyproject.toml", REPO_ROOT / "README.md"]
    src = REPO_ROOT / "src"
    files += sorted(p for p in src.rglob("*") if p.is_file() and not _by_product(p.relative_to(src)))
    for f in files:
        h.update(str(f.relative_to(REPO_ROOT)).encode() + b"\0" + f.read_bytes() + b"\0")
    return "src-" + h.hexdigest()[:12]


def _check_version(version: str) -> str:
    if not VERSION_PATTERN.fullmatch(version):
        raise ValueError(
            f"version {version!r}: want a PEP 440 version such as 0.1.1 or 0.1.0+upgrade "
            f"(digits first; letters, digits, '.', '+', '-'; at most 41 characters)"
        )
    return version


def image_def(version: str | None = None) -> ImageDef:
    """moco's image for the checkout; with ``version``, the build that reports that version."""
    tag = source_tag()
    if version is not None:
        tag += "-v" + _check_version(version).replace("+", "_")
    return _def(NAME, tag)


def agent_image_def() -> ImageDef:
    """The agent image the controller names by default (its repository, name and version tag)."""
    repo, name, tag = parse_ref(AGENT_IMAGE)
    return _def(name, tag, repo)


def _def(name: str, tag: str, repo: str = REPO) -> ImageDef:
    return ImageDef(
        name,
        tag,
        (),
        cmd=("moco-agent", "--help"),
        env=(
            f"PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "PYTHONDONTWRITEBYTECODE=1",
            "PYTHONUNBUFFERED=1",
        ),
        user="10000:10000",
        repo=repo,
    )


def agent_stamp(agent: ImageDef) -> Path:
    """Beside the agent's archive: the source tag of the build it was made from."""
    return agent.archive.with_suffix(".sources")


def _agent_current(agent: ImageDef) -> bool:
    stamp = agent_stamp(agent)
    return agent.archive.exists() and stamp.exists() and stamp.read_text() == source_tag()


@contextlib.contextmanager
def _wheel_source(version: str | None) -> Iterator[Path]:
    """The directory to build the wheel from: the checkout, or a copy whose pyproject.toml
    carries ``version`` (the sources are the checkout's, byte for byte)."""
    if version is None:
        yield REPO_ROOT
        return
    with tempfile.TemporaryDirectory(prefix="moco-wheel-src-") as tmp:
        src = Path(tmp)
        text, n = re.subn(
            r'(?m)^version = "[^"]*"$',
            f'version = "{version}"',
            (REPO_ROOT / "pyproject.toml").read_text(),
            count=1,
        )
        if n != 1:
            raise RuntimeError('pyproject.toml has no `version = "..."` line to set')
        (src / "pyproject.toml").write_text(text)
        shutil.copy(REPO_ROOT / "README.md", src / "README.md")
        shutil.copytree(REPO_ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__"))
        yield src


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _chroot(root: Path, *argv: str, timeout: float = 600) -> None:
    """Run ``argv`` in ``root``; its output is shown only when it fails."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}
    r = subprocess.run(
        ["chroot", str(root), *argv], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed in {root}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")


def base_root() -> Path:
    """The cached bookworm root with python3 and python3-venv (built once, ~1 minute)."""
    roots = cache_dir() / "e2e" / "roots"
    dest = roots / f"python3-{SUITE}"
    if (dest / "usr" / "bin" / "python3").exists():
        return dest
    roots.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=roots, prefix=".build-"))
    try:
        t0 = time.monotonic()
        _log(f"base 1/2: debootstrap --variant=minbase {SUITE} (about 30 s)...")
        subprocess.run(
            ["debootstrap", "--variant=minbase", SUITE, str(work), _mirror()],
            check=True,
            timeout=900,
            stdout=subprocess.DEVNULL,
        )
        shutil.copy("/etc/resolv.conf", work / "etc" / "resolv.conf")
        _log("base 2/2: apt-get install python3 python3-venv ca-certificates...")
        _chroot(work, "apt-get", "-q", "update")
        _chroot(
            work,
            "apt-get",
            "-q",
            "-y",
            "install",
            "--no-install-recommends",
            "python3",
            "python3-venv",
            "ca-certificates",
        )
        _chroot(work, "apt-get", "clean")
        shutil.rmtree(work / "var" / "lib" / "apt" / "lists", ignore_errors=True)
        (work / "var" / "lib" / "apt" / "lists" / "partial").mkdir(parents=True)
        _chroot(work, "groupadd", "--gid", "10000", "moco")
        _chroot(
            work,
            "useradd", "--uid", "10000", "--gid", "10000", "--no-create-home",
            "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "moco",
        )  # fmt: skip
        (work / "etc" / "resolv.conf").write_text("")
        work.rename(dest)
        _log(f"base ready in {time.monotonic() - t0:.0f}s: {dest}")
        return dest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def build(version: str | None = None) -> ImageDef:
    """Build (or find cached) the docker-archive of moco's image for the current sources, and
    (without ``version``) the agent image's when its stamp names other sources."""
    img = image_def(version)
    agent = agent_image_def()
    need_agent = version is None and not _agent_current(agent)
    if img.archive.exists() and not need_agent:
        return img
    base = base_root()
    roots = cache_dir() / "e2e" / "roots"
    with _locked(roots / ".moco-image.lock"), tempfile.TemporaryDirectory(dir=roots, prefix=".moco-") as tmp:
        t0 = time.monotonic()
        _log("1/3: the wheel of this checkout and its dependencies' wheels (PyPI, from the host)...")
        wheels = base / "tmp" / "moco-wheels"
        shutil.rmtree(wheels, ignore_errors=True)
        wheels.mkdir(parents=True)
        pip = [sys.executable, "-m", "pip"]
        venv = base / VENV.lstrip("/")
        try:
            with _wheel_source(version) as src:
                subprocess.run(
                    [*pip, "wheel", "-q", "--no-deps", "-w", str(wheels), str(src)], check=True, timeout=600
                )
            wheel = next(wheels.glob("*.whl"))
            # The host's Python is the image's (3.11, glibc, x86_64): the same wheels fit.
            subprocess.run([*pip, "download", "-q", "-d", str(wheels), str(wheel)], check=True, timeout=600)
            _log(f"2/3: venv {VENV} with {wheel.name} and its dependencies (offline, in the root)...")
            shutil.rmtree(venv, ignore_errors=True)
            _chroot(base, "python3", "-m", "venv", VENV)
            _chroot(
                base,
                f"{VENV}/bin/pip", "install", "-q", "--no-index", "--no-cache-dir",
                "--find-links", "/tmp/moco-wheels", f"/tmp/moco-wheels/{wheel.name}",
            )  # fmt: skip
            _chroot(base, "sh", "-c", f"{VENV}/bin/moco-agent init-script > /dev/null")
            layer = Path(tmp) / "layer"
            (layer / "opt").mkdir(parents=True)
            shutil.move(str(venv), str(layer / "opt"))
        finally:
            shutil.rmtree(venv, ignore_errors=True)
            shutil.rmtree(wheels, ignore_errors=True)
        _log("3/3: the image archive...")
        build_archive(dataclasses.replace(img, layers=(base, layer)))
        if need_agent:
            agent.archive.unlink(missing_ok=True)
            build_archive(dataclasses.replace(agent, layers=(base, layer)))
            agent_stamp(agent).write_text(source_tag())
        for old in img.archive.parent.glob(f"{NAME}-src-*.tar"):
            if old != img.archive and ("-v" in old.name) == (version is not None):
                old.unlink(missing_ok=True)  # archives of earlier sources: one of each kind is kept
        _log(f"built {img.ref} in {time.monotonic() - t0:.0f}s")
        return img


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else None).ref)
