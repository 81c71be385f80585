"""The schema: every key declared once (default, check, doc), the template generated from it, and the
shared validation vocabulary."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from privacy_checks import validation as checks
from privacy_checks.config import PrivacyConfig, config_from_mapping, default_config_text, parse_config
from privacy_checks.config.schema import keys_of, section_doc, setting
from privacy_checks.config.settings import SECTIONS
from privacy_checks.config.template import yaml_value
from privacy_checks.errors import PrivacyInputError


def test_generated_template_parses_back_to_the_default_config():
    assert parse_config(default_config_text()) == PrivacyConfig()


def test_the_repositorys_thresholds_yaml_is_the_generated_template():
    root = Path(__file__).resolve().parents[1] / "thresholds.yaml"
    assert root.read_text() == default_config_text(), (
        "thresholds.yaml is stale: regenerate it with python -c 'from privacy_checks.config import "
        'default_config_text as t; open("thresholds.yaml", "w").write(t())\''
    )


def test_every_schema_key_is_in_the_template_with_its_doc_in_its_section():
    lines = default_config_text().splitlines()
    for name, section in SECTIONS.items():
        start = lines.index(f"{name}:")
        assert lines[start - 1] == f"# {section_doc(section)}"
        body = lines[start + 1 : lines.index("", start) if "" in lines[start:] else len(lines)]
        for key in keys_of(section):
            line = next(line for line in body if line.startswith(f"  {key.name}: "))
            assert line.endswith(f"  # {key.doc}"), line
            for note in key.notes:
                assert f"  # {note}" in body


def test_every_section_field_is_a_schema_key_and_the_sections_cover_the_config():
    config_fields = [f.name for f in dataclasses.fields(PrivacyConfig) if f.name != "source"]
    assert list(SECTIONS) == config_fields
    for section in SECTIONS.values():
        keys = keys_of(section)  # raises for a field declared without setting()
        assert [k.name for k in keys] == [f.name for f in dataclasses.fields(section)]
        assert all(k.doc and "\n" not in k.doc for k in keys)
        assert section() == section(**{k.name: k.default for k in keys})


def test_every_default_passes_its_own_check():
    for name, section in SECTIONS.items():
        for key in keys_of(section):
            written = yaml.safe_load(f"v: {yaml_value(key.template_value)}")["v"]
            assert key.check(written, (name, key.name)) == key.default, key.name


def test_a_field_without_setting_is_refused():
    @dataclasses.dataclass(frozen=True)
    class Partial:
        declared: int = setting(1, checks.integer(0), "a declared key")
        undeclared: int = 2

    with pytest.raises(TypeError, match=r"Partial\.undeclared is not declared with setting\(\)"):
        keys_of(Partial)
    with pytest.raises(ValueError, match="one line"):
        setting(1, checks.integer(0), "two\nlines")


def test_config_from_mapping_validates_like_the_file():
    config = config_from_mapping({"audit": {"seed": 3, "layers": ["fc*"]}})
    assert (config.audit.seed, config.audit.layers) == (3, ("fc*",))
    expected = r"^study: audit\.folds: 'audit\.folds' must be an integer from 2 to 1,000"
    with pytest.raises(PrivacyInputError, match=expected):
        config_from_mapping({"audit": {"folds": 1}}, origin="study")


@pytest.mark.parametrize(
    "check, value, message",
    [
        (checks.real(0, 1), 2, "'k' must be a number between 0 and 1, got 2"),
        (checks.real(0, low_open=True), 0, "'k' must be a number > 0, got 0"),
        (checks.integer(2), 5.0, "'k' must be an integer >= 2, got 5.0"),
        (checks.integer(1, 1024), 10**20, "'k' must be an integer from 1 to 1,024, got 100000000000000000000"),
        (checks.choice(("point", "ci_low")), "cilow", "'k' must be one of point, ci_low, got 'cilow' (did you mean"),
        (checks.text, "", "'k' must be a non-empty string, got ''"),
        (checks.boolean, "yes", "'k' must be true or false, got 'yes'"),
        (checks.names(("a", "b"), "letters", allow_empty=False), [], "'k' needs at least one of a, b"),
        (checks.texts("patterns"), "x", "'k' must be a list of patterns, got 'x'; write [a, b]"),
    ],
)
def test_checkers_name_the_key_the_rule_and_the_value(check, value, message):
    with pytest.raises(checks.Invalid) as info:
        check(value, ("k",))
    assert info.value.message.startswith(message)
    assert info.value.path == ("k",)


def test_optional_and_names_normalise():
    assert checks.optional(checks.integer(1))(None, ("k",)) is None
    assert checks.names(("a", "b"), "letters")(["b", "a", "b"], ("k",)) == ("b", "a")
    assert checks.real()(3, ("k",)) == 3.0 and isinstance(checks.real()(3, ("k",)), float)
