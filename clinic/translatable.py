"""``N_`` marks a text for ``pybabel extract`` without translating it.

Models and services must not import Flask, so texts they own are marked here and translated with
``gettext`` where they are shown or sent.
"""


def N_(text: str) -> str:
    return text
