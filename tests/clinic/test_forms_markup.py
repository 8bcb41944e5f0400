"""Form markup that screen readers rely on: every ``aria-describedby`` names an element on the page."""

from html.parser import HTMLParser

import pytest

from tests.factories import make_patient


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.described_by: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)
            elif name == "aria-describedby":
                self.described_by.append((tag, value or ""))


def dangling_descriptions(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return [
        f"<{tag} aria-describedby={value!r}>"
        for tag, value in parser.described_by
        if not value.split() or any(ref not in parser.ids for ref in value.split())
    ]


def test_sign_in_fields_without_hint_or_error_carry_no_description(client):
    html = client.get("/sign-in").get_data(as_text=True)
    assert 'name="username"' in html
    assert dangling_descriptions(html) == []


def test_sign_in_errors_are_described_by_their_messages(client, post_form):
    html = post_form(client, "/sign-in", {"username": "", "password": ""}).get_data(as_text=True)
    assert 'aria-describedby="username-error"' in html
    assert dangling_descriptions(html) == []


@pytest.mark.parametrize("path", ["/book", "/waitlist", "/outbox", "/board", "/patients/{patient}", "/gestures/new?patient_id={patient}"])
def test_desk_forms_describe_fields_only_by_elements_on_the_page(desk_client, session, path):
    response = desk_client.get(path.format(patient=make_patient(session).id))
    assert response.status_code == 200
    assert dangling_descriptions(response.get_data(as_text=True)) == []
