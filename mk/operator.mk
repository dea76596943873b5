# Operator: run it against a cluster, test it (`make images` builds its image with the app's).
# Included by the root Makefile (`include mk/*.mk`), which defines PYTHON and the venv,
# system-deps and tools targets.

PYTHON ?= .venv/bin/python
OPERATOR_NAMESPACE ?= default
# e.g. OPERATOR_ARGS="--all-namespaces" or "-n shop -n billing --verbose"
OPERATOR_ARGS ?= --namespace $(OPERATOR_NAMESPACE)
KUBECTL = $(shell python3 tools/gotool.py path kubectl)

.PHONY: operator-crds operator-run test-operator

operator-crds: tools  ## install/upgrade the HealthPolicy + kopf peering CRDs in $KUBECONFIG's cluster
	@test -n "$$KUBECONFIG" || { echo "operator-crds: set KUBECONFIG (e.g. from make cluster)"; exit 1; }
	$(KUBECTL) apply --server-side --force-conflicts -f charts/orderflow-operator/crds/

operator-run: venv operator-crds  ## run the operator here against $KUBECONFIG (OPERATOR_NAMESPACE / OPERATOR_ARGS)
	$(PYTHON) -m orderflow_operator $(OPERATOR_ARGS) --standalone --text-logs

test-operator: venv system-deps tools  ## operator unit + acceptance tests (own test bed unless ORDERFLOW_TEST_KUBECONFIG)
	$(PYTHON) -m pytest tests/operator $(PYTEST_ARGS)
