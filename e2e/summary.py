"""``python -m e2e.summary JUNIT_XML PROVIDER KUBECONFIG``: one JSON line summing up a suite run.

The e2e make target prints it last, whatever pytest's outcome, so that a caller can parse the
run's result from the final line.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def summarise(xml: Path, provider: str, kubeconfig: str) -> dict[str, object]:
    if not xml.exists():
        return {"suite": "e2e", "provider": provider, "kubeconfig": kubeconfig, "error": "no junit report"}
    root = ET.parse(xml).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) for s in suites)
    errors = sum(int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    seconds = sum(float(s.get("time", 0.0)) for s in suites)
    return {
        "suite": "e2e",
        "provider": provider,
        "kubeconfig": kubeconfig,
        "tests": total,
        "passed": total - failed - errors - skipped,
        "failed": failed,
        "errors": errors,
        "skipped": skipped,
        "seconds": round(seconds, 1),
        "ok": total > 0 and failed == 0 and errors == 0,
    }


if __name__ == "__main__":
    print(json.dumps(summarise(Path(sys.argv[1]), sys.argv[2], sys.argv[3])))
