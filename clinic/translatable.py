"""``N_`` marks a text for ``pybabel extract`` without translating it.

Models and services must not import Flask, so texts they own are marked here and translated with
``gettext`` where they are shown or sent.
"""


def N_(text: str) -> str:
    return text


class Named(str):
    """A name from the seed files (a step type's, a pathway's) that knows its translations: it is the
    default ``name`` as a string, and ``in_(language)`` is the name in ``language`` (``names``, else the
    default). Screens show ``in_`` of their reader's language (the ``named`` template filter)."""

    names: dict[str, str]

    def __new__(cls, name: str, names: dict[str, str] | None = None) -> "Named":
        named = super().__new__(cls, name)
        named.names = dict(names or {})
        return named

    def in_(self, language: object) -> str:
        return self.names.get(str(language)) or str.__str__(self)


def named_in(value: object, language: object) -> str:
    """``value`` in ``language`` when it is a ``Named``; anything else as it is."""
    return value.in_(language) if isinstance(value, Named) else ("" if value is None else str(value))
