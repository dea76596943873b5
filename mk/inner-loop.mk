# Inner loop (issue 9): Tilt, Skaffold and the users' kind workflow. Included by the root
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

.PHONY: inner-loop-tools tilt-up tilt-down skaffold-dev skaffold-render lint-workflows test-inner-loop

inner-loop-tools:  ## build the pinned tilt, skaffold and actionlint (cached; cold: minutes)
	@$(GOTOOL) build tilt skaffold actionlint

tilt-up: inner-loop-tools  ## tilt up against the current kube context (kind: `make up` or `kind create cluster`)
	PATH="$$($(GOTOOL) bindir):$$PATH" $(TILT) up $(if $(TILT_ARGS),-- $(TILT_ARGS))

tilt-down: inner-loop-tools  ## delete what `make tilt-up` deployed (its namespace included)
	PATH="$$($(GOTOOL) bindir):$$PATH" $(TILT) down $(if $(TILT_ARGS),-- $(TILT_ARGS))

skaffold-dev: inner-loop-tools  ## skaffold dev (file sync + restart) with SKAFFOLD_PROFILE (dev|minimal)
	PATH="$$($(GOTOOL) bindir):$$PATH" $(SKAFFOLD) dev --port-forward -p $(SKAFFOLD_PROFILE)

skaffold-render: inner-loop-tools  ## print the manifests skaffold would deploy (offline, no build)
	PATH="$$($(GOTOOL) bindir):$$PATH" $(SKAFFOLD) render --offline --digest-source=none -p $(SKAFFOLD_PROFILE)

lint-workflows: inner-loop-tools  ## actionlint on .github/workflows
	$(ACTIONLINT) -color .github/workflows/*.yaml

test-inner-loop: venv inner-loop-tools  ## Tiltfile, skaffold.yaml and workflow checks with the real tools
	$(PYTHON) -m pytest tests/inner_loop $(PYTEST_INNER_LOOP_ARGS)
