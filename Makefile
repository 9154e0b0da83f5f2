# moco: build, test and run targets. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export MOCO_CACHE ?= $(HOME)/.cache/moco
export MOCO_STATE_DIR ?= /tmp/moco-ground
VENV ?= $(MOCO_CACHE)/venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
K8S_VERSION := v1.35.4
MYSQL_ROOT_STAMP := $(MOCO_CACHE)/mysql-root.current

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- set-up (idempotent, cached)
.PHONY: setup deps-apt venv mysql-root k8s-bin k8s-bin-all etcd object-stores mysqld-exporter
setup: deps-apt venv mysql-root k8s-bin etcd object-stores mysqld-exporter ## everything the tests need (Debian packages, venv, MySQL root, Kubernetes binaries, object stores, mysqld_exporter)

deps-apt: ## Debian packages the ground needs
	@bash hack/deps-apt.sh

venv: $(VENV)/.stamp ## the Python virtualenv (outside the repo) with moco installed editable

$(VENV)/.stamp: pyproject.toml
	@echo "== python venv at $(VENV)"
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $@
	@# the editable install points at this checkout; re-point it when another clone runs setup
	@$(PY) -c 'import moco, pathlib, sys; sys.exit(0 if pathlib.Path(moco.__file__).resolve().is_relative_to(pathlib.Path("src").resolve()) else 1)' \
	  || $(PY) -m pip install -q --no-deps -e .

mysql-root: ## Debian sid root with MySQL 9.7 (cached under $(MOCO_CACHE))
	@bash hack/mysql-root.sh

k8s-bin: ## kube-apiserver + kube-controller-manager built from the k8s.io/kubernetes Go module
	@bash hack/k8s-build.sh kube-apiserver kube-controller-manager

k8s-bin-all: ## every Kubernetes server binary the local node needs
	@bash hack/k8s-build.sh kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl

etcd: ## etcd from Debian sid
	@bash hack/etcd.sh

object-stores: ## versitygw (S3), fake-gcs-server (GCS), azurite (Azure) under $(MOCO_CACHE)/object-stores
	@bash hack/object-stores.sh

mysqld-exporter: ## Prometheus' mysqld_exporter (the exporter sidecar's program) from its Go module, under $(MOCO_CACHE)/mysqld-exporter
	@bash hack/mysqld-exporter.sh

# ---------------------------------------------------------------- checks
.PHONY: test test-unit test-mysql test-apiserver test-objectstore lint fmt crds openapi
test: setup repoint ## every tier this machine runs: unit, mysql, apiserver, then the e2e smoke on a local cluster
	$(PYTEST) -m "not e2e" unit_tests
	@$(MAKE) --no-print-directory node-deps
	$(PYTEST) -p no:cacheprovider -q e2e/local/test_render.py e2e/local/test_faults.py e2e/local/test_csi.py e2e/local/test_moco_image.py e2e/test_chaos_figures.py e2e/test_rollout_rules.py
	@$(MAKE) --no-print-directory e2e-smoke

test-unit: venv repoint ## pure logic, no external parts
	$(PYTEST) -m "not mysql and not apiserver and not objectstore and not e2e" unit_tests

test-mysql: venv repoint mysql-root object-stores mysqld-exporter ## real mysqld 9.7 processes on loopback (and object stores for backups)
	$(PYTEST) -m mysql unit_tests

test-apiserver: venv repoint k8s-bin etcd mysql-root ## real etcd + kube-apiserver on loopback (and mysqld for the credential rotation)
	$(PYTEST) -m apiserver unit_tests

test-objectstore: venv repoint object-stores ## real versitygw, fake-gcs-server, azurite on loopback
	$(PYTEST) -m objectstore unit_tests

.PHONY: repoint
repoint:
	@$(PY) -c 'import moco, pathlib, sys; sys.exit(0 if pathlib.Path(moco.__file__).resolve().is_relative_to(pathlib.Path("src").resolve()) else 1)' \
	  || $(PY) -m pip install -q --no-deps -e .

lint: venv repoint ## ruff, mypy --strict, import-linter contracts
	$(VENV)/bin/ruff check src unit_tests e2e
	$(VENV)/bin/ruff format --check src unit_tests e2e
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict e2e
	$(VENV)/bin/lint-imports

fmt: venv ## apply ruff's formatting and fixes
	$(VENV)/bin/ruff format src unit_tests e2e
	$(VENV)/bin/ruff check --fix src unit_tests e2e

crds: venv ## regenerate the CRDs in manifests/crd from moco.api
	$(PY) -m moco.api.crdgen manifests/crd

openapi: venv ## refresh the checked-in Kubernetes OpenAPI subset from the k8s.io/kubernetes Go module
	cd tools/k8s && go mod download k8s.io/kubernetes
	$(PY) -m moco.api.extract $$(go env GOMODCACHE)/k8s.io/kubernetes@$(K8S_VERSION)

# ---------------------------------------------------------------- ground
.PHONY: clean-ground apiserver-up apiserver-down
clean-ground: ## stop every process the tests started (by PID file), remove their temp dirs, and a local cluster
	@if [ -f /var/lib/moco-local/state.json ] && [ -x $(PY) ]; then $(PY) -m e2e.local down || true; fi
	@if [ -x $(PY) ]; then PYTHONPATH=src $(PY) -m moco.testing.ground; else PYTHONPATH=src python3 -m moco.testing.ground; fi

apiserver-up: venv repoint k8s-bin etcd ## etcd + kube-apiserver in the background; prints the kubeconfig path
	@$(PY) -m moco.testing.envtest up

apiserver-down: ## stop what apiserver-up started
	@$(PY) -m moco.testing.envtest down

# ---------------------------------------------------------------- benchmarks
.PHONY: bench-informer bench-failover bench-backup bench-scale soak
bench-informer: venv repoint k8s-bin etcd ## informer sync time and RSS for 1000 CRs + 3000 Pods
	$(PY) -m moco.bench.informer

bench-failover: venv repoint mysql-root ## 20 failovers and 20 switchovers on real mysqld
	$(PY) -m moco.bench.failover

bench-scale: venv repoint mysql-root k8s-bin etcd ## the real moco-controller with N clusters (CLUSTERS=n, default 1000) on the apiserver tier and loopback mysqld: start-up, pass cadence, event->pass, CPU, RSS, API QPS, failover under load
	$(PY) -m moco.bench.scale $(if $(CLUSTERS),--clusters $(CLUSTERS)) $(if $(WINDOW),--window $(WINDOW)) $(if $(COLD_QPS),--cold-qps $(COLD_QPS))

bench-backup: venv repoint mysql-root object-stores ## backup/restore engine vs mysqldump and mysql reload, ~1 GB (SIZE_MB=n), versitygw on loopback
	$(PY) -m moco.bench.backup $(if $(SIZE_MB),--size-mb $(SIZE_MB))

soak: venv repoint mysql-root ## 200 seeded random faults on real mysqld under writes (SEED=n replays)
	$(PY) -m moco.bench.soak $(if $(SEED),--seed $(SEED)) $(SOAK_ARGS)

# ---------------------------------------------------------------- local cluster and e2e (cluster, cluster-down, deploy, e2e, start)
-include e2e/e2e.mk
