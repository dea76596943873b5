# Kubernetes test bed (issue 4): pinned Go tools + a control plane built from source.
# Included by the root Makefile (`include mk/*.mk`), which defines PYTHON.

PYTHON ?= .venv/bin/python
# tools/gotool.py is stdlib-only: `make tools` works before the venv exists.
TOOLS_PYTHON ?= python3
TESTBED_NAME ?= default
REAL_NODE ?=
PYTEST_K8S_ARGS ?=

.PHONY: tools tools-list cluster cluster-down cluster-status test-k8s

## tools: build every pinned Go tool into $${ORDERFLOW_CACHE:-~/.cache/orderflow}/bin (no-op when warm)
tools:
	@$(TOOLS_PYTHON) tools/gotool.py build

tools-list:
	@$(TOOLS_PYTHON) tools/gotool.py list

## cluster: start the test bed and print the KUBECONFIG line (REAL_NODE=1 adds a real kubelet)
cluster: tools
	@$(PYTHON) -m k8s.testbed start --name $(TESTBED_NAME) $(if $(REAL_NODE),--real-node)

## cluster-down: stop the test bed and delete its run directory
cluster-down:
	@$(PYTHON) -m k8s.testbed stop --name $(TESTBED_NAME)

cluster-status:
	@$(PYTHON) -m k8s.testbed status --name $(TESTBED_NAME)

## test-k8s: the test bed acceptance tests (starts its own test bed unless
## ORDERFLOW_TEST_KUBECONFIG or --k8s-kubeconfig-override names a cluster)
test-k8s: tools
	$(PYTHON) -m pytest tests/k8s $(if $(REAL_NODE),--k8s-real-node) $(PYTEST_K8S_ARGS)
