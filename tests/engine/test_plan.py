"""Planning without torch training: which cases a budget, scenario and model family give, and
which layers the audit.layers globs select."""

from __future__ import annotations

import json

import pytest

from privacy_checks.attackers.names import DIFFERENT_FAMILY_HEAD, LINEAR_PROBE, SAME_FAMILY_HEADS, TAIL_CLONE
from privacy_checks.config.limits import LimitOverride, Limits
from privacy_checks.engine.custom import CustomAttacker
from privacy_checks.engine.domain import Attack, AuditCase
from privacy_checks.engine.plan import check_limit_patterns, custom_cases, plan_cases, select_layers
from privacy_checks.errors import PrivacyInputError
from privacy_checks.threat_model import BUDGETS, Access, AttackerKind

LAYERS = ["features.3", "pool", "classifier.4"]
HAS_TAIL = {"features.3": True, "pool": True, "classifier.4": False}  # the output layer has no tail


def plan(scenarios, budget="quick", kinds=("generic",), access=("encoder",), family="cnn"):
    return plan_cases(LAYERS, HAS_TAIL, family, list(scenarios), list(kinds), BUDGETS[budget], access)


def test_worst_case_clones_the_tail_and_a_probe_stands_in_at_the_output_layer():
    cases = plan(["worst_case"])
    assert [(c.layer, c.used_head, c.planned_head) for c in cases] == [
        ("features.3", TAIL_CLONE, TAIL_CLONE),
        ("pool", TAIL_CLONE, TAIL_CLONE),
        ("classifier.4", LINEAR_PROBE, TAIL_CLONE),
    ]
    assert len({c.attack for c in cases}) == 1  # one attack: the stand-in keeps its planned head


@pytest.mark.parametrize(
    ("budget", "heads"),
    [("quick", SAME_FAMILY_HEADS["cnn"][:1]), ("thorough", (*SAME_FAMILY_HEADS["cnn"][:3], LINEAR_PROBE))],
)
def test_same_family_heads_follow_the_budget(budget, heads):
    cases = plan(["scenario_2"], budget=budget)
    assert list(dict.fromkeys(c.planned_head for c in cases)) == list(heads)
    assert len(cases) == len(heads) * len(LAYERS)


def test_different_family_attacker_is_the_other_family():
    assert {c.used_head for c in plan(["scenario_4"])} == {DIFFERENT_FAMILY_HEAD["cnn"]}
    assert {c.used_head for c in plan(["scenario_4"], family="sequence")} == {DIFFERENT_FAMILY_HEAD["sequence"]}


def test_thorough_probe_baseline_does_not_repeat_the_stand_in_probe():
    names = [c.name for c in plan(["worst_case"], budget="thorough")]
    assert len(names) == len(set(names))
    assert names.count("worst_case[generic-linear_probe-classifier.4]") == 1


def test_cases_are_ordered_access_scenario_kind_head_then_layers():
    cases = plan(["worst_case", "scenario_2"], kinds=("generic", "application_aware"), access=("encoder", "intercept"))
    keys = [(c.access, c.scenario, c.attacker) for c in cases]
    assert keys == sorted(keys, key=lambda k: (k[0] != "encoder", k[1] != "worst_case", k[2] != "generic"))
    assert [c.layer for c in cases[:3]] == LAYERS


def test_intercept_access_has_no_linear_probe_and_names_the_access_in_the_item():
    cases = plan(["worst_case", "scenario_2"], budget="thorough", access=("intercept",))
    assert all(c.used_head != LINEAR_PROBE for c in cases)
    assert "worst_case[intercept-generic-tail_clone-pool]" in [c.name for c in cases]
    # no stand-in under intercept access: the output layer's tail-clone case is planned (then skipped)
    assert AuditCase(Attack("worst_case", AttackerKind.GENERIC, Access.INTERCEPT, TAIL_CLONE), "classifier.4",
                     TAIL_CLONE) in cases  # fmt: skip


def test_attack_key_and_case_strings_are_plain_strings():
    case = plan(["scenario_2"])[0]
    assert case.attack.key == "scenario_2/generic/encoder/" + case.planned_head
    assert case.attack.access == "encoder" and case.attack.attacker == "generic"  # str-valued enums
    assert type(case.access) is str and type(case.attacker) is str  # rows cross pytest-xdist's wire
    assert json.dumps(case.attack.access) == '"encoder"'
    assert f"{case.attack.attacker}" == "generic"


def test_custom_attacker_is_its_own_scenario_on_every_layer():
    custom = CustomAttacker("mlp", build=lambda shape, outputs: None, kinds=("generic", "application_aware"))
    cases = custom_cases(custom, LAYERS)
    assert [c.name for c in cases[:2]] == ["mlp[generic-mlp-features.3]", "mlp[generic-mlp-pool]"]
    assert len(cases) == 2 * len(LAYERS)
    assert {c.attack.key for c in cases} == {"mlp/generic/encoder/mlp", "mlp/application_aware/encoder/mlp"}


def test_custom_attacker_kinds_are_checked():
    with pytest.raises(ValueError, match="attacker kinds"):
        CustomAttacker("mlp", build=lambda shape, outputs: None, kinds=("sneaky",))


@pytest.mark.parametrize(
    ("patterns", "selected"),
    [
        ((), LAYERS),
        (("features.*",), ["features.3"]),
        (("classifier.4", "pool"), ["pool", "classifier.4"]),  # forward order, not pattern order
        (("*",), LAYERS),
    ],
)
def test_layer_globs_select_candidates_in_forward_order(patterns, selected):
    assert select_layers(LAYERS, patterns, "demo.pt") == selected


def test_a_glob_matching_nothing_is_a_usage_error_listing_the_candidates():
    with pytest.raises(PrivacyInputError, match=r"'encoder\.\*' matches no candidate layer of demo.pt; candidates: "):
        select_layers(LAYERS, ("pool", "encoder.*"), "demo.pt")


@pytest.mark.parametrize(
    "limits, key",
    [
        (Limits(layers=(("pool", 0.2), ("featurs.*", 0.05))), "limits.layers.'featurs.*'"),
        (Limits(overrides=(LimitOverride(0.05, layer="clasifier.4"),)), "limits.overrides[0].layer"),
    ],
)
def test_a_limit_pattern_matching_nothing_is_a_usage_error(limits, key):
    """A typo in a stricter per-layer limit would leave that layer at the laxer default."""
    with pytest.raises(
        PrivacyInputError, match=r"^t\.yaml: .*matches no candidate layer of demo.pt, so its limit"
    ) as error:
        check_limit_patterns(LAYERS, limits, "demo.pt", "t.yaml")
    assert key in str(error.value)
    check_limit_patterns(LAYERS, Limits(layers=(("features.*", 0.05), ("pool", 0.2))), "demo.pt", "t.yaml")


def test_model_labels_must_name_every_output_of_the_model():
    """A new-user trial: `labels: [a, b]` for a model with 4 outputs was accepted without a word and
    the report named the classes wrongly."""
    import dataclasses

    from privacy_checks.engine.plan import check_labels
    from privacy_checks.model import load_target
    from tests.conftest import DEMO

    target = load_target(DEMO)
    assert target.output_classes() == 4 and len(target.labels) == 4
    check_labels(target, "thresholds.yaml")  # the demo's own labels
    check_labels(dataclasses.replace(target, labels=()), "thresholds.yaml")  # none given: nothing to check
    with pytest.raises(PrivacyInputError) as error:
        check_labels(dataclasses.replace(target, labels=("a", "b")), "thresholds.yaml")
    assert str(error.value).startswith("thresholds.yaml: model.labels lists 2 classes (a, b) but demo_ser.pt scores 4")
    assert "leave model.labels out" in str(error.value)
