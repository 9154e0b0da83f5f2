"""``python -m e2e.summary JUNIT_XML PROVIDER KUBECONFIG``: one JSON line summing up a suite run.

The e2e make target prints it last, whatever pytest's outcome, so that a caller can parse the
run's result from the final line. Besides the counts it carries:

- the figures the scenarios recorded as junit suite properties (``record_testsuite_property``:
  ``failover_unavailable_s``, ``switchover_unavailable_s``, ...; ``null`` when a scenario did not
  get that far);
- ``scenarios``: seconds per test module (setup, tests and teardown of its testcases);
- ``duration_s``: wall time since ``$MOCO_E2E_STARTED`` (epoch seconds, set by the make target
  before it brings the cluster up), else the suite's own time.
"""

from __future__ import annotations

import json
import os
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

#: figures always present on the line (null when not recorded).
FIGURES = ("failover_unavailable_s", "switchover_unavailable_s")


def _value(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


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
    figures: dict[str, object] = dict.fromkeys(FIGURES)
    for s in suites:
        for p in s.iterfind("./properties/property"):
            figures[p.get("name", "")] = _value(p.get("value", ""))
    scenarios: dict[str, float] = {}
    for case in root.iter("testcase"):
        module = case.get("classname", "").split(".")[-1] or case.get("name", "")
        scenarios[module] = round(scenarios.get(module, 0.0) + float(case.get("time", 0.0)), 1)
    started = os.environ.get("MOCO_E2E_STARTED")
    duration = time.time() - float(started) if started else seconds
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
        "duration_s": round(duration, 1),
        **figures,
        "scenarios": scenarios,
        "ok": total > 0 and failed == 0 and errors == 0,
    }


if __name__ == "__main__":
    print(json.dumps(summarise(Path(sys.argv[1]), sys.argv[2], sys.argv[3])))
