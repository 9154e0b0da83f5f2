"""A thin kubectl wrapper for the e2e suite (works against any cluster a kubeconfig names).

The suite drives clusters through kubectl, the tool users have, so the same tests run on the
local provider and on kind. Every call has a timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e.local.spec import ClusterSpec, k8s_bin


class KubectlError(RuntimeError):
    """kubectl exited non-zero; carries its stderr."""


def kubectl_path() -> str:
    if "KUBECTL" in os.environ:
        return os.environ["KUBECTL"]
    cached = k8s_bin("kubectl")
    if cached.exists():
        return str(cached)
    found = shutil.which("kubectl")
    if found is None:
        raise KubectlError("kubectl not found (set KUBECTL, or run `make node-bins`)")
    return found


def default_kubeconfig() -> Path:
    """``$KUBECONFIG`` if set, else the local provider's admin kubeconfig."""
    env = os.environ.get("KUBECONFIG")
    return Path(env) if env else ClusterSpec().kubeconfig


@dataclass(frozen=True)
class Kubectl:
    kubeconfig: Path
    namespace: str | None = None

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 60, check: bool = True) -> str:
        argv = [kubectl_path(), f"--kubeconfig={self.kubeconfig}"]
        if self.namespace:
            argv.append(f"--namespace={self.namespace}")
        r = subprocess.run(
            [*argv, f"--request-timeout={int(timeout)}s", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout + 15,
            check=False,
        )
        if check and r.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)} -> {r.returncode}: {r.stderr.strip()}")
        return r.stdout

    def ns(self, namespace: str) -> Kubectl:
        return Kubectl(self.kubeconfig, namespace)

    def get(self, *args: str) -> Any:
        return json.loads(self("get", "-o", "json", *args))

    def apply(self, manifest: str) -> None:
        self("apply", "-f", "-", stdin=manifest)

    def exec(self, pod: str, *cmd: str, timeout: float = 60, check: bool = True) -> str:
        return self("exec", pod, "--", *cmd, timeout=timeout, check=check)

    def exec_rc(self, pod: str, *cmd: str, timeout: float = 60) -> tuple[int, str]:
        """Exit code and combined output of a command in a pod (never raises on failure)."""
        argv = [kubectl_path(), f"--kubeconfig={self.kubeconfig}"]
        if self.namespace:
            argv.append(f"--namespace={self.namespace}")
        r = subprocess.run(
            [*argv, "exec", pod, "--", *cmd],
            capture_output=True,
            text=True,
            timeout=timeout + 15,
            check=False,
        )
        return r.returncode, r.stdout + r.stderr

    def wait_ready(self, what: str, timeout: float = 120) -> None:
        self("wait", "--for=condition=Ready", what, f"--timeout={int(timeout)}s", timeout=timeout + 5)

    def wait_for(self, check: Any, timeout: float = 60, interval: float = 0.5) -> Any:
        """Poll ``check()`` until it returns something truthy; returns it."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = check()
            if last:
                return last
            time.sleep(interval)
        raise TimeoutError(f"condition not met within {timeout}s (last: {last!r})")
