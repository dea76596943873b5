"""The end-to-end install: the whole product on the test bed's real node, the way a user
installs it (`helm install --wait` with the shipped values; only images overridden).

``make e2e-up`` / ``make e2e-down`` and the ``tests/e2e`` fixtures use the same code.
"""
