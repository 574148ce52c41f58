"""promobot: promotes versions through GitOps environments by opening pull requests."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("promobot")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
