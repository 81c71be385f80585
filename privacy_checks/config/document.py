"""YAML text -> Python values, remembering the line of every key, for file:line messages.

The YAML is *composed* (nodes keep their marks) and converted here rather than by yaml.safe_load,
which forgets where each value was written.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from privacy_checks.errors import PrivacyInputError
from privacy_checks.validation import KeyPath, format_key, quoted

# Values one document may expand to. Aliases repeat what they refer to, so a few hundred bytes of
# nested aliases ("billion laughs") expand to billions of values; a real config has a few hundred.
MAX_VALUES = 100_000


class Document:
    """Python values of one YAML document plus ``lines[path]``: where each key or list item is."""

    def __init__(self, display: str):
        self.display = display
        self.lines: dict[KeyPath, int] = {}
        # types scalars exactly as yaml.safe_load would (ints, floats, bools, nulls, dates)
        self._constructor = yaml.constructor.SafeConstructor()
        self._open: set[int] = set()  # collections being converted: catches `&a [*a]` loops
        self._values = 0  # values converted so far, aliases counted each time they repeat

    def error(self, line: int, message: str) -> PrivacyInputError:
        return PrivacyInputError(f"{self.display}:{line}: {message}")

    def line_of(self, path: KeyPath) -> int:
        """The line of the nearest located key path (a value's own, else its parent's)."""
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def to_python(self, node: yaml.Node, path: KeyPath = ()) -> Any:
        self._values += 1
        if self._values > MAX_VALUES:
            raise self.error(
                node.start_mark.line + 1,
                f"the document expands to more than {MAX_VALUES:,} values (YAML aliases repeat what they "
                "refer to); write the values out instead of nesting aliases",
            )
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self._open:
            raise self.error(node.start_mark.line + 1, "a YAML alias refers to itself; remove the loop")
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            assert isinstance(node, yaml.SequenceNode)  # the third and last kind of node
            return self._sequence(node, path)
        finally:
            self._open.discard(id(node))

    def _sequence(self, node: yaml.SequenceNode, path: KeyPath) -> list[Any]:
        self._require_tag(node, "seq")
        result = []
        for index, item in enumerate(node.value):
            item_path = (*path, index)
            self.lines[item_path] = item.start_mark.line + 1
            result.append(self.to_python(item, item_path))
        return result

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[Any, Any]:
        self._require_tag(node, "map")
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                raise self.error(
                    line,
                    f"unsupported key in {quoted(path) if path else 'the top level'}: "
                    "keys must be plain names (no '<<' merges, lists or mappings as keys)",
                )
            key = self._scalar(key_node)
            key_path = (*path, key)
            if key in result:
                raise self.error(
                    line,
                    f"duplicate key {format_key(key_path)!r}: also set at line {self.lines[key_path]}; keep only one",
                )
            self.lines[key_path] = line
            result[key] = self.to_python(value_node, key_path)
        return result

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            # unknown tags such as !!python/object: safe loading refuses them
            raise self.error(node.start_mark.line + 1, f"cannot read value: {exc.problem}") from None

    def _require_tag(self, node: yaml.Node, kind: str) -> None:
        if node.tag != f"tag:yaml.org,2002:{kind}":
            raise self.error(node.start_mark.line + 1, f"unsupported YAML tag {node.tag!r}; remove it")


def compose(text: str, display: str) -> yaml.Node | None:
    """The node tree of ``text`` (None for an empty document); malformed YAML -> file:line message."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = "; ".join(p for p in (exc.context, exc.problem) if p)
        fix = "indent with spaces, not tabs" if "'\\t'" in problem else "fix the syntax"
        raise PrivacyInputError(f"{display}:{line}: malformed YAML: {problem}{where}; {fix}") from None
    except yaml.YAMLError as exc:  # e.g. control characters (ReaderError)
        raise PrivacyInputError(f"{display}:1: malformed YAML: {exc}") from None
    except (ValueError, OverflowError) as exc:  # PyYAML's scanner calls chr() on a "\U" escape unchecked
        escape_line = _line_of_bad_escape(text)
        if escape_line is None:
            raise PrivacyInputError(f"{display}:1: malformed YAML: {exc}; fix the syntax") from None
        raise PrivacyInputError(
            f"{display}:{escape_line}: malformed YAML: a \\U escape in a double-quoted string names no Unicode "
            "character (the largest is \\U0010FFFF); fix or remove it"
        ) from None


def _line_of_bad_escape(text: str) -> int | None:
    """The line of the first \\U escape beyond U+10FFFF (None when there is none)."""
    for match in re.finditer(r"\\U([0-9A-Fa-f]{8})", text):
        if int(match.group(1), 16) > 0x10FFFF:
            return text.count("\n", 0, match.start()) + 1
    return None
