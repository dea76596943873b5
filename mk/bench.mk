# Benchmarks: `make bench` runs bench/run.py — orderflow with telemetry off and fully on, a
# FastAPI peer (plain and under zero-code OpenTelemetry), a Litestar + asyncpg and a raw-asyncpg
# ceiling side by side, the order pipeline and CPU profiles — and prints one table (raw JSON in
# bench/results/). Never part of `make test`.
# Included by the root Makefile (`include mk/*.mk`), which defines PYTHON and system-deps.
#
#   make bench                  full run (median of 3, ~10 min)
#   BENCH_QUICK=1 make bench    one short repetition (~3 min), to check the harness
#   other knobs: BENCH_REPS, BENCH_DURATION, BENCH_CONNECTIONS, BENCH_RATE_DB, BENCH_NICE, ...
#   (bench/settings.py)

PYTHON ?= .venv/bin/python
# py-spy (the CPU profiler of bench/profiles.py) lives in a throwaway venv of its own, outside
# uv.lock; without it the profiles fall back to pyinstrument.
PYSPY_VERSION := 0.4.3
PYSPY_VENV := $(ORDERFLOW_CACHE)/bench-pyspy

.PHONY: bench bench-deps

bench-deps:  ## install the load generator (Debian's wrk) and py-spy once
	@command -v wrk >/dev/null && command -v taskset >/dev/null && exit 0; \
	if [ "$$(id -u)" != 0 ]; then echo "bench-deps: need root to apt-get install wrk"; exit 1; fi; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends wrk util-linux >/dev/null
	@[ -x $(PYSPY_VENV)/bin/py-spy ] || { python3 -m venv $(PYSPY_VENV) && \
		$(PYSPY_VENV)/bin/pip install --quiet py-spy==$(PYSPY_VERSION); } || \
		echo "bench-deps: py-spy unavailable; profiles will use pyinstrument"

bench: venv system-deps collector bench-deps  ## benchmark: telemetry off/on vs FastAPI (plain and zero-code OTel), Litestar and raw asyncpg; prints one table
	@# The zero-code FastAPI peer's own venv (opentelemetry-bootstrap's picks), outside uv.lock.
	$(PYTHON) -m bench.zerocode --uv $(UV)
	$(PYTHON) -m bench.run
