"""my.cnf is validated by the cluster's own mysqld before any Pod is given it.

An option mysqld does not know (``query_cache_size`` on MySQL 8.4+, ``innodb_log_file_size`` on
9.x) makes mysqld abort at start: once the StatefulSet names the new my.cnf, the first Pod rolled
crash-loops. So a new my.cnf (or a new mysqld image) is first run through ``mysqld
--validate-config`` in a short Job, with the same image, the same files and the same mounts as
the mysqld container, and the StatefulSet is updated only once that Job has succeeded:

* the Job is named after a hash of the my.cnf and the image (:func:`job_name`), so each
  combination is validated once and a verdict survives controller restarts;
* pending: the reconciler leaves the StatefulSet as it is and looks again in
  :data:`RECHECK_SECONDS`; the Job's Pod is not a mysqld Pod (other labels), so no PDB or
  StatefulSet selector counts it;
* refused: mysqld's errors come back in the Pod's termination message
  (``terminationMessagePolicy: FallbackToLogsOnError``); the reconcile fails with
  :class:`ConfigRefused` (``ReconcileSuccess=False`` and a Warning Event, both naming the option,
  e.g. "unknown variable 'query_cache_size=0'") and the StatefulSet keeps its last good my.cnf;
* passed: the StatefulSet is applied; Jobs of older hashes are deleted;
* already running: a config the StatefulSet's template already names, with the same image
  (:func:`runs_already`), passed its validation before it got there (or runs without one): it
  needs no Job. Without this rule a controller restarted after the finished Jobs' TTL would run
  one Job per cluster for configs that run everywhere.

Options MySQL renamed are translated before (:mod:`moco.mycnf.renamed`); the translation is told
once per config in a Normal Event (:data:`EV_TRANSLATED`) when the Job is created.

:func:`validation_job` and :func:`verdict` are pure; :class:`ConfigValidator` does the API calls.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from moco import constants, mycnf
from moco.api import MySQLCluster
from moco.controllers.common import Obj, owner_reference
from moco.controllers.errors import ControllerError
from moco.kube import errors as kerr
from moco.kube.client import Client
from moco.kube.resource import JOBS, PODS
from moco.log import get_logger

log = get_logger("moco.controllers.validation")

#: ``app.kubernetes.io/name`` of the validation Jobs and their Pods (not MOCO's ``mysql``).
APP_NAME: Final = "moco-config-validation"
CONTAINER: Final = "validate"
#: Seconds before a pending validation is looked at again.
RECHECK_SECONDS: Final = 3.0
#: A validation still running after this is failed by the Job controller (image pull stuck...).
ACTIVE_DEADLINE_SECONDS: Final = 300
#: Finished Jobs are kept (their verdict is the cache); the API server removes them after a day.
TTL_SECONDS_AFTER_FINISHED: Final = 86400
EV_TRANSLATED: Final = "MySQLConfigTranslated"
EV_STARTED: Final = "MySQLConfigValidationStarted"


class ConfigRefused(ControllerError):
    """``mysqld --validate-config`` refused the generated my.cnf: the StatefulSet keeps the old one."""

    reason = "MySQLConfigInvalid"


class State(enum.Enum):
    PENDING = "Pending"
    PASSED = "Passed"
    FAILED = "Failed"


@dataclass(frozen=True)
class Verdict:
    state: State
    message: str = ""


def config_hash(conf: str, image: str) -> str:
    """Eight hex digits naming (my.cnf, mysqld image): what one validation proves."""
    return mycnf.content_hash(f"{image}\n{conf}")


def job_name(cluster: MySQLCluster, conf: str, image: str) -> str:
    """``moco-validate-<cluster>-<hash>``; at most 63 characters (cluster names are <= 40)."""
    return f"moco-validate-{cluster.name}-{config_hash(conf, image)}"


def job_labels(cluster: MySQLCluster) -> dict[str, str]:
    return {
        constants.LABEL_APP_NAME: APP_NAME,
        constants.LABEL_APP_INSTANCE: cluster.name,
        constants.LABEL_APP_CREATED_BY: constants.APP_CREATOR,
    }


def _mount(name: str, path: str) -> Obj:
    return {"name": name, "mountPath": path}


def validation_job(cluster: MySQLCluster, conf: str, mycnf_name: str, mysqld: Obj) -> Obj:
    """The Job running ``mysqld --validate-config`` on ConfigMap ``mycnf_name`` (pure).

    ``mysqld`` is the rendered mysqld container: its image, security context and environment are
    reused, so the check runs as the server will. Empty directories stand where the Pod mounts
    its own (mysqld checks that ``tmpdir`` exists); only errors are printed.
    """
    image = str(mysqld["image"])
    spec = cluster.spec.pod_template.spec
    container: Obj = {
        "name": CONTAINER,
        "image": image,
        "command": [
            "mysqld",
            f"--defaults-file={constants.MYSQL_CONF_PATH}/{constants.MYSQL_CONF_NAME}",
            "--validate-config",
            "--log-error-verbosity=1",
        ],
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            _mount(constants.CONF_VOLUME, constants.MYSQL_CONF_PATH),
            _mount(constants.INIT_CONF_VOLUME, constants.MYSQL_INIT_CONF_PATH),
            _mount(constants.TMP_VOLUME, constants.TMP_PATH),
            _mount(constants.RUN_VOLUME, constants.RUN_PATH),
            _mount(constants.VAR_LOG_VOLUME, constants.LOG_DIR_PATH),
        ],
    }
    for key in ("securityContext", "env", "imagePullPolicy"):
        if mysqld.get(key):
            container[key] = mysqld[key]
    pod_spec: Obj = {
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": [
            {"name": constants.CONF_VOLUME, "configMap": {"name": mycnf_name}},
            *(
                {"name": v, "emptyDir": {}}
                for v in (
                    constants.INIT_CONF_VOLUME,
                    constants.TMP_VOLUME,
                    constants.RUN_VOLUME,
                    constants.VAR_LOG_VOLUME,
                )
            ),
        ],
    }
    for key in ("imagePullSecrets", "nodeSelector", "tolerations", "securityContext", "priorityClassName"):
        if spec.get(key):
            pod_spec[key] = spec[key]
    name = job_name(cluster, conf, image)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": cluster.namespace,
            "labels": job_labels(cluster),
            "annotations": {"moco.cybozu.com/mycnf": mycnf_name},
            "ownerReferences": [owner_reference(cluster)],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": ACTIVE_DEADLINE_SECONDS,
            "ttlSecondsAfterFinished": TTL_SECONDS_AFTER_FINISHED,
            "template": {"metadata": {"labels": job_labels(cluster)}, "spec": pod_spec},
        },
    }


def runs_already(sts: Obj | None, mycnf_name: str, image: str) -> bool:
    """Whether StatefulSet ``sts`` already gives its Pods ``mycnf_name`` with mysqld ``image`` (pure)."""
    if sts is None:
        return False
    spec = ((sts.get("spec") or {}).get("template") or {}).get("spec") or {}
    conf = next((v for v in spec.get("volumes") or [] if v.get("name") == constants.CONF_VOLUME), None)
    if conf is None or (conf.get("configMap") or {}).get("name") != mycnf_name:
        return False
    mysqld = next(
        (c for c in spec.get("containers") or [] if c.get("name") == constants.MYSQLD_CONTAINER), None
    )
    return mysqld is not None and mysqld.get("image") == image


def _condition(job: Obj, type_: str) -> Obj | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_ and c.get("status") == "True":
            return dict(c)
    return None


def errors_of(message: str) -> str:
    """mysqld's ``[ERROR]`` lines of a termination message, without the final "Aborting"."""
    lines = []
    for line in message.splitlines():
        if "[ERROR]" not in line or "Aborting" in line:
            continue
        lines.append(line.split("[Server] ", 1)[-1].strip())
    return "; ".join(lines) or message.strip()[-500:]


def termination_message(pods: list[Obj]) -> str:
    """The validation container's termination message, from the Job's Pods (newest first)."""
    pods = sorted(pods, key=lambda p: str(p["metadata"].get("creationTimestamp", "")), reverse=True)
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            term = (cs.get("state") or {}).get("terminated") or {}
            if cs.get("name") == CONTAINER and term.get("message"):
                return str(term["message"])
    return ""


def verdict(job: Obj | None, pods: list[Obj]) -> Verdict:
    """What the Job says (pure): passed, failed (with mysqld's errors), or not yet."""
    if job is None:
        return Verdict(State.PENDING, "validation Job not created yet")
    if _condition(job, "Complete") is not None:
        return Verdict(State.PASSED)
    failed = _condition(job, "Failed")
    if failed is None:
        return Verdict(State.PENDING, "mysqld --validate-config is running")
    message = termination_message(pods)
    if message:
        return Verdict(State.FAILED, errors_of(message))
    why = f"{failed.get('reason', '')} {failed.get('message', '')}".strip()
    return Verdict(State.FAILED, f"the validation did not run to its end: {why}")


class ConfigValidator:
    """Runs and reads the validation Jobs (see the module docstring).

    Verdicts of passed Jobs are remembered in memory, so a validated config costs no API call
    on later reconciles; after a restart the Job answers again.
    """

    def __init__(self, client: Client, *, timeout: float = 10.0) -> None:
        self.client = client
        self.timeout = timeout
        self._passed: set[tuple[str, str]] = set()

    async def check(
        self,
        cluster: MySQLCluster,
        conf: str,
        mycnf_name: str,
        mysqld: Obj,
        user_conf: dict[str, str] | None,
        events: list[tuple[str, str, str]],
        live: Obj | None = None,
    ) -> Verdict:
        """The verdict on ``conf`` with the cluster's mysqld image; creates the Job when missing.

        ``live`` is the cluster's StatefulSet as it is: a config it already runs has passed.
        Raises :class:`ConfigRefused` when mysqld refused it. ``events`` receives the Events to
        emit (type, reason, message).
        """
        ns = cluster.namespace
        name = job_name(cluster, conf, str(mysqld["image"]))
        if (ns, name) in self._passed:
            return Verdict(State.PASSED)
        if runs_already(live, mycnf_name, str(mysqld["image"])):
            self._passed.add((ns, name))
            return Verdict(State.PASSED)
        try:
            job: Obj | None = await self.client.get(JOBS, name, ns, request_timeout=self.timeout)
        except kerr.NotFound:
            job = None
        if job is None:
            body = validation_job(cluster, conf, mycnf_name, mysqld)
            try:
                await self.client.create(JOBS, body, request_timeout=self.timeout)
            except kerr.AlreadyExists:
                pass
            else:
                events.append(("Normal", EV_STARTED, f"validating my.cnf {mycnf_name} with Job {name}"))
                _, translated = mycnf.translate(user_conf or {})
                for t in translated:
                    events.append(("Normal", EV_TRANSLATED, t.message()))
                log.info("config validation started", cluster=cluster.name, namespace=ns, job=name)
            return Verdict(State.PENDING, f"validation Job {name} created")
        pods: list[Obj] = []
        if _condition(job, "Failed") is not None:
            sel = f"batch.kubernetes.io/job-name={name}"
            pods, _ = await self.client.list_all(PODS, ns, label_selector=sel)
        v = verdict(job, pods)
        if v.state is State.FAILED:
            raise ConfigRefused(f"mysqld --validate-config refused my.cnf {mycnf_name}: {v.message}")
        if v.state is State.PASSED:
            self._passed.add((ns, name))
            await self._prune(cluster, keep=name)
        return v

    async def _prune(self, cluster: MySQLCluster, keep: str) -> None:
        """Delete this cluster's other validation Jobs (and their Pods)."""
        sel = ",".join(f"{k}={v}" for k, v in job_labels(cluster).items())
        jobs, _ = await self.client.list_all(JOBS, cluster.namespace, label_selector=sel)
        for j in jobs:
            other = j["metadata"]["name"]
            if other == keep:
                continue
            try:
                await self.client.delete(
                    JOBS, other, cluster.namespace, request_timeout=self.timeout, propagation="Background"
                )
            except kerr.NotFound:
                pass
            self._passed.discard((cluster.namespace, other))
