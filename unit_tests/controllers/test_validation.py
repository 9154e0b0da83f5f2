"""The my.cnf validation Job (pure parts): its shape, its name, and how its end is read."""

from __future__ import annotations

from typing import Any

import pytest

from moco.controllers import validation
from moco.controllers.containers import mysqld_container
from unit_tests.controllers.render_helpers import load_example

ERR = (
    "2026-01-01T00:00:00Z 0 [ERROR] [MY-000067] [Server] unknown variable 'query_cache_size=0'.\n"
    "2026-01-01T00:00:00Z 0 [ERROR] [MY-010119] [Server] Aborting\n"
)


def _job(conf: str = "[mysqld]\n") -> dict[str, Any]:
    cluster, _ = load_example("guaranteed.yaml")
    return validation.validation_job(cluster, conf, "moco-x.0000", mysqld_container(cluster))


def test_job_runs_the_clusters_mysqld_on_the_configmap() -> None:
    cluster, _ = load_example("guaranteed.yaml")
    job = _job()
    pod = job["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["image"] == mysqld_container(cluster)["image"]
    assert c["command"][:3] == ["mysqld", "--defaults-file=/etc/mysql/my.cnf", "--validate-config"]
    assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert pod["restartPolicy"] == "Never"
    assert {"name": "mysql-conf", "configMap": {"name": "moco-x.0000"}} in pod["volumes"]
    # never selected as a mysqld Pod (PDB, StatefulSet, clustering)
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] != "mysql"


def test_job_name_follows_config_and_image_and_fits_a_label() -> None:
    cluster, _ = load_example("guaranteed.yaml")
    a = validation.job_name(cluster, "x", "mysql:1")
    assert a == validation.job_name(cluster, "x", "mysql:1")
    assert a != validation.job_name(cluster, "y", "mysql:1")
    assert a != validation.job_name(cluster, "x", "mysql:2")
    assert len(f"moco-validate-{'c' * 40}-12345678") <= 63


def _status(*types: str) -> dict[str, Any]:
    return {"status": {"conditions": [{"type": t, "status": "True", "reason": "R"} for t in types]}}


def _pod(message: str) -> dict[str, Any]:
    return {
        "metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {
            "containerStatuses": [
                {"name": validation.CONTAINER, "state": {"terminated": {"exitCode": 1, "message": message}}}
            ]
        },
    }


def test_verdicts() -> None:
    assert validation.verdict(None, []).state is validation.State.PENDING
    assert validation.verdict({"status": {}}, []).state is validation.State.PENDING
    assert validation.verdict(_status("SuccessCriteriaMet", "Complete"), []).state is validation.State.PASSED
    failed = validation.verdict(_status("FailureTarget", "Failed"), [_pod(ERR)])
    assert failed.state is validation.State.FAILED
    assert failed.message == "unknown variable 'query_cache_size=0'."
    no_output = validation.verdict(_status("Failed"), [])
    assert no_output.state is validation.State.FAILED
    assert "did not run to its end" in no_output.message


@pytest.mark.parametrize(
    ("conf_cm", "image", "expected"),
    [
        ("moco-test.abc", "mysql:9.7", True),  # the same my.cnf and image: it runs already
        ("moco-test.def", "mysql:9.7", False),  # another my.cnf: a new config to validate
        ("moco-test.abc", "mysql:9.8", False),  # another image may refuse the same my.cnf
    ],
)
def test_runs_already(conf_cm: str, image: str, expected: bool) -> None:
    sts = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "agent", "image": "mysql:9.7"},
                        {"name": "mysqld", "image": image},
                    ],
                    "volumes": [{"name": "mysql-conf", "configMap": {"name": conf_cm}}],
                }
            }
        }
    }
    assert validation.runs_already(sts, "moco-test.abc", "mysql:9.7") is expected


def test_no_statefulset_runs_nothing() -> None:
    assert not validation.runs_already(None, "moco-test.abc", "mysql:9.7")
    assert not validation.runs_already({"spec": {}}, "moco-test.abc", "mysql:9.7")
