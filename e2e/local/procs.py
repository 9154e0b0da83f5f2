"""Long-lived processes of a local cluster: start, wait until ready, stop, by recorded PID.

Every process goes through :func:`moco.testing.ground.spawn` (so ``make clean-ground`` is a
backstop) and is also listed in the cluster's state file, which is how ``down`` — a different
process than ``up`` — finds exactly what ``up`` started. A process meant for a node namespace is
started as ``nsenter --net=/run/netns/<ns> <argv>``: nsenter execs the program in place, so the
recorded PID is the program's own, and the program shares the host's mount namespace (kubelet and
containerd must see each other's mounts).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from moco.testing import ground


class ClusterError(RuntimeError):
    """A cluster part failed to start or to stop; the message says which and where its log is."""


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    return [*(["nsenter", f"--net=/run/netns/{netns}"] if netns else []), *argv]


class Registry:
    """The state file: component name -> recorded process."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, ground.Recorded]:
        if not self.path.exists():
            return {}
        data = json.loads(self.path.read_text())
        return {k: ground.Recorded(v["pid"], v["start_time"], v["what"]) for k, v in data.items()}

    def save(self, recs: dict[str, ground.Recorded]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: {"pid": r.pid, "start_time": r.start_time, "what": r.what} for k, r in recs.items()}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.rename(self.path)

    def start(self, name: str, argv: Sequence[str], log: Path, netns: str | None = None) -> ground.Recorded:
        log.parent.mkdir(parents=True, exist_ok=True)
        _, rec = ground.spawn(in_netns(netns, argv), f"moco-local {name}", log=log)
        recs = self.load()
        recs[name] = rec
        self.save(recs)
        return rec

    def stop(self, name: str, timeout: float = 20.0) -> None:
        recs = self.load()
        rec = recs.pop(name, None)
        if rec is not None:
            ground.stop(rec, timeout=timeout)
            self.save(recs)


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, rec: ground.Recorded | None, log: Path
) -> float:
    """Poll ``check`` until true; fail early when ``rec`` died. Returns the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if rec is not None and not rec.alive():
            raise ClusterError(f"{what} exited; last lines of {log}:\n{tail(log)}")
        try:
            if check():
                return time.monotonic() - t0
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
        time.sleep(0.25)
    raise ClusterError(f"{what} not ready after {timeout:.0f}s; last lines of {log}:\n{tail(log)}")


def tail(log: Path, n: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def https_ok(url: str, ca: Path, cert: Path, key: Path, timeout: float = 3.0) -> bool:
    """True when ``url`` answers 200 to a client-certificate request."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.load_cert_chain(str(cert), str(key))
    with urllib.request.urlopen(url, context=ctx, timeout=timeout) as resp:
        return bool(resp.status == 200)


def http_ok(url: str, timeout: float = 3.0) -> bool:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return bool(resp.status == 200)
