# Local cluster and e2e targets, included by the top-level Makefile (which exports MOCO_CACHE and
# defines VENV, PY, PYTEST, K8S_VERSION).
#
# Provider: `local` (real Kubernetes components as processes on this machine, e2e/local) unless a
# Docker engine answers, then `kind` (e2e/kind). Override with E2E_PROVIDER=local|kind.
E2E_PROVIDER ?= $(shell docker info >/dev/null 2>&1 && echo kind || echo local)
E2E_JUNIT := $(MOCO_STATE_DIR)/e2e-junit.xml
E2E_SMOKE_JUNIT := $(MOCO_STATE_DIR)/e2e-smoke-junit.xml
# The smoke: create -> Healthy -> failover, nothing lost (the failover scenario).
E2E_SMOKE_TESTS ?= e2e/test_scenario_failover.py
E2E_PYTEST_ARGS ?=
NODES ?=
E2E_MODULE := $(PY) -m e2e.local

.PHONY: node-deps node-bins images cluster cluster-down cluster-purge cluster-status moco-image deploy e2e e2e-smoke e2e-chaos start

node-deps: ## Debian packages of a local node (containerd, runc, CNI plugins, nftables, ...)
	@bash e2e/local/deps.sh

node-bins: node-deps etcd ## every binary the local cluster runs (Kubernetes, etcd, CoreDNS, local-path provisioner)
	@bash hack/k8s-build.sh kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl
	@bash e2e/local/go-tools.sh

images: venv repoint node-bins mysql-root ## the local cluster's images (pause, busybox, CoreDNS, provisioner, MySQL), cached
	@$(E2E_MODULE) images

cluster: ## a Kubernetes cluster (provider local or kind; local: NODES=n nodes, default 1 or what runs); prints the kubeconfig path last
ifeq ($(E2E_PROVIDER),kind)
	@bash e2e/kind/cluster.sh up
else
	@$(MAKE) --no-print-directory images
	@$(E2E_MODULE) up $(if $(NODES),--nodes $(NODES))
endif

cluster-down: ## stop the cluster; removes every process, mount, netns, interface, route and rule it added
ifeq ($(E2E_PROVIDER),kind)
	@bash e2e/kind/cluster.sh down
else
	@if [ -x $(PY) ]; then $(E2E_MODULE) down; else echo "no venv: nothing was started"; fi
endif

cluster-purge: ## cluster-down, then remove the kept image stores (local provider)
	@if [ -x $(PY) ]; then $(E2E_MODULE) purge; fi

cluster-status: ## what the local cluster holds on this machine (JSON)
	@$(E2E_MODULE) status

moco-image: venv repoint ## moco's image for this checkout and the agent image (its own version), loaded into the cluster's nodes; prints moco's reference last
ifeq ($(E2E_PROVIDER),kind)
	@tag=$$($(PY) -c 'from e2e.local import moco_image; print(moco_image.image_def().ref)'); \
	agent=$$($(PY) -c 'from moco.controllers.containers import AGENT_IMAGE; print(AGENT_IMAGE)'); \
	docker build -q -t "$$tag" -t "$$agent" -f Containerfile . >/dev/null && bash e2e/kind/cluster.sh load "$$tag" >&2 \
	  && bash e2e/kind/cluster.sh load "$$agent" >&2 && echo "$$tag"
else
	@$(E2E_MODULE) moco-image
endif

deploy: ## moco's CRDs, admission policies and operator (manifests/deploy, with the image of `make moco-image`)
	@ref=$$($(MAKE) --no-print-directory moco-image | tail -n 1); \
	if [ "$(E2E_PROVIDER)" = kind ]; then export $$(bash e2e/kind/cluster.sh env); \
	else export KUBECONFIG="$${KUBECONFIG:-$$($(E2E_MODULE) kubeconfig)}"; fi; \
	$(PY) -m e2e.deploy "$$ref"

e2e: venv repoint ## the e2e suite (e2e/, marker e2e) against KUBECONFIG, else the provider's cluster (brought up, moco deployed); last line is JSON
	@export MOCO_E2E_STARTED=$$(date +%s); \
	if [ -z "$${KUBECONFIG:-}" ]; then $(MAKE) --no-print-directory cluster deploy || exit $$?; fi; \
	set +e; \
	if [ "$(E2E_PROVIDER)" = kind ]; then export $$(bash e2e/kind/cluster.sh env); \
	else export KUBECONFIG="$${KUBECONFIG:-$$($(E2E_MODULE) kubeconfig)}"; fi; \
	mkdir -p $(MOCO_STATE_DIR); rm -f $(E2E_JUNIT); \
	$(PYTEST) -p no:cacheprovider -m e2e e2e --junitxml=$(E2E_JUNIT) $(E2E_PYTEST_ARGS); rc=$$?; \
	$(PY) -m e2e.summary $(E2E_JUNIT) $(E2E_PROVIDER) "$$KUBECONFIG"; exit $$rc

e2e-smoke: venv repoint ## CI smoke: cluster up (or reused), moco deployed, a 3-instance MySQLCluster Healthy, failover with nothing lost, cluster-down; last line is JSON
	@export MOCO_E2E_STARTED=$$(date +%s); set +e; [ "$(E2E_PROVIDER)" = kind ] || unset KUBECONFIG; \
	$(MAKE) --no-print-directory cluster deploy; rc=$$?; \
	if [ "$(E2E_PROVIDER)" = kind ]; then export $$(bash e2e/kind/cluster.sh env); \
	else export KUBECONFIG="$$($(E2E_MODULE) kubeconfig)"; fi; \
	mkdir -p $(MOCO_STATE_DIR); rm -f $(E2E_SMOKE_JUNIT); \
	if [ $$rc -eq 0 ]; then \
		$(PYTEST) -p no:cacheprovider -m e2e $(E2E_SMOKE_TESTS) --junitxml=$(E2E_SMOKE_JUNIT) $(E2E_PYTEST_ARGS); rc=$$?; \
	else echo "[e2e-smoke] cluster or deploy failed (rc=$$rc): no scenario run" >&2; fi; \
	$(MAKE) --no-print-directory cluster-down >&2 || rc=$$((rc ? rc : 1)); \
	$(PY) -m e2e.summary $(E2E_SMOKE_JUNIT) $(E2E_PROVIDER) "$$KUBECONFIG"; exit $$rc

e2e-chaos: venv repoint ## (not in CI: ~25 min) machine failures on three local nodes (mysqld SIGKILL, node loss, partition, freeze, kill 1; RUNS=5 each); last line is JSON
	@$(MAKE) --no-print-directory cluster NODES=3 deploy
	@KUBECONFIG="$$($(E2E_MODULE) kubeconfig)" $(PY) -m e2e.chaos $(if $(RUNS),--runs $(RUNS)) $(CHAOS_ARGS)

start: cluster ## the cluster, moco deployed in it, a sample 3-instance MySQLCluster Healthy; prints how to connect
	@$(MAKE) --no-print-directory deploy
	@if [ "$(E2E_PROVIDER)" = kind ]; then export $$(bash e2e/kind/cluster.sh env); \
	else export KUBECONFIG="$$($(E2E_MODULE) kubeconfig)"; fi; $(PY) -m e2e.demo
