# The end-to-end install on the test bed's real node (k8s/e2e/). Included by the root Makefile.
# `make e2e-up` builds what is missing (tools, images), starts the bed, installs the operator
# chart and then the app chart with `helm install --wait`, and leaves it running; its last two
# lines are `KUBECONFIG=...` and `NAMESPACE=...`. `make e2e-down` removes all of it.
# `make e2e-up OTEL_OPERATOR=1`: the same install, instrumented by the OpenTelemetry Operator's
# zero-code injection (the operator built from Go modules, k8s/e2e/otel_operator.py) instead of
# the app's own SDK set-up; `kubectl get pod -o yaml` shows the injected init container.

REALNODE_PACKAGES := containerd runc containernetworking-plugins iptables

.PHONY: realnode-deps e2e-up e2e-down

# The real node's runtime: containerd + runc + the CNI plugins, from Debian's packages (once).
realnode-deps:
	@if [ -x /usr/bin/containerd ] && [ -x /usr/sbin/runc ] && [ -x /usr/lib/cni/bridge ] \
		&& command -v iptables >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "realnode-deps: need root to apt-get install $(REALNODE_PACKAGES)"; exit 1; fi; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $(REALNODE_PACKAGES) >/dev/null

e2e-up: venv image-deps realnode-deps  ## the whole product on the test bed's real node (helm install --wait); prints KUBECONFIG= and NAMESPACE=; OTEL_OPERATOR=1: through the OTel Operator
	@$(PYTHON) -m k8s.e2e up $(if $(filter 1 true yes,$(OTEL_OPERATOR)),--otel-operator)

e2e-down:  ## stop the end-to-end install and its test bed; leaves no process, mount, bridge or iptables rule
	@$(PYTHON) -m k8s.e2e down

test: realnode-deps
