"""The order of environments guessed from their names."""

from __future__ import annotations

import pytest

from bot.starter.stages import Family, Placed, order, rank, rest


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dev", 0),
        ("integration-gpu", 0),
        ("qa", 1),
        ("load-non-gpu", 1),
        ("staging-eu", 2),
        ("uat", 2),
        ("pre-prod", 2),
        ("prod-us", 3),
        ("production", 3),
        ("prod2", 3),
        ("non-prod", None),
        ("win2022", None),
        ("eu-west", None),
    ],
)
def test_a_name_says_its_stage(name: str, expected: int | None) -> None:
    assert rank(name) == expected


def test_what_is_left_of_a_name_pairs_regions() -> None:
    assert rest("staging-eu") == rest("prod-eu") == ("eu",)
    assert rest("qa") == ()


def upstreams(placed: list[Placed]) -> dict[str, str | None]:
    return {p.name: p.upstream for p in placed}


def test_stages_in_any_order_become_dev_then_staging_then_prod() -> None:
    placed = order([Family(("prod", "dev", "staging"), "folders under envs/")])
    assert [p.name for p in placed] == ["dev", "staging", "prod"]
    assert upstreams(placed) == {"dev": None, "staging": "dev", "prod": "staging"}
    assert all(p.note is None for p in placed)


def test_regions_follow_their_own_region_and_a_guess_says_check() -> None:
    names = (
        "prod-eu",
        "prod-us",
        "qa",
        "staging-eu",
        "staging-us",
        "integration-gpu",
        "integration-cpu",
    )
    placed = order([Family(names, "folders under envs/")])
    assert upstreams(placed) == {
        "integration-gpu": None,
        "integration-cpu": None,
        "qa": "integration-gpu",
        "staging-eu": "qa",
        "staging-us": "qa",
        "prod-eu": "staging-eu",
        "prod-us": "staging-us",
    }
    notes = {p.name: p.note for p in placed}
    assert notes["qa"] == "check: from integration-gpu is a guess (or integration-cpu)"
    assert notes["prod-eu"] is None and notes["staging-eu"] is None


def test_names_that_say_no_stage_make_a_chain_to_check() -> None:
    placed = order(
        [Family(("win2022", "win2019", "win1809"), "targetCustomizations in fleet.yaml")]
    )
    assert upstreams(placed) == {"win2022": None, "win2019": "win2022", "win1809": "win2019"}
    assert (
        placed[0].note
        == "check the order: a chain in the order found (targetCustomizations in fleet.yaml)"
    )


def test_families_sharing_a_name_are_one() -> None:
    placed = order(
        [
            Family(("production", "staging"), "folders under apps/"),
            Family(("production", "staging"), "folders under clusters/"),
            Family(("edge-a", "edge-b"), "targetCustomizations in fleet.yaml"),
        ]
    )
    assert [p.name for p in placed] == ["staging", "production", "edge-a", "edge-b"]
