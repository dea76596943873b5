pytest_plugins = ["tests.testbed.plugin", "tests.support.servers"]
