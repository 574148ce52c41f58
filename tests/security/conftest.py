from tests.e2e.scene import scene  # noqa: F401  (the fixture the trust tests use)
