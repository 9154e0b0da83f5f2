"""Refresh the checked-in Kubernetes OpenAPI definitions.

``python -m moco.api.extract K8S_MODULE_ROOT [OUT]`` reads the OpenAPI v3 of the
``k8s.io/kubernetes`` Go module (typically ``$(go env GOMODCACHE)/k8s.io/kubernetes@v1.35.4``)
and writes the definitions moco's CRDs embed to :data:`moco.api.openapi.DATA_FILE`. Run it
when the Kubernetes version changes, then ``make crds``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from moco.api.openapi import DATA_FILE, dump, extract


def main(argv: list[str]) -> int:
    """``K8S_MODULE_ROOT [OUT]``: write the trimmed definitions (default: ``DATA_FILE``)."""
    if len(argv) not in (1, 2):
        print("usage: python -m moco.api.extract K8S_MODULE_ROOT [OUT]", file=sys.stderr)
        return 2
    out = Path(argv[1]) if len(argv) == 2 else DATA_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dump(extract(Path(argv[0]))))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
