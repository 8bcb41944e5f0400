"""The KBR dashboard screen and its CSV export: who may open it, what it shows, what it exports."""

import csv
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from clinic.kbr import services as kbr
from tests.clinic.kbr.kbr_data import TZ, build


def _last_monday() -> dt.date:
    today = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(TZ)).date()
    return today - dt.timedelta(days=today.weekday() + 7)


@pytest.fixture
def history(session: Session):
    return build(session, _last_monday())


def test_the_desk_may_not_open_it(desk_client) -> None:
    assert desk_client.get("/kbr/").status_code == 403
    assert desk_client.get("/kbr/export.csv").status_code == 403
    assert desk_client.get("/kbr/wait_mean.csv").status_code == 403
    assert 'href="/kbr/"' not in desk_client.get("/board").get_data(as_text=True)


def test_volunteer_gets_403(volunteer_client) -> None:
    assert volunteer_client.get("/kbr/").status_code == 403
    assert volunteer_client.get("/kbr/export.csv").status_code == 403


def test_anonymous_is_sent_to_sign_in(client) -> None:
    response = client.get("/kbr/")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_admin_may_open_it(admin_client) -> None:
    assert admin_client.get("/kbr/").status_code == 200


def test_the_dashboard_shows_every_kbr(coordinator_client, history) -> None:
    response = coordinator_client.get("/kbr/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert re.search(r'<a href="/kbr/"\s+aria-current="page">Dashboard</a>', html)
    for definition in kbr.definitions().kbrs:
        section = re.search(
            rf'<section class="kbr-card card" id="kbr-{definition.id}".*?</section>', html, re.S
        )
        assert section, definition.id
        svg = re.search(r"<svg .*?</svg>", section.group(0), re.S).group(0)
        root = ET.fromstring(svg)
        assert root.get("role") == "img"
        assert "kbr-chart__ref--target" in svg
        assert f"/kbr/{definition.id}.csv" in section.group(0)
    one_visit = re.search(r'id="kbr-one_visit_share".*?</section>', html, re.S).group(0)
    week1 = re.search(
        rf"<tr><th scope=\"row\">{history.week1}</th><td>(.*?)</td><td>(\d+)</td></tr>", one_visit
    )
    assert week1.groups() == ("50%", "2")
    no_show = re.search(r'id="kbr-no_show_rate".*?</section>', html, re.S).group(0)
    # one visit in the week under way is almost no data: not measured yet, no verdict, never "100 %"
    assert '<dd class="kbr-current"><span class="kbr-none">not measured yet</span>' in no_show
    assert (
        "kbr-verdict--missed" not in no_show and f'<th scope="row">{history.week2} (so far)</th>' in no_show
    )
    assert "This week so far" in no_show
    assert 'data-rule="wheelchair-parking"' in html and "no, an idea" in html
    assert re.search(r'<li data-level="potential"><strong>3</strong>', html)


def test_segment_filter(coordinator_client, history) -> None:
    html = coordinator_client.get("/kbr/?segment=long_distance").get_data(as_text=True)
    assert '<option value="long_distance" selected>' in html
    one_visit = re.search(r'id="kbr-one_visit_share".*?</section>', html, re.S).group(0)
    assert re.search(rf"<th scope=\"row\">{history.week1}</th><td>0%</td><td>1</td>", one_visit)
    # an unknown segment is ignored: everyone
    html = coordinator_client.get("/kbr/?segment=mars").get_data(as_text=True)
    assert '<option value="" selected>' in html


def test_csv_export(coordinator_client, history) -> None:
    response = coordinator_client.get("/kbr/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="kbr-')
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == list(kbr.CSV_HEADER)
    assert {r[0] for r in rows[1:]} == {k.id for k in kbr.definitions().kbrs}
    line = next(r for r in rows if r[0] == "one_visit_share" and r[4] == history.week1 and r[5] == "all")
    assert line[7:9] == ["50.00", "2"]

    one = coordinator_client.get("/kbr/no_show_rate.csv?segment=local")
    rows = list(csv.reader(io.StringIO(one.get_data(as_text=True))))
    assert {r[0] for r in rows[1:]} == {"no_show_rate"}
    assert next(r for r in rows if r[4] == history.week2 and r[5] == "local")[7:9] == ["", "0"]
    assert coordinator_client.get("/kbr/nothing.csv").status_code == 404


def test_the_page_speaks_the_users_language(client, signed_in, history) -> None:
    from clinic.users.models import Role

    signed_in(client, Role.COORDINATOR, username="corrie", language="nl")
    html = client.get("/kbr/").get_data(as_text=True)
    assert '<h2 id="kbr-one_visit_share-heading">Afgerond in één bezoek</h2>' in html
    assert "<q>Uw hele dagbehandeling in één bezoek.</q>" in html


def test_every_unit_is_formatted_by_babel_in_the_users_locale(app, client, signed_in, history) -> None:
    from flask_babel import force_locale

    from clinic.kbr.views import kbr_value
    from clinic.users.models import Role

    with app.test_request_context(), force_locale("en"):
        assert [kbr_value(v, u) for v, u in [(12.34, "percent"), (33.46, "minutes"), (1234.5, "hours")]] == [
            "12.3%",
            "33.5 min",
            "1,234.5 h",
        ]
        assert kbr_value(10.4835, "eur") == "€10.48" and kbr_value(None, "eur") == ""
    with app.test_request_context(), force_locale("nl"):
        assert kbr_value(12.34, "percent") == "12,3%" and kbr_value(1234.5, "eur") == "€\xa01.234,50"
    signed_in(client, Role.COORDINATOR, username="corrie", language="nl")
    html = client.get("/kbr/").get_data(as_text=True)
    cost = re.search(r'id="kbr-service_cost".*?</section>', html, re.S).group(0)
    assert "€\xa06,00" in cost  # the target, as the money in the cost table
    assert "\xa0€" not in cost and " €<" not in cost  # no home-made "0.0 €"
    assert re.search(r'<tr data-segment="long_distance">.*?€\xa088,00', cost, re.S)


def test_a_broken_kbr_file_is_explained_not_a_500(coordinator_client, monkeypatch, tmp_path) -> None:
    from clinic.kbr import services as service

    broken = tmp_path / "kbrs.yaml"
    broken.write_text(service.KBRS_PATH.read_text().replace("direction: lower", "direction: down", 1))
    monkeypatch.setattr(service, "KBRS_PATH", broken)
    response = coordinator_client.get("/kbr/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html
    assert "kbrs.yaml: KBR wait_mean: field direction: must be higher or lower" in html
    export = coordinator_client.get("/kbr/export.csv")
    assert export.status_code == 503 and "field direction" in export.get_data(as_text=True)
