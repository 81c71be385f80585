"""thresholds.yaml parsing: defaults, round trips, and errors that name file, line and key."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privacy_checks.config import (
    DEFAULT_CONFIG_NAME,
    AttackerSettings,
    AuditSettings,
    Limits,
    ModelSettings,
    PrivacyConfig,
    default_config_text,
    load_config,
)
from privacy_checks.errors import PrivacyInputError


def write(tmp_path: Path, text: str, name: str = DEFAULT_CONFIG_NAME) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(PrivacyInputError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message  # the path as given, then the line
    return message


def assert_points_at(message: str, line: int, *fragments: str) -> None:
    assert f"{DEFAULT_CONFIG_NAME}:{line}: " in message, message
    for fragment in fragments:
        assert fragment in message, message


# ------------------------------------------------------------------------------------------------
# Defaults and round trips


def test_no_path_gives_defaults():
    assert load_config(None) == PrivacyConfig()
    assert PrivacyConfig().source is None


@pytest.mark.parametrize("text", ["", "# only a comment\n", "~\n", "---\n"])
def test_empty_file_gives_defaults(tmp_path, text):
    path = write(tmp_path, text)
    config = load_config(path)
    assert dataclasses.replace(config, source=None) == PrivacyConfig()
    assert config.source == path


def test_empty_sections_give_defaults(tmp_path):
    config = load_config(write(tmp_path, "limits:\naudit: {}\nattacker:\nmodel:\n"))
    assert dataclasses.replace(config, source=None) == PrivacyConfig()


def test_missing_file_is_an_error_when_required(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(PrivacyInputError, match=r"--privacy-config: no such file: .*nope\.yaml"):
        load_config(missing)
    assert load_config(missing, required=False) == PrivacyConfig()


FULL = """
version: 1
limits:
  max_excess: 0.2
  rule: point
  layers:
    "features.*": 0.15
    "classifier.4": 0.05
audit:
  data: "synthetic:speakers=12"
  aux_data: ravdess:/data/ravdess
  folds: 4
  seed: 7
  layers: ["features.*", classifier.1]
  batch_size: 16
  bootstrap: 200
  permutations: 300
  confidence: 0.9
attacker:
  epochs: 3
  learning_rate: 1
  batch_size: 8
  weight_decay: 0.0001
model:
  factory: "mypkg.models:build"
  kwargs: {width: 2, dims: [1, 2], nested: {a: b}}
  input: {kind: logmel, sample_rate: 16000, n_mels: 64, win_ms: 25}
  labels: [neutral, happy, angry, sad]
"""


def test_every_key_round_trips(tmp_path):
    path = write(tmp_path, FULL)
    config = load_config(path)
    assert config.source == path
    assert config.limits == Limits(0.2, "point", (("features.*", 0.15), ("classifier.4", 0.05)))
    assert config.audit == AuditSettings(
        data="synthetic:speakers=12",
        folds=4,
        seed=7,
        layers=("features.*", "classifier.1"),
        batch_size=16,
        bootstrap=200,
        permutations=300,
        confidence=0.9,
        aux_data="ravdess:/data/ravdess",
    )
    assert config.attacker == AttackerSettings(epochs=3, learning_rate=1.0, batch_size=8, weight_decay=1e-4)
    assert isinstance(config.attacker.learning_rate, float)  # ints are welcome where floats are expected
    model = config.model
    assert model.factory == "mypkg.models:build"
    assert model.kwargs_dict() == {"width": 2, "dims": [1, 2], "nested": {"a": "b"}}
    assert dict(model.input) == {"kind": "logmel", "sample_rate": 16000, "n_mels": 64, "win_ms": 25.0}
    assert model.labels == ("neutral", "happy", "angry", "sad")
    spec = model.feature_spec()
    assert (spec.n_mels, spec.win_ms, spec.hop_ms) == (64, 25.0, 20.0)


def test_config_is_frozen_hashable_and_picklable(tmp_path):
    config = load_config(write(tmp_path, FULL))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.audit.seed = 1
    hash(config)
    assert pickle.loads(pickle.dumps(config)) == config
    kwargs = config.model.kwargs_dict()
    kwargs["dims"].append(3)  # the caller's copy, not the config's
    assert config.model.kwargs_dict()["dims"] == [1, 2]


def test_default_config_text_loads_to_defaults(tmp_path):
    text = default_config_text()
    config = load_config(write(tmp_path, text))
    assert dataclasses.replace(config, source=None) == PrivacyConfig()
    for section in ("limits", "audit", "attacker", "model"):  # documents every key
        for f in dataclasses.fields(getattr(config, section)):
            assert f"  {f.name}:" in text, f.name


def test_with_overrides_validates_and_skips_none():
    config = PrivacyConfig().with_overrides(
        "--privacy-seed", audit={"seed": 3, "data": None, "folds": 2}, limits={"layers": {"fc*": 0.3}}
    )
    assert (config.audit.seed, config.audit.data, config.audit.folds) == (3, "synthetic", 2)
    assert config.limits.for_layer("fc1") == (0.3, 'limits.layers."fc*"')
    expected = r"^--privacy-folds: 'audit\.folds' must be an integer from 2 to 1,000, got 1$"
    with pytest.raises(PrivacyInputError, match=expected):
        PrivacyConfig().with_overrides("--privacy-folds", audit={"folds": 1})
    replaced = PrivacyConfig().with_overrides(attacker=AttackerSettings(epochs=1))
    assert replaced.attacker.epochs == 1
    with pytest.raises(TypeError):
        PrivacyConfig().with_overrides(audit={"sede": 1})


def test_importing_config_stays_light():
    code = "import sys, privacy_checks.config; print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------------------------------------
# Errors: file, line, key and fix


@pytest.mark.parametrize(
    "text, line, fragments",
    [
        (
            "version: 1\nlimitz: {}\n",
            2,
            ["unknown key 'limitz' at the top level", "valid keys: version, limits, audit"],
        ),
        (
            "version: 1\nlimits:\n  rule: point\n  max_exces: 0.2\n",
            4,
            ["unknown key 'max_exces' in 'limits'; valid keys: max_excess, rule, layers", "did you mean 'max_excess'"],
        ),
        ("audit:\n  seeds: 1\n", 2, ["unknown key 'seeds' in 'audit'", "valid keys: data, folds, seed"]),
        ("attacker:\n  lr: 0.1\n", 2, ["unknown key 'lr' in 'attacker'", "valid keys: epochs, patience, learning_r"]),
        ("model:\n  labels: [a]\n  factroy: a:b\n", 3, ["unknown key 'factroy' in 'model'", "valid keys: factory"]),
    ],
)
def test_unknown_keys(tmp_path, text, line, fragments):
    assert_points_at(load_error(tmp_path, text), line, *fragments)


@pytest.mark.parametrize(
    "text, line, fragments",
    [
        ("\n\nlimits:\n  max_excess: high\n", 4, ["'limits.max_excess' must be a number between 0 and 1, got 'high'"]),
        ("limits:\n  max_excess: true\n", 2, ["'limits.max_excess' must be a number", "got true"]),
        ("limits:\n  max_excess: 1.5\n", 2, ["'limits.max_excess' must be a number between 0 and 1, got 1.5"]),
        ("limits:\n  max_excess: .nan\n", 2, ["'limits.max_excess'"]),
        ("limits:\n  layers:\n    fc: 2\n", 3, ["'limits.layers.fc' must be a number between 0 and 1"]),
        ("limits:\n  layers:\n    4: 0.1\n", 3, ["key 4 in 'limits.layers' must be a string", "quotes"]),
        ("limits:\n  layers: [fc]\n", 2, ["'limits.layers' must be a mapping"]),
        (
            "limits:\n  rule: cilow\n",
            2,
            ["'limits.rule' must be one of point, ci_low, ci_high, interval, got 'cilow'", "ci_low'?"],
        ),
        ("limits: 0.1\n", 1, ["'limits' must be a mapping"]),
        ("audit:\n  folds: 5.0\n", 2, ["'audit.folds' must be an integer from 2 to 1,000, got 5.0"]),
        ("audit:\n  folds: 1\n", 2, ["'audit.folds' must be an integer from 2 to 1,000, got 1"]),
        ("audit:\n  seed: -1\n", 2, ["'audit.seed' must be an integer from 0 to"]),
        ("audit:\n  batch_size: 0\n", 2, ["'audit.batch_size' must be an integer from 1 to 65,536"]),
        ("audit:\n  bootstrap: 99\n", 2, ["'audit.bootstrap' must be an integer from 100 to 1,000,000"]),
        ("audit:\n  permutations: yes\n", 2, ["'audit.permutations' must be an integer from 100", "got true"]),
        ("audit:\n  confidence: 1\n", 2, ["'audit.confidence' must be a number greater than 0.5 and less than 1"]),
        ("audit:\n  confidence: 0.5\n", 2, ["'audit.confidence'"]),
        ("audit:\n  data: ''\n", 2, ["'audit.data' must be a non-empty string"]),
        ("audit:\n  data: 3\n", 2, ["'audit.data' must be a non-empty string, got 3", "quotes"]),
        ("audit:\n  layers: features.*\n", 2, ["'audit.layers' must be a list of layer name patterns"]),
        ("audit:\n  layers:\n    - a\n    - 7\n", 4, ["'audit.layers[1]' must be a non-empty string"]),
        ("attacker:\n  learning_rate: 0\n", 2, ["'attacker.learning_rate' must be a number > 0, got 0"]),
        ("attacker:\n  weight_decay: -0.1\n", 2, ["'attacker.weight_decay' must be a number >= 0"]),
        ("audit:\n  threads: 100000000000000000000\n", 2, ["'audit.threads' must be an integer from 1 to 1,024"]),
        ("audit:\n  permutations: 10000000000000\n", 2, ["'audit.permutations' must be an integer from 100 to"]),
        ("audit:\n  seed: 100000000000000000000000\n", 2, ["'audit.seed' must be an integer from 0 to"]),
        ("attacker:\n  epochs: '3'\n", 2, ["'attacker.epochs' must be an integer from 1 to 100,000, got '3'"]),
        ("version: 2\n", 1, ["'version' must be 1", "got 2"]),
        ("version: true\n", 1, ["'version' must be 1"]),
    ],
)
def test_wrong_types_and_ranges(tmp_path, text, line, fragments):
    assert_points_at(load_error(tmp_path, text), line, *fragments)


@pytest.mark.parametrize(
    "factory",
    ["mypkg.models.build", "mypkg.models:", ":build", "my-pkg:build", "a:b:c", "1pkg:build"],
)
def test_bad_factory_string(tmp_path, factory):
    message = load_error(tmp_path, f"model:\n  labels: [a]\n  factory: '{factory}'\n")
    assert_points_at(message, 3, "'model.factory' must be 'module:callable'", "mypkg.models:build")


def test_factory_with_dotted_callable_is_accepted(tmp_path):
    config = load_config(write(tmp_path, "model:\n  factory: pkg.zoo:Builders.vgg\n"))
    assert config.model.factory == "pkg.zoo:Builders.vgg"


@pytest.mark.parametrize(
    "text, line, fragments",
    [
        (
            "model:\n  input:\n    kind: logmel\n    n_mel: 40\n",
            4,
            ["unknown key 'n_mel' in 'model.input'", "valid keys: kind, sample_rate, n_mels", "did you mean 'n_mels'"],
        ),
        ("model:\n  input: {n_mels: forty}\n", 2, ["'model.input.n_mels' must be an integer, got 'forty'"]),
        ("model:\n  input: {f_max: true}\n", 2, ["'model.input.f_max' must be a number or null"]),
        # values FeatureSpec itself rejects: its message, with file and line
        ("model:\n\n  input: {n_mels: 0}\n", 3, ["'model.input'", "n_mels must be a positive integer"]),
        ("model:\n  input: {kind: mfcc}\n", 2, ["'model.input'", "kind 'mfcc'"]),
        ("model:\n  input: logmel\n", 2, ["'model.input' must be a mapping"]),
    ],
)
def test_bad_input_spec(tmp_path, text, line, fragments):
    assert_points_at(load_error(tmp_path, text), line, *fragments)


@pytest.mark.parametrize(
    "text, line, fragments",
    [
        ("model:\n  labels: neutral\n", 2, ["'model.labels' must be a list of class names"]),
        (
            "model:\n  labels:\n    - neutral\n    - no\n",
            4,
            ["'model.labels[1]' must be a non-empty string, got false", "quotes"],
        ),
        ("model:\n  labels: [a, b, a]\n", 2, ["'model.labels' lists 'a' twice", "distinct"]),
        ("model:\n  kwargs: [1]\n", 2, ["'model.kwargs' must be a mapping"]),
    ],
)
def test_bad_labels_and_kwargs(tmp_path, text, line, fragments):
    assert_points_at(load_error(tmp_path, text), line, *fragments)


def test_duplicate_key_names_both_lines(tmp_path):
    message = load_error(tmp_path, "limits:\n  max_excess: 0.1\n  rule: point\n  max_excess: 0.2\n")
    assert_points_at(message, 4, "duplicate key 'limits.max_excess'", "line 2")


def test_duplicate_section(tmp_path):
    message = load_error(tmp_path, "audit: {seed: 1}\nlimits: {}\naudit: {seed: 2}\n")
    assert_points_at(message, 3, "duplicate key 'audit'", "line 1")


@pytest.mark.parametrize(
    "text, line",
    [("limits:\n  max_excess: [0.1\n", 3), ("limits:\n  max_excess: 0.1\n   rule: point\n", 3), ("a: b\n- c\n", 2)],
)
def test_malformed_yaml(tmp_path, text, line):
    message = load_error(tmp_path, text)
    assert_points_at(message, line, "malformed YAML:", f"(line {line}, column")


def test_tabs_get_a_hint(tmp_path):
    assert "indent with spaces" in load_error(tmp_path, "limits:\n\tmax_excess: 0.1\n")


@pytest.mark.parametrize("text, got", [("- limits\n- audit\n", "got a list"), ("just text\n", "got 'just text'")])
def test_top_level_must_be_a_mapping(tmp_path, text, got):
    assert_points_at(load_error(tmp_path, text), 1, "top level must be a mapping", got)


def test_unsafe_tags_are_refused(tmp_path):
    message = load_error(tmp_path, "audit:\n  data: !!python/object/apply:os.system ['true']\n")
    assert_points_at(message, 2, "unsupported YAML tag")


def test_self_referencing_alias(tmp_path):
    assert "refers to itself" in load_error(tmp_path, "model:\n  kwargs: &k {a: *k}\n")


def test_alias_bomb_is_a_usage_error_within_a_second(tmp_path):
    """Nine levels of nested aliases in ~600 bytes would expand to 9**9 values (issue 13: it ran past
    60 s); an ordinary alias still works."""
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    text = "model:\n  kwargs:\n" + "".join(f"    {line}\n" for line in levels)
    assert len(text.encode()) < 700
    start = time.perf_counter()
    message = load_error(tmp_path, text)
    assert time.perf_counter() - start < 1.0
    assert "expands to more than 100,000 values" in message and "aliases" in message
    config = load_config(write(tmp_path, "model:\n  kwargs: {a: &v [1, 2], b: *v}\n"))
    assert dict(config.model.kwargs) == {"a": (1, 2), "b": (1, 2)}  # frozen: tuples


def test_not_utf8(tmp_path):
    path = tmp_path / DEFAULT_CONFIG_NAME
    path.write_bytes(b"limits:\n  rule: \xff\n")
    with pytest.raises(PrivacyInputError, match="UTF-8"):
        load_config(path)


def test_display_path_is_the_path_as_given(tmp_path, monkeypatch):
    write(tmp_path, "limits:\n  rule: nope\n", name="custom.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PrivacyInputError, match=r"^custom\.yaml:2: 'limits\.rule'"):
        load_config("custom.yaml")


# ------------------------------------------------------------------------------------------------
# Limits.for_layer


def test_for_layer_specificity():
    limits = Limits(
        max_excess=0.1,
        layers=(("features.*", 0.15), ("features.1*", 0.2), ("*", 0.3), ("features.10", 0.05), ("features.1?", 0.25)),
    )
    assert limits.for_layer("features.10") == (0.05, 'limits.layers."features.10"')  # exact beats globs
    assert limits.for_layer("features.12") == (0.2, 'limits.layers."features.1*"')  # tie with 1? -> first written
    assert limits.for_layer("features.2") == (0.15, 'limits.layers."features.*"')
    assert limits.for_layer("classifier") == (0.3, 'limits.layers."*"')
    assert Limits(layers=(("Fc", 0.2),)).for_layer("fc") == (0.1, "limits.max_excess")  # case-sensitive
    assert Limits(layers=(("fc", 0.2),)).for_layer("fc") == (0.2, "limits.layers.fc")


layer_names = st.from_regex(r"[a-z]{1,4}(\.[0-9a-z]{1,3}){0,3}", fullmatch=True)
fractions = st.floats(0, 1)


@st.composite
def globs_for(draw, name: str) -> str:
    """A glob that matches ``name``: some characters replaced by ? and some runs by *."""
    chars = list(name)
    out = []
    i = 0
    while i < len(chars):
        kind = draw(st.sampled_from(["keep", "keep", "?", "*"]))
        if kind == "keep":
            out.append(chars[i])
            i += 1
        elif kind == "?":
            out.append("?")
            i += 1
        else:
            run = draw(st.integers(0, len(chars) - i))
            out.append("*")
            i += run
    pattern = "".join(out)
    return pattern if any(c in pattern for c in "*?") else pattern + "*"


@given(data=st.data(), name=layer_names, exact_limit=fractions)
def test_exact_pattern_always_wins(data, name, exact_limit):
    globs = data.draw(st.lists(globs_for(name), max_size=5))
    others = data.draw(st.lists(st.tuples(layer_names, fractions), max_size=3))
    entries = [(g, data.draw(fractions)) for g in globs] + [(n, lim) for n, lim in others if n != name]
    position = data.draw(st.integers(0, len(entries)))
    entries.insert(position, (name, exact_limit))
    limits = Limits(layers=tuple(dict(entries).items()))  # distinct patterns, as a YAML mapping has
    value, key = limits.for_layer(name)
    assert value == dict(entries)[name]
    assert key.startswith("limits.layers.")


@given(
    name=layer_names,
    patterns=st.lists(st.tuples(st.from_regex(r"[a-z.*?]{1,6}", fullmatch=True), fractions), max_size=6),
    default=fractions,
)
def test_default_applies_when_nothing_matches(name, patterns, default):
    import fnmatch

    limits = Limits(max_excess=default, layers=tuple(dict(patterns).items()))
    value, key = limits.for_layer(name)
    if not any(fnmatch.fnmatchcase(name, p) for p, _ in limits.layers):
        assert (value, key) == (default, "limits.max_excess")
    else:
        assert key != "limits.max_excess"


@given(name=layer_names, globs=st.data())
def test_most_literal_glob_wins(name, globs):
    from privacy_checks.config import literal_length

    patterns = globs.draw(st.lists(globs_for(name), min_size=1, max_size=5, unique=True))
    limits = Limits(layers=tuple((p, i / 10) for i, p in enumerate(patterns)))
    _, key = limits.for_layer(name)
    best = max(literal_length(p) for p in patterns)
    winner = next(p for p in patterns if literal_length(p) == best)  # first written among the best
    assert key == f'limits.layers."{winner}"' or key == f"limits.layers.{winner}"


def test_model_settings_defaults():
    model = ModelSettings()
    assert (model.factory, model.kwargs_dict(), model.input, model.labels, model.feature_spec()) == (
        None,
        {},
        None,
        (),
        None,
    )
