# Inner loop: Tilt, Skaffold and the users' kind workflow. Included by the root
# Makefile (`include mk/*.mk`), which defines PYTHON. Walkthrough: docs/inner-loop.md.
#
# tilt and skaffold are optional tools of tools/gotool.py (minutes of cold build each, so not
# part of `make tools`): the targets below and tests/inner_loop build them on first use.

GOTOOL ?= python3 tools/gotool.py
TILT = $(shell $(GOTOOL) path tilt)
SKAFFOLD = $(shell $(GOTOOL) path skaffold)
ACTIONLINT = $(shell $(GOTOOL) path actionlint)
PYTEST_INNER_LOOP_ARGS ?=
# Extra arguments after `--` for the Tiltfile, e.g. TILT_ARGS="--namespace=me".
TILT_ARGS ?=
SKAFFOLD_PROFILE ?= dev
INNER_LOOP_NAMESPACE ?= orderflow-dev
# The operator holds a finalizer on each HealthPolicy; `tilt down` deletes it together with them
# and `skaffold delete` first, which leaves them (and the namespace) terminating: release them
# while the operator runs. `-` on the recipe line: no policies (or no CRD) is fine.
RELEASE_POLICIES = $$($(GOTOOL) path kubectl) delete healthpolicies.orderflow.dev --all \
	-n $(INNER_LOOP_NAMESPACE) --ignore-not-found --timeout=120s
# A Docker client that can use BuildKit (k8s/e2e/images.py chooses it, as images.sh does), first
# on the tools' PATH: Tilt and skaffold.yaml's build commands use it.
DOCKER ?= $(shell $(PYTHON) -c 'from k8s.e2e.images import docker_client; print(docker_client())' 2>/dev/null || echo docker)
INNER_LOOP_ENV = PATH="$$($(GOTOOL) bindir):$(dir $(shell command -v $(DOCKER))):$$PATH" DOCKER=$(DOCKER) DOCKER_BUILDKIT=1
# The registry the current cluster advertises (the `local-registry-hosting` ConfigMap in
# kube-public: the test bed's, kind with a registry), as Skaffold's --default-repo. Tilt reads
# the ConfigMap itself; Skaffold only for the contexts it knows are local.
DEFAULT_REPO = $$($$($(GOTOOL) path kubectl) get configmap local-registry-hosting -n kube-public \
	-o jsonpath='{.data.localRegistryHosting\.v1}' 2>/dev/null | sed -n 's/^host: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p')

.PHONY: inner-loop-tools tilt-up tilt-ci tilt-down skaffold-dev skaffold-run skaffold-delete skaffold-render lint-workflows test-inner-loop

inner-loop-tools:  ## build the pinned tilt, skaffold and actionlint (cached; cold: minutes)
	@$(GOTOOL) build tilt skaffold actionlint

tilt-up: inner-loop-tools  ## tilt up against the current kube context (kind, the test bed: `make cluster REAL_NODE=1`)
	$(INNER_LOOP_ENV) $(TILT) up $(if $(TILT_ARGS),-- $(TILT_ARGS))

tilt-ci: inner-loop-tools  ## tilt ci: build, deploy, exit 0 once every resource is Ready
	$(INNER_LOOP_ENV) $(TILT) ci $(if $(TILT_ARGS),-- $(TILT_ARGS))

tilt-down: inner-loop-tools  ## delete what `make tilt-up` deployed (its namespace included)
	-$(RELEASE_POLICIES)
	$(INNER_LOOP_ENV) $(TILT) down --delete-namespaces $(if $(TILT_ARGS),-- $(TILT_ARGS))

skaffold-dev: inner-loop-tools  ## skaffold dev (file sync + restart) with SKAFFOLD_PROFILE (dev|minimal)
	repo=$(DEFAULT_REPO); $(INNER_LOOP_ENV) $(SKAFFOLD) dev --port-forward -p $(SKAFFOLD_PROFILE) $${repo:+--default-repo=$$repo}

skaffold-run: inner-loop-tools  ## skaffold run: production-like images, the charts' default values
	repo=$(DEFAULT_REPO); $(INNER_LOOP_ENV) $(SKAFFOLD) run $${repo:+--default-repo=$$repo}

skaffold-delete: inner-loop-tools  ## delete what skaffold run/dev deployed
	-$(RELEASE_POLICIES)
	$(INNER_LOOP_ENV) $(SKAFFOLD) delete -p $(SKAFFOLD_PROFILE)

skaffold-render: inner-loop-tools  ## print the manifests skaffold would deploy (offline, no build)
	PATH="$$($(GOTOOL) bindir):$$PATH" $(SKAFFOLD) render --offline --digest-source=none -p $(SKAFFOLD_PROFILE)

lint-workflows: inner-loop-tools  ## actionlint on .github/workflows
	$(ACTIONLINT) -color .github/workflows/*.yaml

test-inner-loop: venv inner-loop-tools  ## Tiltfile, skaffold.yaml and workflow checks with the real tools
	$(PYTHON) -m pytest tests/inner_loop $(PYTEST_INNER_LOOP_ARGS)
