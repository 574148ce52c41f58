from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.scene import scene  # noqa: F401  (a fixture for the steering tests)
from tests.e2e.service import stop_all


@pytest.fixture(autouse=True)
def no_process_left_behind() -> Iterator[None]:
    yield
    stop_all()
