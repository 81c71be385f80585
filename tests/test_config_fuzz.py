"""Fuzzing thresholds.yaml (issue 13): any document the user (or a pull request) can write either
loads or is a usage error naming the file; never another exception, never minutes or gigabytes.

The unit half feeds hypothesis-generated documents (known and random keys, any value types,
nesting, aliases, truncations, other encodings) to the loader; the plugin half runs a handful of
them through ``pytest --privacy-audit`` and asserts the exit codes the README promises.
"""

from __future__ import annotations

import random
import resource
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from privacy_checks.config import PrivacyConfig
from privacy_checks.config.loading import DEFAULT_CONFIG_NAME, load_config
from privacy_checks.config.settings import SECTION_KEYS
from privacy_checks.errors import PrivacyInputError

SECONDS_PER_DOCUMENT = 2.0
KNOWN_KEYS = sorted({key for keys in SECTION_KEYS.values() for key in keys})
TOP_LEVEL = [*SECTION_KEYS, "version"]

# Values that YAML or our checks treat specially: huge numbers, spelled-out floats, YAML 1.1
# booleans, dates, tags that would construct Python objects, globs, unicode.
TRICKY_TEXT = [
    "1e20", "100000000000000000000", "0x10", "0o7", "1_000", ".nan", ".inf", "-.inf", "yes", "off",
    "~", "2026-11-29", "!!python/object/apply:os.system ['true']", "!!binary aGk=", "*", "**/x", "[",
    "conv1.*", "café", "\u202e", "\x00",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(TRICKY_TEXT),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
keys = st.sampled_from(KNOWN_KEYS) | st.text(max_size=10)
sections = st.dictionaries(keys, values, max_size=6)
documents = st.dictionaries(st.sampled_from(TOP_LEVEL) | st.text(max_size=8), sections | values, max_size=5)


@st.composite
def yaml_bytes(draw) -> bytes:
    """A YAML document, then perhaps damaged: cut short, a byte flipped, re-encoded, a tag inserted."""
    text = yaml.safe_dump(draw(documents), allow_unicode=True, sort_keys=False)
    damage = draw(st.sampled_from(["none", "truncate", "flip", "utf-16", "latin-1", "bom", "tab", "tag"]))
    if damage == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif damage == "tab":
        text = text.replace("  ", "\t", 1)
    elif damage == "tag":
        text = "audit: !!python/object/apply:os.system ['true']\n" + text
    raw = text.encode("utf-16" if damage == "utf-16" else "latin-1" if damage == "latin-1" else "utf-8", "replace")
    if damage == "bom":
        raw = b"\xef\xbb\xbf" + raw
    if damage == "flip" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1 :]
    return raw


@st.composite
def alias_nests(draw) -> bytes:
    """Aliases nested `depth` levels deep, each level repeating the previous `fanout` times, used
    under a real key: small files that would expand to fanout**depth values."""
    depth, fanout = draw(st.integers(1, 12)), draw(st.integers(1, 10))
    lines = ["anchors:", "  l0: &l0 [x]"]
    for level in range(1, depth + 1):
        lines.append(f"  l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * fanout)}]")
    section, key = draw(st.sampled_from([("audit", "layers"), ("model", "kwargs"), ("limits", "layers")]))
    lines.append(f"{section}:\n  {key}: *l{depth}")
    return "\n".join(lines).encode()


def load_outcome(tmp_path: Path, raw: bytes) -> PrivacyConfig | PrivacyInputError:
    """Load ``raw`` as thresholds.yaml: the config, or the usage error (anything else propagates)."""
    path = tmp_path / DEFAULT_CONFIG_NAME
    path.write_bytes(raw)
    start = time.perf_counter()
    try:
        return load_config(path)
    except PrivacyInputError as error:
        assert str(error).startswith(str(path)), f"the message must name the file first: {error}"
        return error
    finally:
        assert time.perf_counter() - start < SECONDS_PER_DOCUMENT


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(raw=yaml_bytes())
@example(raw=b'limits:\n  access:\n  - - "\\r\\U10010000"\n')  # found by this fuzz: PyYAML's chr() raised
def test_any_document_loads_or_is_a_usage_error(tmp_path, raw):
    load_outcome(tmp_path, raw)


@pytest.mark.parametrize("escape", ["\\U10010000", "\\UFFFFFFFF"])  # chr() ValueError, and OverflowError
def test_an_escape_beyond_unicode_names_its_line(tmp_path, escape):
    outcome = load_outcome(tmp_path, f'audit:\n  folds: 3\n  layers: ["a{escape}"]\n'.encode())
    assert isinstance(outcome, PrivacyInputError)
    assert f"{DEFAULT_CONFIG_NAME}:3: malformed YAML: a \\U escape" in str(outcome), outcome


def test_another_value_error_from_the_parser_is_reported_as_it_is(tmp_path, monkeypatch):
    # The \\U message is for the escape it names; any other ValueError the parser might raise keeps its text.
    def broken_compose(text, Loader):
        raise ValueError("some other parser fault")

    monkeypatch.setattr(yaml, "compose", broken_compose)
    outcome = load_outcome(tmp_path, b'audit:\n  layers: ["a\\U0001F600"]\n')
    assert isinstance(outcome, PrivacyInputError)
    assert str(outcome).endswith(f"{DEFAULT_CONFIG_NAME}:1: malformed YAML: some other parser fault; fix the syntax")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=alias_nests())
def test_nested_aliases_are_bounded_in_time_and_memory(tmp_path, raw):
    before = peak_rss_mb()
    outcome = load_outcome(tmp_path, raw)
    assert peak_rss_mb() - before < 200
    if isinstance(outcome, PrivacyInputError):
        assert "aliases" in str(outcome) or "must be" in str(outcome), outcome


def test_the_generators_reach_both_outcomes(tmp_path):
    """The fuzz is worth something only if it produces valid documents as well as invalid ones."""
    outcomes = {
        type(load_outcome(tmp_path, yaml.safe_dump(doc).encode()))
        for doc in ({"audit": {"folds": 3}}, {"audit": {"folds": "3"}})
    }
    assert outcomes == {PrivacyConfig, PrivacyInputError}


# ------------------------------------------------------------------------------------------------
# Through the plugin: exit codes, never a traceback


def seeded_document(rng: random.Random) -> bytes:
    """A document like the generators' (same keys and tricky values), reproducibly from ``rng``:
    hypothesis has no seeded single draw, and a pytester run per example would take minutes."""
    pool: list[object] = [None, True, -1, 0, 3, 2**70, 0.5, float("nan"), float("inf"), "", *TRICKY_TEXT]
    document: dict[str, object] = {}
    for _ in range(rng.randint(1, 3)):
        section = rng.choice([*TOP_LEVEL, "extras"])
        document[section] = {rng.choice([*KNOWN_KEYS, "colour"]): rng.choice(pool) for _ in range(rng.randint(1, 4))}
    return yaml.safe_dump(document, allow_unicode=True).encode()


def plugin_documents() -> list[bytes]:
    rng = random.Random(13)
    return [
        *(seeded_document(rng) for _ in range(2)),
        b"anchors:\n  l0: &l0 [x]\n"
        + b"".join(f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n".encode() for i in range(1, 10))
        + b"audit:\n  layers: *l9\n",
        b"audit:\n  threads: 100000000000000000000\n",
        b"audit:\n  permutations: 10000000000000\n",
        b"\xff\xfeaudit:\n",
        b"audit:\n  layers: ['no_such_layer*']\n",  # loads; then meets the model
    ]


@pytest.mark.parametrize("index", range(len(plugin_documents())))
def test_plugin_exits_0_1_or_4_without_a_traceback(pytester, demo_checkpoint, index):
    raw = plugin_documents()[index]
    (pytester.path / "fuzzed.yaml").write_bytes(raw)
    start = time.perf_counter()
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--privacy-audit", str(demo_checkpoint), "--privacy-config", "fuzzed.yaml",
        "--collect-only", "-q",
    )  # fmt: skip
    output = result.stdout.str() + result.stderr.str()
    assert result.ret in (0, 1, 4), output
    assert "Traceback" not in output and "INTERNALERROR" not in output, output
    if result.ret == 4:
        assert "fuzzed.yaml" in output, output  # the message names the file
    assert time.perf_counter() - start < 60
