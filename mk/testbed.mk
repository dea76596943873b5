# Kubernetes test bed: pinned Go tools + a control plane built from source.
# Included by the root Makefile (`include mk/*.mk`), which defines PYTHON.
# Docs: tools/README.md, k8s/testbed/README.md, tests/testbed/README.md.

PYTHON ?= .venv/bin/python
# tools/gotool.py is stdlib-only: `make tools` works before the venv exists.
TOOLS_PYTHON ?= python3
TESTBED_NAME ?= default
REAL_NODE ?=
PYTEST_K8S_ARGS ?=

.PHONY: tools tools-list cluster cluster-down cluster-status test-k8s test-tools

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
	$(PYTHON) -m pytest tests/k8s $(PYTEST_K8S_ARGS)

# What `make test` builds before pytest runs: every default tool, less the test bed's control
# plane when PYTEST_ARGS (--k8s-kubeconfig-override, --k8s-provider) or ORDERFLOW_TEST_KUBECONFIG
# name another cluster. tests/testbed/provider.py decides, as it does for the fixtures.
test-tools: venv
	@names=$$($(PYTHON) -m tests.testbed.provider tools $(PYTEST_ARGS)) && \
		$(TOOLS_PYTHON) tools/gotool.py build $$names
