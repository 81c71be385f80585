"""--junitxml: per-item leakage, CI, chance and limit as test case properties; model and corpus
facts as global properties (a CI system shows them without opening report.json)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.conftest import f7_c4_run


@pytest.mark.xdist_group("audit-f7-c4")
@pytest.mark.parametrize("family", ["xunit1", "xunit2"])
def test_junit_xml_carries_the_figures(shared_audit, family):
    # -k "features.7 or classifier.4" --junitxml junit.xml -o junit_family=FAMILY (+ a report folder;
    # the xunit2 run is tests/test_option_privacy_report.py's)
    run = shared_audit(*f7_c4_run(family))
    assert run.result.ret == pytest.ExitCode.TESTS_FAILED
    suite = ET.parse(run.path / "junit.xml").getroot().find("testsuite")
    facts = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert facts["privacy_architecture"] == "small_vgg" and len(facts["privacy_model_sha256"]) == 64
    assert facts["privacy_utterances"] == "80" and facts["privacy_speakers"] == "20"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    leaky = cases["worst_case[generic-tail_clone-features.7]"]
    props = {p.get("name"): p.get("value") for p in leaky.find("properties")}
    assert {"leakage", "ci_low", "ci_high", "chance", "max_excess", "p_value"} <= set(props)
    assert float(props["ci_low"]) <= float(props["leakage"]) <= float(props["ci_high"])
    assert float(props["chance"]) == 0.5 and float(props["max_excess"]) == 0.1
    assert leaky.find("failure") is not None and "gender leakage above the limit" in leaky.find("failure").text
