"""Form markup that screen readers rely on: ids are unique, and every label and description names an element."""

from html.parser import HTMLParser

import pytest

from tests.factories import make_patient


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.repeated_ids: set[str] = set()
        self.described_by: list[tuple[str, str]] = []
        self.label_for: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value:
                if value in self.ids:
                    self.repeated_ids.add(value)
                self.ids.add(value)
            elif name == "for" and tag == "label":
                self.label_for.append(value or "")
            elif name == "aria-describedby":
                self.described_by.append((tag, value or ""))


def dangling_descriptions(html: str) -> list[str]:
    """Descriptions and labels that name no element, and ids that more than one element carries."""
    parser = _References()
    parser.feed(html)
    return (
        [
            f"<{tag} aria-describedby={value!r}>"
            for tag, value in parser.described_by
            if not value.split() or any(ref not in parser.ids for ref in value.split())
        ]
        + [f"<label for={value!r}>" for value in parser.label_for if value not in parser.ids]
        + [f"id {value!r} twice" for value in sorted(parser.repeated_ids)]
    )


def test_sign_in_fields_without_hint_or_error_carry_no_description(client):
    html = client.get("/sign-in").get_data(as_text=True)
    assert 'name="username"' in html
    assert dangling_descriptions(html) == []


def test_sign_in_errors_are_described_by_their_messages(client, post_form):
    html = post_form(client, "/sign-in", {"username": "", "password": ""}).get_data(as_text=True)
    assert 'aria-describedby="username-error"' in html
    assert dangling_descriptions(html) == []


@pytest.mark.parametrize("path", ["/book", "/book/register", "/waitlist", "/outbox", "/board", "/patients/{patient}", "/gestures/new?patient_id={patient}"])
def test_desk_forms_describe_fields_only_by_elements_on_the_page(desk_client, session, path):
    response = desk_client.get(path.format(patient=make_patient(session).id))
    assert response.status_code == 200
    assert dangling_descriptions(response.get_data(as_text=True)) == []


@pytest.mark.parametrize("path", ["/kbr/", "/audit", "/outreach/rules", "/volunteers/", "/follow-ups/", "/gestures"])
def test_coordinator_screens_have_unique_ids_and_resolvable_labels(coordinator_client, path):
    response = coordinator_client.get(path)
    assert response.status_code == 200
    assert dangling_descriptions(response.get_data(as_text=True)) == []
