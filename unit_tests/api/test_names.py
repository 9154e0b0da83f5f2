"""Derived names, as MOCO spells them."""

from __future__ import annotations

from moco.api import MySQLCluster, names


def _cluster() -> MySQLCluster:
    return MySQLCluster.model_validate(
        {
            "metadata": {"name": "test", "namespace": "ns"},
            "spec": {"podTemplate": {"spec": {}}, "volumeClaimTemplates": [{"metadata": {}, "spec": {}}]},
        }
    )


def test_cluster_names() -> None:
    c = _cluster()
    assert c.prefixed_name() == "moco-test"
    assert c.pod_name(2) == "moco-test-2"
    assert c.pod_hostname(0) == "moco-test-0.moco-test.ns.svc"
    assert c.headless_service_name() == "moco-test"
    assert c.primary_service_name() == "moco-test-primary"
    assert c.replica_service_name() == "moco-test-replica"
    assert c.user_secret_name() == "moco-test"
    assert c.mycnf_secret_name() == "moco-my-cnf-test"
    assert c.controller_secret_name() == "mysql-ns.test"
    assert c.mycnf_configmap_prefix() == "moco-test."
    assert c.backup_cronjob_name() == "moco-backup-test"
    assert c.restore_job_name() == "moco-restore-test"


def test_module_level_names() -> None:
    assert names.slow_log_agent_configmap_name("x") == "moco-slow-log-agent-config-x"
    assert names.certificate_name("ns", "x") == "moco-agent-ns.x"
    assert names.grpc_secret_name("x") == "moco-x-grpc"
    assert names.backup_role_name("x") == "moco-backup-x"
    assert names.restore_role_name("x") == "moco-restore-x"


def test_longest_name_fits_the_statefulset_limit() -> None:
    longest = "a" * names.MAX_CLUSTER_NAME_LENGTH
    # A StatefulSet name longer than 52 characters breaks the controller-revision-hash label.
    assert len(names.backup_cronjob_name(longest)) <= 52
    assert len(names.prefixed_name(longest)) <= 52
