"""Upper bounds of moco's own API fields: every number, list and string has one.

Why: one tenant must not be able to make the operator allocate without limit. ``replicas:
2147483647`` is odd and passed every other rule, and the operator allocates per ordinal for
every cluster it manages. Each bound is far above what a real cluster uses, and each is written
in the field's description (``kubectl explain``) and in the README's validation table. The
apiserver enforces them (the CRD's ``maximum``/``maxLength``/``maxItems``/``maxProperties``);
the models check the same values, so an object read from the apiserver always parses.

Lists and strings that CEL rules iterate are bounded for a second reason: the apiserver
estimates each rule's worst-case cost from these bounds and refuses a CRD above its budget.
"""

from __future__ import annotations

from typing import Final

#: ``spec.replicas``: MOCO's users run 1, 3 or 5 instances; 15 leaves room and keeps the
#: per-cluster work (connections, Pods, status lists) small.
MAX_REPLICAS: Final = 15
#: A Kubernetes object name (DNS subdomain).
MAX_NAME: Final = 253
#: A DNS label: namespaces, container, volume and claim template names.
MAX_LABEL_NAME: Final = 63
#: An IANA service name: container port names.
MAX_PORT_NAME: Final = 15
#: A label value (Kubernetes' own limit).
MAX_LABEL_VALUE: Final = 63
#: Labels or annotations of a template.
MAX_METADATA_ENTRIES: Final = 64
#: One annotation value of a template (Kubernetes allows 256 KiB for all of them together).
MAX_ANNOTATION_VALUE: Final = 65536
#: int32: seconds, server IDs, counts the CRD declares as int32.
MAX_INT32: Final = 2**31 - 1
#: ``spec.logRotationSize``: 1 PiB.
MAX_LOG_ROTATION_SIZE: Final = 2**50
#: Free text that becomes a file (the slow-log agent's config template) or a flag value.
MAX_TEXT: Final = 65536
#: A collector flag name of mysqld_exporter.
MAX_COLLECTOR: Final = 128
#: A MySQL schema name (MySQL's own limit).
MAX_SCHEMA: Final = 64
#: ``jobConfig.threads``.
MAX_THREADS: Final = 256
#: A bucket name (S3: 63, GCS: 222 with dots).
MAX_BUCKET_NAME: Final = 255
#: A bucket region.
MAX_REGION: Final = 128
#: A URL.
MAX_URL: Final = 2048
#: A file path inside a Pod (Linux ``PATH_MAX``).
MAX_PATH: Final = 4096
#: A time zone name (the longest IANA name has 32 characters).
MAX_TIME_ZONE: Final = 128
#: An RFC 3339 date-time.
MAX_DATE_TIME: Final = 64
#: A quantity written as a string (``jobConfig.cpu``, ``memory``, ...).
MAX_QUANTITY: Final = 64
#: ``successfulJobsHistoryLimit`` / ``failedJobsHistoryLimit``.
MAX_JOBS_HISTORY: Final = 1000

# Lists (CEL cost bounds as well).
MAX_CONTAINERS: Final = 64
MAX_PORTS: Final = 128
MAX_VOLUMES: Final = 256
MAX_CLAIM_TEMPLATES: Final = 32
MAX_COLLECTORS: Final = 64
MAX_OVERWRITE_CONTAINERS: Final = 8
MAX_JOB_LIST: Final = 128
