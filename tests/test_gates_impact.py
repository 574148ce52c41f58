"""Gates on what a promotion changes in the cluster: `gates.impact` rules (manual, or approvals
from some people) and `auto_merge: {unless, only}`, with the impact known or not."""

from __future__ import annotations

from typing import Any

import pytest

from bot import config
from bot.audit import Record
from bot.config import IMPACT_CLASSES, AutoMerge, Environment, Gates
from bot.errors import ConfigError
from bot.gates import GateResult, Inputs, evaluate, impact_labels, manual, overall
from bot.manifests.model import IMPACTS
from bot.render.checklist import gates_section
from tests.test_gates import HEAD, NOW, review
from tests.test_render import SIGNER, single

SRE = {"approvals": 2, "approvers": ["@acme/sre"]}
RULES = {"impact": {"crd": SRE, "exposure": "manual", "data": "manual"}}


def inputs(gates: dict[str, Any], auto_merge: Any = False, **kwargs: Any) -> Inputs:
    env = Environment.model_validate({"auto_merge": auto_merge, "gates": gates})
    return Inputs(
        env="prod", gates=env.gates, head_sha=HEAD, now=NOW, auto_merge=env.auto_merge, **kwargs
    )


def lines(results: list[GateResult]) -> list[tuple[str, str, str]]:
    return [(r.name, r.state, r.reason) for r in results if r.name != "hold"]


def test_the_configuration_speaks_of_the_same_classes_as_the_renderer() -> None:
    assert IMPACT_CLASSES == IMPACTS


def test_a_class_absent_from_the_diff_asks_nothing() -> None:
    assert lines(evaluate(inputs(RULES, impact=("image", "config")))) == []
    assert manual(inputs(RULES, impact=("image",))) == ()


@pytest.mark.parametrize(
    ("reviews", "eligible", "state", "reason"),
    [
        ([], set(), "pending", "crd: 0 of 2 approvals from @acme/sre (a CRD changes)"),
        (
            [review("alice")],
            {"alice"},
            "pending",
            "crd: 1 of 2 approvals from @acme/sre (a CRD changes; approved: @alice)",
        ),
        (
            [review("alice"), review("bob", minute=1)],
            {"alice"},
            "pending",
            "crd: 1 of 2 approvals from @acme/sre (a CRD changes; approved: @alice; "
            "not counted: @bob (not an approver))",
        ),
        (
            [review("alice"), review("dave", minute=1)],
            {"alice", "dave"},
            "pass",
            "crd: 2 of 2 approvals from @acme/sre (a CRD changes; approved: @alice, @dave)",
        ),
        (
            [review("alice"), review("dave", "changes_requested", minute=1)],
            {"alice", "dave"},
            "fail",
            "crd: @dave requested changes",
        ),
    ],
)
def test_a_class_in_the_diff_needs_its_rules_approvals(
    reviews: list[Any], eligible: set[str], state: str, reason: str
) -> None:
    found = evaluate(
        inputs(
            RULES,
            impact=("crd", "image"),
            reviews=reviews,
            impact_eligible={"crd": frozenset(eligible)},
        )
    )
    assert lines(found) == [("impact:crd", state, reason)]


def test_impact_approvals_are_counted_apart_from_the_environments_own() -> None:
    """bob may approve the environment's PRs but is no SRE: his approval counts there only."""
    gates = {"approvals": 1, **RULES}
    found = evaluate(
        inputs(
            gates,
            impact=("crd",),
            reviews=[review("bob")],
            eligible=frozenset({"bob"}),
            impact_eligible={"crd": frozenset()},
        )
    )
    assert [(r.name, r.state) for r in found] == [
        ("approvals", "pass"),
        ("impact:crd", "pending"),
        ("hold", "pass"),
    ]
    assert (
        overall(found).reason
        == "crd: 0 of 2 approvals from @acme/sre (a CRD changes; not counted: @bob (not an approver))"
    )


def test_a_manual_class_says_a_person_merges_and_why() -> None:
    found = inputs(
        RULES, True, impact=("exposure", "image"), impact_why={"exposure": "Ingress added"}
    )
    assert lines(evaluate(found)) == [
        ("impact:exposure", "pass", "exposure: a person merges this PR (Ingress added)")
    ]
    assert manual(found) == ("exposure",)
    assert overall(evaluate(found)).state == "pass"


def test_the_impact_lines_follow_the_order_of_the_classes() -> None:
    found = evaluate(inputs(RULES, impact=("crd", "data", "exposure")))
    assert [r.name for r in found] == ["impact:crd", "impact:data", "impact:exposure", "hold"]


UNKNOWN = "impact unknown: api in prod could not be rendered"


def test_an_unknown_impact_needs_every_rules_approvals_and_a_persons_merge() -> None:
    """Fail safe: what could not be rendered may hold anything."""
    gates = {"impact": {"crd": SRE, "rbac": {"approvals": 1}, "exposure": "manual"}}
    found = inputs(gates, True, unknown="api in prod could not be rendered")
    assert lines(evaluate(found)) == [
        ("impact:crd", "pending", f"crd: 0 of 2 approvals from @acme/sre ({UNKNOWN})"),
        (
            "impact:rbac",
            "pending",
            f"rbac: 0 of 1 approvals from people with write access ({UNKNOWN})",
        ),
        ("auto-merge", "pass", f"auto-merge: a person merges this PR — {UNKNOWN}"),
    ]
    assert manual(found) == ("exposure",)


def test_an_unknown_impact_with_only_manual_rules_and_no_auto_merge_says_so_once() -> None:
    found = inputs({"impact": {"exposure": "manual", "data": "manual"}})
    assert lines(evaluate(found)) == [
        (
            "impact",
            "pass",
            "impact: a person merges this PR — impact unknown: the promotion could not be rendered",
        )
    ]


def test_without_impact_rules_an_unknown_impact_changes_nothing() -> None:
    assert lines(evaluate(inputs({"approvals": 1}, True))) == [
        ("approvals", "pending", "approvals: 0 of 1 from people with write access")
    ]
    assert Environment.model_validate({"auto_merge": True}).merges_itself(None) == (True, "")


@pytest.mark.parametrize(
    ("auto_merge", "impact", "merges", "why"),
    [
        (False, ("image",), False, "auto_merge is off"),
        (True, ("crd",), True, ""),
        ({"unless": ["crd", "data"]}, ("image", "config"), True, ""),
        ({"unless": ["crd", "data"]}, ("crd", "image"), False,
         "crd in the diff (auto_merge: unless crd, data)"),
        ({"only": ["image"]}, ("image",), True, ""),
        ({"only": ["image"]}, (), True, ""),  # no rendered change is within
        ({"only": ["image"]}, ("config", "image", "other"), False,
         "config, other in the diff (auto_merge: only image)"),
        ({"only": ["image"]}, None, False,
         "impact unknown: the promotion could not be rendered"),
        ({"unless": ["crd"]}, None, False,
         "impact unknown: the promotion could not be rendered"),
    ],
)  # fmt: skip
def test_merges_itself(auto_merge: Any, impact: Any, merges: bool, why: str) -> None:
    env = Environment.model_validate({"auto_merge": auto_merge})
    assert env.merges_itself(impact) == (merges, why)
    assert env.auto_merges == (auto_merge is not False)


def test_a_manual_rule_stops_an_auto_merge() -> None:
    env = Environment.model_validate({"auto_merge": True, "gates": RULES})
    assert env.merges_itself(("exposure", "image")) == (
        False,
        "exposure in the diff (gates.impact: manual)",
    )
    assert env.merges_itself(("crd",)) == (True, "")  # once its approvals are in


def test_unless_and_only_say_why_in_the_checklist() -> None:
    found = inputs({}, {"only": ["image"]}, impact=("scale", "image"))
    assert lines(evaluate(found)) == [
        (
            "auto-merge",
            "pass",
            "auto-merge: a person merges this PR — scale in the diff (auto_merge: only image)",
        )
    ]
    assert lines(evaluate(inputs({}, {"only": ["image"]}, impact=("image",)))) == []


def test_the_checklist_reads_well() -> None:
    found = evaluate(
        inputs(
            {"approvals": 1, **RULES},
            {"unless": ["crd"]},
            impact=("crd", "exposure", "image"),
            reviews=[review("alice")],
            eligible=frozenset({"alice"}),
            impact_eligible={"crd": frozenset({"alice"})},
            impact_why={"exposure": "Ingress api.example.com added"},
        )
    )
    section = gates_section(single(), found, SIGNER)
    assert section.splitlines()[:5] == [
        "Gates",
        "- [x] approvals: 1 of 1 from people with write access (approved: `@alice`)",
        "- [ ] crd: 1 of 2 approvals from `@acme/sre` (a CRD changes; approved: `@alice`)",
        "- [x] exposure: a person merges this PR (Ingress api.example.com added)",
        "- [x] not on hold",
    ]


def test_impact_labels() -> None:
    assert impact_labels(("crd", "image")) == ("promobot/impact:crd", "promobot/impact:image")
    assert impact_labels(()) == ()
    assert impact_labels(None) == ("promobot/impact:unknown",)


def test_gates_without_impact_rules_are_as_before() -> None:
    assert Gates().impact == {}
    assert lines(evaluate(inputs({}, True, impact=("crd",)))) == []


# --- the configuration -----------------------------------------------------------------------

CLASSES = (
    "'crd', 'rbac', 'namespace', 'data', 'exposure', 'secret', 'scale', 'config', 'image' or "
    "'other'"
)
PROD = "version: 1\nenvironments:\n  dev: {}\n  prod:\n    from: dev\n"


def test_the_rules_load() -> None:
    text = (
        PROD + "    auto_merge: {only: [image]}\n"
        "    gates:\n      impact:\n"
        '        crd: {approvals: 2, approvers: ["@acme/sre"]}\n'
        "        exposure: manual\n"
    )
    prod = config.load(text).environments["prod"]
    assert prod.auto_merge == AutoMerge(only=("image",))
    assert prod.gates.impact["crd"].approvals == 2
    assert prod.gates.impact["exposure"].manual
    assert prod.auto_merges and prod.impact_rules
    assert not config.load(PROD).environments["prod"].auto_merges


@pytest.mark.parametrize(
    ("yaml", "error"),
    [
        (
            "    gates:\n      impact:\n        crdd: manual\n",
            f"8:9: environments.prod.gates.impact.crdd: Input should be {CLASSES}, got 'crdd'",
        ),
        (
            "    auto_merge: {unless: [crd, date]}\n",
            f"6:32: environments.prod.auto_merge.unless.1: Input should be {CLASSES}, got 'date'",
        ),
        (
            "    auto_merge: {only: [pods]}\n",
            f"6:25: environments.prod.auto_merge.only.0: Input should be {CLASSES}, got 'pods'",
        ),
        (
            "    gates:\n      impact:\n        data: sometimes\n",
            "8:15: environments.prod.gates.impact.data: an impact rule is manual or "
            "{approvals: N, approvers: [...]}, got 'sometimes'",
        ),
        (
            "    gates:\n      impact:\n        data: {approvals: 0}\n",
            "8:9: environments.prod.gates.impact.data: an impact rule needs approvals: 1 or more "
            "(or is manual: a person merges)",
        ),
        (
            "    gates:\n      impact:\n        data: {approvals: 1, approver: [bob]}\n",
            "8:30: unknown key 'approver'; did you mean 'approvers'? "
            "allowed here: manual, approvals, approvers",
        ),
        (
            "    auto_merge: sometimes\n",
            "6:17: environments.prod.auto_merge: should be true, false, {unless: [classes]} or "
            "{only: [classes]}",
        ),
        (
            "    auto_merge: {unless: [crd], only: [image]}\n",
            "6:5: environments.prod.auto_merge: takes one of unless: or only: (not both), e.g. "
            "{only: [image]}; or true or false",
        ),
        (
            "    auto_merge: {}\n",
            "6:5: environments.prod.auto_merge: takes one of unless: or only: (not both)",
        ),
        (
            "    auto_merge: {unles: [crd]}\n",
            "6:18: unknown key 'unles'; did you mean 'unless'? allowed here: unless, only",
        ),
    ],
)
def test_every_configuration_error_says_where_and_what(yaml: str, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(PROD + yaml)
    problems = [str(p) for p in info.value.problems]
    assert len(problems) == 1, problems
    assert problems[0].startswith(f".promobot.yaml:{error}"), problems


# --- the audit ---------------------------------------------------------------------------------


def test_the_audit_keeps_the_impact_and_reads_records_without_it() -> None:
    merged = Record(kind="merged", repo="acme/env-repo", at=NOW, impact=("crd", "image"))
    assert merged.to_json()["impact"] == ["crd", "image"]
    assert Record.parse(merged.line()).impact == ("crd", "image")
    unknown = Record(kind="merged", repo="acme/env-repo", at=NOW)
    assert unknown.to_json()["impact"] is None
    older = unknown.to_json()
    del older["impact"]  # written before promobot rendered
    assert Record.from_json(older).impact is None
