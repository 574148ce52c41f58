"""promobot: promotes versions through GitOps environments by opening pull requests."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # importlib.metadata costs a command-line run more time than reading a cached status,
    # so the version is looked up when asked for (`promobot --version`), not on every import
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version  # see above

        try:
            return version("promobot")
        except PackageNotFoundError:  # running from a source tree that was never installed
            return "0.0.0"
    raise AttributeError(f"module 'bot' has no attribute {name!r}")
