"""Registry of the processes and directories the test ground started.

Every process the ground starts is recorded as a PID file holding the PID and the process's
start time (field 22 of ``/proc/PID/stat``), so that a PID reused by an unrelated process is
never signalled. :func:`clean` stops the recorded processes that are still the ones we started,
removes the recorded temporary directories and deletes the recorded network namespaces; ``make
clean-ground`` calls it. Tests remove their own entries when they stop what they started, so
after a clean session the registry is empty.

The registry lives under ``$MOCO_STATE_DIR`` (default ``/tmp/moco-ground``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


def state_dir() -> Path:
    """Directory of the registry (created on demand)."""
    d = Path(os.environ.get("MOCO_STATE_DIR", "/tmp/moco-ground"))
    (d / "pids").mkdir(parents=True, exist_ok=True)
    (d / "dirs").mkdir(parents=True, exist_ok=True)
    return d


def cache_dir() -> Path:
    """Where built artefacts (MySQL root, Kubernetes binaries, etcd) are cached."""
    return Path(os.environ.get("MOCO_CACHE", str(Path.home() / ".cache" / "moco")))


def _start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = stat[stat.rindex(")") + 2 :].split()
    return int(rest[19])


@dataclass(frozen=True)
class Recorded:
    """One process the ground started."""

    pid: int
    start_time: int
    what: str

    def alive(self) -> bool:
        """True while the PID still names the very process we started (not a zombie)."""
        if _start_time(self.pid) != self.start_time:
            return False
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        return state[state.rindex(")") + 2] != "Z"


def record(pid: int, what: str) -> Recorded:
    """Record a started process; returns the record to pass to :func:`forget`."""
    st = _start_time(pid)
    if st is None:
        raise ProcessLookupError(pid)
    rec = Recorded(pid, st, what)
    (state_dir() / "pids" / str(pid)).write_text(json.dumps({"start_time": st, "what": what}))
    return rec


def forget(rec: Recorded) -> None:
    """Remove a process from the registry (after it was stopped)."""
    with contextlib.suppress(FileNotFoundError):
        (state_dir() / "pids" / str(rec.pid)).unlink()


def _dir_key(path: Path) -> str:
    return hashlib.sha256(str(path).encode()).hexdigest()[:16]


def record_dir(path: Path) -> None:
    """Record a temporary directory for :func:`clean` to remove."""
    marker = state_dir() / "dirs" / _dir_key(path)
    marker.write_text(str(path))


def forget_dir(path: Path) -> None:
    """Remove a directory from the registry (after it was removed)."""
    with contextlib.suppress(FileNotFoundError):
        (state_dir() / "dirs" / _dir_key(path)).unlink()


def record_netns(name: str, links: Sequence[str] = ()) -> None:
    """Record a network namespace (:mod:`moco.testing.hostnet`) and the host's interfaces that
    lead into it (a veth's host side) for :func:`clean` to delete."""
    (state_dir() / "netns").mkdir(exist_ok=True)
    (state_dir() / "netns" / name).write_text(json.dumps({"links": list(links)}))


def delete_netns(name: str) -> None:
    """Delete a recorded network namespace and its recorded host interfaces (its processes must
    have ended) and forget it; what is gone already is skipped.

    The host's side of a veth is deleted first: the kernel tears a namespace down in the
    background, and the pair would outlive ``ip netns delete`` for a while."""
    marker = state_dir() / "netns" / name
    try:
        links = [str(x) for x in json.loads(marker.read_text()).get("links", [])]
    except FileNotFoundError:
        raise ValueError(f"{name}: not a network namespace the ground recorded") from None
    except ValueError:
        links = []
    for link in links:
        if os.path.exists(f"/sys/class/net/{link}"):
            ip_command("link", "delete", link)
    if os.path.exists(f"/run/netns/{name}"):
        ip_command("netns", "delete", name)
    marker.unlink(missing_ok=True)


def ip_command(*argv: str) -> str:
    """Run ``ip`` (iproute2) with ``argv``; its output, or its error as a RuntimeError."""
    proc = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def recorded() -> list[Recorded]:
    """Every process in the registry, alive or not."""
    out = []
    for f in sorted((state_dir() / "pids").iterdir()):
        try:
            data = json.loads(f.read_text())
            out.append(Recorded(int(f.name), int(data["start_time"]), str(data["what"])))
        except (OSError, ValueError, KeyError):
            f.unlink(missing_ok=True)
    return out


def spawn(
    argv: Sequence[str],
    what: str,
    *,
    log: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[subprocess.Popen[bytes], Recorded]:
    """Start a process in its own session, recorded in the registry.

    Output goes to ``log`` (or is discarded). The new session means a SIGINT to the test runner
    does not reach it: only :func:`stop` or :func:`clean` do.
    """
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        if log is not None and not isinstance(out, int):
            out.close()
    return proc, record(proc.pid, what)


def stop(rec: Recorded, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20.0) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; reap; forget. Idempotent."""
    if rec.alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(rec.pid, signal.SIGCONT)  # a SIGSTOPped process cannot act on SIGTERM
            os.kill(rec.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while rec.alive() and time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.05)
        if rec.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(rec.pid, signal.SIGKILL)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    forget(rec)


def clean(verbose: bool = True) -> int:
    """Stop every recorded process still alive and remove recorded dirs; returns how many stopped."""
    stopped = 0
    for rec in recorded():
        if rec.alive():
            if verbose:
                print(f"stopping {rec.what} (pid {rec.pid})")
            stop(rec, timeout=10)
            stopped += 1
        else:
            forget(rec)
    for marker in sorted((state_dir() / "dirs").iterdir()):
        path = Path(marker.read_text().strip())
        if path.is_dir() and str(path).startswith(("/tmp/", str(state_dir()))):
            if verbose:
                print(f"removing {path}")
            shutil.rmtree(path, ignore_errors=True)
        marker.unlink(missing_ok=True)
    netns = state_dir() / "netns"
    # after the processes: a namespace goes once nothing runs in it
    for marker in sorted(netns.iterdir()) if netns.is_dir() else []:
        if verbose:
            print(f"deleting network namespace {marker.name}")
        try:
            delete_netns(marker.name)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            print(f"cannot delete network namespace {marker.name}: {e}")
    return stopped


if __name__ == "__main__":
    import sys

    n = clean(verbose=True)
    print(f"clean-ground: stopped {n} process(es)")
    sys.exit(0)
