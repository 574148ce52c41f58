from __future__ import annotations

import pytest

from bot.errors import PromobotError
from bot.names import ends, select

ENVS = ["dev", "staging", "prod-eu", "prod-us"]


def test_select_takes_names_and_globs_in_the_known_order() -> None:
    assert select(ENVS, ["prod-*", "DEV"], "environment") == ["dev", "prod-eu", "prod-us"]
    assert select(ENVS, ["staging prod-u?"], "environment") == ["staging", "prod-us"]
    with pytest.raises(PromobotError, match="no environment matches 'qa-\\*'; known: dev,"):
        select(ENVS, ["qa-*"], "environment")
    with pytest.raises(PromobotError, match="unknown environment 'prod'"):
        select(ENVS, ["prod"], "environment")  # a name is whole: not part of one


def test_ends_keep_what_tells_each_name_from_the_others() -> None:
    found = ends(
        ["integration-gpu", "integration-non-gpu", "staging-eu-central-1", "staging-us-east-1",
         "prod-eu-central-1", "canary-eu-central-1", "qa-functional-tests", "qa-performance-tests"]
    )  # fmt: skip
    assert found["integration-non-gpu"] == ("", "integration-", "non-gpu")
    assert found["integration-gpu"] == ("integration-gpu", "", "")  # all of it is needed
    assert found["staging-eu-central-1"] == ("staging-eu", "-central-1", "")
    assert found["canary-eu-central-1"] == ("canary", "-eu-central-1", "")
    assert found["qa-functional-tests"] == ("qa-functional", "-tests", "")
    kept = {start + "…" + end for start, _, end in found.values()}
    assert len(kept) == len(found)  # what stays of each name is different
    assert "".join(found["prod-eu-central-1"]) == "prod-eu-central-1"
