# Images and the orderflow Helm chart. Included by the root Makefile, which defines
# PYTHON and UV. Every step here is also what tests/charts does against the test bed.

CHART := charts/orderflow
HELM = $(shell python3 tools/gotool.py path helm)
KUBECTL_BIN = $(shell python3 tools/gotool.py path kubectl)
# kind from PATH, else the pinned build (tools/go/kind, built on first use).
KIND ?= $(shell command -v kind 2>/dev/null || python3 tools/gotool.py path kind)
KIND_CLUSTER ?= orderflow
# Empty: kind's default node image for its release.
KIND_NODE_IMAGE ?=
RELEASE ?= orderflow
NAMESPACE ?= orderflow
# Extra `helm upgrade --install` arguments for `make up`, e.g. HELM_ARGS="-f my-values.yaml".
HELM_ARGS ?=
PYTEST_CHARTS_ARGS ?=

.PHONY: images image-deps chart-sync chart-lint test-charts up down

images:  ## build the orderflow-api, -worker and -operator images (local base when no registry)
	k8s/base-image/images.sh

# Helm reads nothing outside the chart: copy the Collector configuration in (otel/ is also
# what the tests and `make dev` run). tests/charts fails when the copy drifts. The dashboards
# and rules need no copy: `make dashboards` writes them into the chart directly.
chart-sync:  ## copy otel/collector.yaml into the chart
	@mkdir -p $(CHART)/files/otel
	@if [ -f otel/collector.yaml ]; then cp otel/collector.yaml $(CHART)/files/otel/collector.yaml; \
		else echo "chart-sync: otel/collector.yaml does not exist"; exit 1; fi
	@echo "chart-sync: $(CHART)/files/otel is up to date"

chart-lint: tools  ## helm lint --strict + helm template: default values and every ci/ file
	@set -e; for values in "" $(wildcard $(CHART)/ci/*.yaml); do \
		echo "== $${values:-default values}"; \
		$(HELM) lint --strict $(CHART) $${values:+-f $$values} >/dev/null; \
		$(HELM) template lint $(CHART) $${values:+-f $$values} >/dev/null; \
	done

test-charts: venv tools system-deps  ## chart + image tests (test bed, kubeconform, Docker builds)
	$(PYTHON) -m pytest tests/charts $(PYTEST_CHARTS_ARGS)

# The workstation path (kind, real pods). Same steps as tests/charts/test_chart_install.py:
# a namespace enforcing restricted Pod Security, `helm upgrade --install --wait`.
# Only what a laptop with Docker needs: kubectl, helm and kind (not the test bed's tool set).
up:  ## kind cluster (if none) + images + helm install --wait + Grafana port-forward
	@python3 tools/gotool.py build kubectl helm
	@$(KIND) get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)' || \
		$(KIND) create cluster --name $(KIND_CLUSTER) --config k8s/kind-config.yaml \
			$(if $(KIND_NODE_IMAGE),--image $(KIND_NODE_IMAGE)) --wait 120s
	$(KIND) export kubeconfig --name $(KIND_CLUSTER)
	k8s/base-image/images.sh | xargs $(KIND) load docker-image --name $(KIND_CLUSTER)
	$(KUBECTL_BIN) create namespace $(NAMESPACE) --dry-run=client -o yaml | $(KUBECTL_BIN) apply -f -
	$(KUBECTL_BIN) label namespace $(NAMESPACE) --overwrite \
		pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest
	$(HELM) upgrade --install $(RELEASE) $(CHART) -n $(NAMESPACE) --wait --timeout 10m $(HELM_ARGS)
	@echo "Grafana: http://127.0.0.1:3000  (Ctrl-C stops the port-forward; the cluster keeps running)"
	$(KUBECTL_BIN) -n $(NAMESPACE) port-forward svc/$(RELEASE)-lgtm 3000:3000

down:  ## delete the kind cluster made by `make up`
	$(KIND) delete cluster --name $(KIND_CLUSTER)

# Docker (Debian's docker.io: its daemon runs on these machines) and debootstrap for the local
# base image (used only where the official Python image cannot be pulled). `make test` runs the
# image tests, so it needs them too. A workstation with Docker already running needs nothing.
image-deps:
	@if docker info >/dev/null 2>&1 && { command -v debootstrap >/dev/null || [ "$$(id -u)" != 0 ]; }; then \
		exit 0; fi; \
	if command -v dockerd >/dev/null && command -v debootstrap >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "image-deps: need root to apt-get install docker.io debootstrap"; exit 1; fi; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends docker.io debootstrap >/dev/null

images test-charts up test: image-deps
