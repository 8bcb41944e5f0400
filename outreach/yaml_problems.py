"""How a settings file's problems read: ``file: where: message``.

``where`` is ``line 3, column 7`` for text that is not YAML, and a key path such as
``resources[0].hours`` for a value that breaks the file's rules. No ``clinic`` imports, so the
outreach rule loader and the clinic's loaders word their problems alike, and read YAML alike (``load``).
"""

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a scalar its constructors refuse with a plain ``ValueError`` (a date
    such as ``2026-13-45``, ``!!int 0xZZ``) is a ``YAMLError`` that names its line and column, and so is a text
    holding a NUL character (``"\\0"``), which no database text column should get (PostgreSQL's refuse it)."""

    def construct_scalar(self, node: yaml.ScalarNode) -> Any:
        value = super().construct_scalar(node)
        if isinstance(value, str) and "\x00" in value:
            raise yaml.constructor.ConstructorError(None, None, "a text holds a NUL character", node.start_mark)
        return value

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            value = f"{node.value!r}: " if isinstance(node.value, str) else ""
            raise yaml.constructor.ConstructorError(None, None, f"{value}{exc}", node.start_mark) from None


def read_text(path: Path) -> str:
    """The file's text; a ``ValueError`` saying what is wrong (without the file's name) when it cannot be read,
    is not UTF-8 (a spreadsheet saves its CSV in the computer's own encoding, often Windows-1252, unless told
    otherwise) or holds a NUL character (no database text column should get one; PostgreSQL's refuse it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        byte = exc.object[exc.start]
        raise ValueError(f"line {line}: not UTF-8 text (byte 0x{byte:02x}); save the file as UTF-8") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ValueError(f"line {line}: holds a NUL character: save the file as UTF-8 text")
    return text


def load(text: str) -> Any:
    """``text`` as YAML's safe loader reads it; whatever is wrong with the text is a ``yaml.YAMLError``
    (never a ``ValueError`` or a ``RecursionError`` from deep nesting), ready for ``syntax_problem``."""
    try:
        return yaml.load(text, Loader=_Loader)
    except RecursionError:
        raise yaml.YAMLError("nested too deeply") from None


def syntax_problem(exc: yaml.YAMLError) -> str:
    """``line 3, column 7: not valid YAML (could not find expected ':')``; without a line when YAML gives none."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}not valid YAML ({getattr(exc, 'problem', None) or exc})"


def key_path(loc: Iterable[Any]) -> str:
    """``("resources", 0, "hours")`` -> ``resources[0].hours``; the validator names pydantic adds are left out."""
    text = ""
    for part in loc:
        if isinstance(part, str) and part.startswith("function-"):
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def validation_problems(
    prefix: str, errors: Iterable[Mapping[str, Any]], *, bare: bool = False
) -> list[str]:
    """``prefix: key.path: message`` for each of pydantic's ``ValidationError.errors()``.

    ``bare`` drops the ``Value error, `` pydantic puts before a validator's own words.
    """
    problems = []
    for error in errors:
        message = error["msg"].removeprefix("Value error, ") if bare else error["msg"]
        problems.append(f"{prefix}: {key_path(error['loc'])}: {message}")
    return problems
