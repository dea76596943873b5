# Kubernetes test bed (issue 4): pinned Go tools + a control plane built from source.
# Included by the root Makefile (`include mk/*.mk`), which defines PYTHON.
# Docs: tools/README.md, k8s/testbed/README.md, tests/testbed/README.md.

PYTHON ?= .venv/bin/python
# tools/gotool.py is stdlib-only: `make tools` works before the venv exists.
TOOLS_PYTHON ?= python3
TESTBED_NAME ?= default
REAL_NODE ?=
PYTEST_K8S_ARGS ?=

.PHONY: tools tools-list cluster cluster-down cluster-status test-k8s

tools:  ## build the pinned Go tools into $ORDERFLOW_CACHE/bin (no-op when warm)
	@$(TOOLS_PYTHON) tools/gotool.py build $(if $(REAL_NODE),kubelet kube-proxy coredns)
	@$(TOOLS_PYTHON) tools/gotool.py build

tools-list:  ## show the pinned Go tools and whether they are built
	@$(TOOLS_PYTHON) tools/gotool.py list

cluster: tools  ## start the test bed, print `export KUBECONFIG=...` (REAL_NODE=1: + real kubelet)
	@$(PYTHON) -m k8s.testbed start --name $(TESTBED_NAME) $(if $(REAL_NODE),--real-node)

cluster-down:  ## stop the test bed and delete its run directory
	@$(PYTHON) -m k8s.testbed stop --name $(TESTBED_NAME)

cluster-status:  ## show the test bed's processes
	@$(PYTHON) -m k8s.testbed status --name $(TESTBED_NAME)

test-k8s: tools  ## test bed acceptance tests (own test bed unless ORDERFLOW_TEST_KUBECONFIG is set)
	$(PYTHON) -m pytest tests/k8s $(if $(REAL_NODE),--k8s-real-node) $(PYTEST_K8S_ARGS)
