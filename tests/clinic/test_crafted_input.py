"""No 500 on crafted input: every route of the app, walked from ``app.url_map`` as the roles that may see it,
with ids beyond PostgreSQL's ``integer``, NUL bytes, only spaces, years 1 and 9999, a date that does
not exist, ``%`` and ``_`` and very long text in its path, its query and its forms. Run with
``DATABASE_URL=postgresql+psycopg://...`` for PostgreSQL.
"""

import datetime as dt
import functools
import re
from html.parser import HTMLParser

import pytest
from sqlmodel import select
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import Rule

from clinic.users.models import Role
from tests.conftest import csrf_token_from
from tests.factories import make_pathway, make_patient, make_unit

ROLES = (Role.ADMIN, Role.COORDINATOR, Role.FRONT_DESK, Role.VOLUNTEER)
BIG_IDS = ("2147483648", "9223372036854775808", "99999999999999999999999")
CRAFTED = (
    *BIG_IDS, "-2147483649", "1e309", "a\x00b", "\x00",
    "0001-01-01", "9999-12-31", "0001-01", "9999-12", "9999",
    "%", "_", "%_%", "x" * 3000, "'; --", "<script>", " \r\n\t", "2026-13-45",
)
#: Query parameters read outside the pages' GET forms.
EXTRA_KEYS = ("day", "date", "month", "page", "q", "next", "show", "first", "segment", "patient_id", "visit_id",
              "pathway", "weekdays", "status", "channel", "action", "entity", "user", "from", "to", "kind")
#: Routes that are not pages of the app (served files, Twilio's webhooks, signed links with their own tests).
SKIP_GET = {"static"}


class _Names(HTMLParser):
    """The input names of a page's forms, split by method."""

    def __init__(self) -> None:
        super().__init__()
        self.method = "get"
        self.names: dict[str, set[str]] = {"get": set(), "post": set()}

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.method = (attributes.get("method") or "get").lower()
        elif tag in ("input", "select", "textarea") and attributes.get("name"):
            self.names.setdefault(self.method, set()).add(attributes["name"])


class _Forms(HTMLParser):
    """The POST forms of a page: where each goes and the values a browser would send unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), {}) if a.get("method", "get").lower() == "post" else ("", None))
            return
        if not self.forms or self.forms[-1][1] is None:
            return
        fields = self.forms[-1][1]
        name = a.get("name")
        if tag in ("input", "button") and name and name not in fields:
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                fields[name] = a.get("value", "")
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and (self._select not in fields or "selected" in a):
            fields[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            fields[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea and self.forms and self.forms[-1][1] is not None:
            self.forms[-1][1][self._textarea] += data


def _post_forms(html: str, page: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Forms()
    parser.feed(html)
    return [(action or page, fields) for action, fields in parser.forms if fields is not None]


def _names(html: str) -> dict[str, set[str]]:
    parser = _Names()
    parser.feed(html)
    return parser.names


class _Reads:
    """The query parameters the views read during the requests since ``start()``: by name, or all of them
    when a view went through the whole query (``items()``, iteration, ``to_dict()``...). Only reads made while
    a view function runs count (the app's NUL check before every view reads every parameter)."""

    in_view = False
    keys: set[str] = set()
    everything = False
    form_read = False

    @classmethod
    def start(cls) -> None:
        cls.keys, cls.everything, cls.form_read = set(), False, False


class _RecordedArgs(ImmutableMultiDict):
    def _read(self, key) -> None:
        if _Reads.in_view:
            _Reads.keys.add(key)

    def _read_all(self) -> None:
        if _Reads.in_view:
            _Reads.everything = True

    def __getitem__(self, key):
        self._read(key)
        return super().__getitem__(key)

    def get(self, key, default=None, type=None):
        self._read(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):
        self._read(key)
        return super().getlist(key, type)

    def __contains__(self, key) -> bool:
        self._read(key)
        return super().__contains__(key)


class _RecordedForm(_RecordedArgs):
    """A form whose fields a view looked at, any of them, sets ``_Reads.form_read``."""

    def _read(self, key) -> None:
        self._read_all()

    def _read_all(self) -> None:
        if _Reads.in_view:
            _Reads.form_read = True


def _reading_all(method):
    @functools.wraps(method)
    def whole(self, *args, **kwargs):
        self._read_all()
        return method(self, *args, **kwargs)

    return whole


for _name in ("__iter__", "items", "keys", "values", "lists", "listvalues", "to_dict", "copy", "__copy__",
              "deepcopy", "__deepcopy__"):
    setattr(_RecordedArgs, _name, _reading_all(getattr(ImmutableMultiDict, _name)))


def _record_query_reads(app) -> None:
    """This test app's requests hand their views a query that notes which parameters they read, and a form
    that notes whether they read it."""

    class RecordingRequest(app.request_class):
        @property
        def args(self) -> _RecordedArgs:
            if "_recorded_args" not in self.__dict__:
                self.__dict__["_recorded_args"] = _RecordedArgs(super().args)
            return self.__dict__["_recorded_args"]

        def _load_form_data(self) -> None:
            super()._load_form_data()
            if not isinstance(self.__dict__.get("form"), _RecordedForm):
                self.__dict__["form"] = _RecordedForm(self.__dict__["form"])

    def in_view(view):
        @functools.wraps(view)
        def run(*args, **kwargs):
            _Reads.in_view = True
            try:
                return view(*args, **kwargs)
            finally:
                _Reads.in_view = False

        return run

    app.request_class = RecordingRequest
    app.view_functions.update({name: in_view(view) for name, view in app.view_functions.items()})


@pytest.fixture
def world(app, session, signed_in):
    """The demo clinic, so pages show their rows and forms, and a client per role."""
    from clinic.demo.seed import load_demo
    from clinic.patients.models import Patient
    from clinic.settings import SEED_DIR
    from clinic.visits.models import Visit

    load_demo(session=session, directory=SEED_DIR, unit=make_unit())
    clients = {}
    for role in ROLES:
        clients[role] = app.test_client()
        signed_in(clients[role], role, username=f"walker-{role.value}".replace("_", "-"))
    clients["api"] = app.test_client()
    clients["api"].environ_base["HTTP_AUTHORIZATION"] = f"Bearer {_api_token(session)}"
    patient = session.exec(select(Patient).order_by(Patient.id)).first()
    visit = session.exec(select(Visit).where(Visit.date >= dt.date.today()).order_by(Visit.date, Visit.id)).first()
    return {"clients": clients, "ids": {"patient_id": patient.id, "visit_id": visit.id}}


def _api_token(session) -> str:
    """A bearer token of an API client that may read and write everything, so the FHIR API's views (not only
    its token check) get the crafted values."""
    from clinic.fhir import services

    client = services.create_client(session=session, name="crafted-walker", scopes="system/*.*", actor_id=None)
    return services.issue_token(session=session, client_id=client.id, actor_id=None)[1]


FHIR_BLUEPRINTS = ("fhir", "fhir_ops")


def _url(rule: Rule, ids: dict, crafted: str | None = None) -> str:
    path = rule.rule
    for argument in rule.arguments:
        value = crafted if crafted is not None else str(ids.get(argument, 1))
        path = re.sub(rf"<(?:[a-z]+:)?{argument}>", value.replace("\x00", "%00"), path)
    return path


def _html(response) -> str:
    """The page's text, or nothing for a download (a PDF export) whose forms there are none to find."""
    return response.get_data(as_text=True) if response.mimetype == "text/html" else ""


def _get_rules(app) -> list[Rule]:
    return sorted((r for r in app.url_map.iter_rules() if "GET" in r.methods and r.endpoint not in SKIP_GET),
                  key=lambda r: r.rule)


def _seeing(world, rule: Rule):
    """The first role's client that may open the page (a valid id where it takes one), and what it got; the
    FHIR API's routes are walked by the API client. Twilio's webhooks refuse everyone without Twilio's
    signature; they are walked all the same."""
    if rule.endpoint.split(".")[0] in FHIR_BLUEPRINTS:
        client = world["clients"]["api"]
        return client, client.get(_url(rule, world["ids"]))
    for role in ROLES:
        client = world["clients"][role]
        response = client.get(_url(rule, world["ids"]))
        if response.status_code != 403:
            return client, response
    assert rule.endpoint.startswith("twilio."), f"no role may open {rule.rule}"
    return client, response


#: Each crafted value goes into every query parameter at once, and these also one parameter at a time.
ONE_BY_ONE = ("2147483648", "a\x00b", "0001-01-01", "9999-12-31", "%_%", " \r\n\t")


def test_every_get_route_with_crafted_path_and_query_never_fails(app, world):
    """Each crafted value in the path, then in every query parameter at once; then the values of
    ``ONE_BY_ONE`` in each parameter the page's view reads, alone (a parameter it never reads cannot change
    its answer: the all-at-once requests already carry every one of them). The parameters read are noted
    while the views run, from every request to the page, so one read only once another is valid counts too;
    a view that goes through the whole query gets every parameter one at a time."""
    _record_query_reads(app)
    failures, one_by_one = [], 0
    for rule in _get_rules(app):
        _Reads.start()
        client, plain = _seeing(world, rule)
        assert plain.status_code < 500, rule.rule
        for crafted in CRAFTED if rule.arguments else ():
            response = client.get(_url(rule, world["ids"], crafted))
            if response.status_code not in (400, 403, 404):
                failures.append((rule.rule, repr(crafted[:20]), response.status_code))
        form_keys = _names(_html(plain))["get"] - {"csrf_token", "language", "next"}
        keys = set(EXTRA_KEYS) | form_keys
        for crafted in CRAFTED:
            response = client.get(_url(rule, world["ids"]), query_string={key: crafted for key in keys})
            if response.status_code >= 500:
                failures.append((rule.rule, f"?*={crafted[:20]!r}", response.status_code))
        done: set[str] = set()
        while True:
            wanted = keys | _Reads.keys if _Reads.everything else _Reads.keys
            todo = sorted(wanted - done) or ([] if done else [sorted(keys)[0]])
            if not todo:
                break
            for key in todo:
                done.add(key)
                for crafted in ONE_BY_ONE:
                    response = client.get(_url(rule, world["ids"]), query_string={key: crafted})
                    one_by_one += 1
                    if response.status_code >= 500:
                        failures.append((rule.rule, f"?{key}={crafted[:20]!r}", response.status_code))
    print("one-by-one query requests:", one_by_one)
    assert not failures, "\n".join(map(str, failures))


def test_every_form_takes_crafted_values_without_failing(app, world):
    """Every POST route, as every role, with each crafted value in every field any page's forms have (and a
    valid token). When the view read no field of the first two (a role it refuses, an id it does not find, a
    route without a form), the answer cannot depend on the values, and the other values are not sent."""
    _record_query_reads(app)
    fields: set[str] = set()
    for rule in _get_rules(app):
        _client, plain = _seeing(world, rule)
        fields |= _names(_html(plain))["post"]
    fields -= {"csrf_token"}
    failures, sent = [], 0
    for rule in sorted((r for r in app.url_map.iter_rules() if "POST" in r.methods), key=lambda r: r.rule):
        for role in ROLES:
            client = world["clients"][role]
            token = _token(client)
            _Reads.start()
            for number, crafted in enumerate(CRAFTED):
                if number == 2 and not _Reads.form_read:
                    break
                data = {name: crafted for name in fields} | {"csrf_token": token}
                response = client.post(_url(rule, world["ids"]), data=data)
                sent += 1
                if response.status_code >= 500:
                    failures.append((rule.rule, role.value, repr(crafted[:20]), response.status_code))
            for crafted in BIG_IDS if rule.arguments else ():
                response = client.post(_url(rule, world["ids"], crafted), data={"csrf_token": token})
                if not 400 <= response.status_code < 500:  # 404; 403 from Twilio's hooks; 405 beside a GET rule
                    failures.append((rule.rule, role.value, crafted, response.status_code))
    print("crafted form posts:", sent)
    assert not failures, "\n".join(map(str, failures))


#: Forms left out of the one-field-at-a-time walk: they would end the walker's session.
LEAVE_ALONE = ("/sign-out", "/language")


def test_each_field_of_each_form_takes_a_crafted_value_the_rest_as_a_browser_sends_it(app, world):
    """Every POST form on every page the walker opens, sent as the page fills it but for one crafted field,
    so the crafted value gets past the form's other checks to the service behind it."""
    failures, sent, actions = [], 0, set()
    for rule in _get_rules(app):
        client, plain = _seeing(world, rule)
        page = _url(rule, world["ids"])
        for action, fields in _post_forms(_html(plain), page):
            if action.split("?")[0] in LEAVE_ALONE or action.startswith("http"):
                continue
            actions.add(action.split("?")[0])
            for name in sorted(set(fields) - {"csrf_token"}):
                for crafted in ONE_BY_ONE + ("x" * 3000, "-1"):
                    response = client.post(action, data={**fields, name: crafted})
                    sent += 1
                    if response.status_code >= 500:
                        failures.append((page, action, name, repr(crafted[:20]), response.status_code))
    print("crafted posts:", sent, sorted(actions))
    assert sent > 100
    assert not failures, "\n".join(map(str, failures))


def _token(client) -> str:
    """A CSRF token of the client's session (any page with a form carries one: the header's language switch)."""
    for path in ("/", "/volunteer/", "/board"):
        response = client.get(path, follow_redirects=True)
        try:
            return csrf_token_from(response.get_data(as_text=True))
        except AssertionError:
            continue
    raise AssertionError("no page with a form")


def test_a_nul_in_a_form_is_refused_and_stores_nothing(desk_client, session, post_form):
    from sqlmodel import select

    from clinic.refill.models import WaitlistEntry

    patient, pathway = make_patient(session), make_pathway(session)
    day = dt.date.today() + dt.timedelta(days=3)
    data = {"patient": patient.mrn, "pathway": str(pathway.id), "priority": "3", "earliest_date": day.isoformat(),
            "latest_date": day.isoformat(), "min_notice_hours": "24", "notes": "mornings\x00please"}
    assert post_form(desk_client, "/waitlist", data).status_code == 400
    assert session.exec(select(WaitlistEntry)).first() is None
    assert post_form(desk_client, "/waitlist", {**data, "notes": "mornings"}).status_code == 302


def test_years_1_and_9999_in_a_date_filter_are_a_clear_field_error(coordinator_client):
    for path in ("/board?day=9999-12-31", "/outbox?day=0001-01-01", "/audit?date_from=0001-01-01"):
        response = coordinator_client.get(path)
        assert response.status_code in (200, 400), path
        assert "Choose a date from 1900 to 2999." in response.get_data(as_text=True), path


def test_an_id_beyond_the_database_integer_is_not_found(desk_client):
    assert desk_client.get("/patients/2147483648").status_code == 404
    assert desk_client.get("/patients/2147483647").status_code == 404
