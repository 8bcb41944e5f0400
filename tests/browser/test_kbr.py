"""Issue 6's dashboard in a real browser on the demo clinic with 12 weeks of history: the coordinator opens
the KBR dashboard, every KBR has a rendered chart and a figure, the segment filter works, CSV downloads."""

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from clinic.bootstrap import of_app
from clinic.demo.seed import load_demo
from clinic.kbr import services as kbr
from tests.browser.pages import choose_language

pytestmark = pytest.mark.browser

SEED_DIR = Path(__file__).resolve().parents[2] / "seed_data"


def test_the_coordinator_reads_the_kbr_dashboard(app, live_server, page, session, screenshot_dir):
    load_demo(session=session, directory=SEED_DIR, unit=of_app(app).unit, now=dt.datetime.now(dt.UTC), history_weeks=12)
    definitions = kbr.definitions().kbrs

    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{live_server}/sign-in")
    page.get_by_label("User name").fill("coordinator")
    page.get_by_label("Password").fill("onevisit-demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/board")
    choose_language(page, "en")

    page.get_by_role("link", name="Dashboard").click()
    expect(page).to_have_url(f"{live_server}/kbr/")
    expect(page.get_by_role("heading", name="KBR dashboard", level=1)).to_be_visible()
    for definition in definitions:
        card = page.locator(f"#kbr-{definition.id}")
        expect(card.get_by_role("heading", name=definition.name, level=2)).to_be_visible()
        chart = card.locator("svg.kbr-chart")
        expect(chart).to_be_visible()
        assert chart.locator("circle").count() >= 8, definition.id  # at least 8 of the 12 weeks have a figure
        expect(chart.locator(".kbr-chart__ref--target line")).to_have_count(1)
        assert chart.bounding_box()["height"] > 100
        # a figure for the 12 weeks in the segment table (everyone's row)
        expect(card.locator('table.kbr-segments tr[data-segment="all"] td').nth(1)).not_to_have_text("no figure")
    expect(page.locator("table.kbr-rules tbody tr")).to_have_count(12)
    expect(page.locator('li[data-level="augmented"] strong')).to_have_text("6")
    page.screenshot(path=str(screenshot_dir / "kbr-dashboard.png"), full_page=False)
    page.locator("#kbr-service_cost").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "kbr-costs.png"), full_page=False)

    weekly = "#kbr-one_visit_share details table"  # the chart's data table (folded away)
    before = page.locator(weekly).text_content()
    page.get_by_label("Segment", exact=True).select_option("long_distance")  # submits itself
    expect(page).to_have_url(f"{live_server}/kbr/?segment=long_distance")
    expect(page.get_by_label("Segment", exact=True)).to_have_value("long_distance")
    expect(page.locator("#chart-one_visit_share title")).to_contain_text("Long distance")
    assert page.locator(weekly).text_content() != before

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download all as CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith("-long_distance.csv")
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0] == list(kbr.CSV_HEADER)
    assert {r[0] for r in rows[1:]} == {d.id for d in definitions}
    assert {r[5] for r in rows[1:] if r[6] == "" and "/" not in r[4]} >= {"long_distance"}

    with page.expect_download() as download_info:
        page.locator("#kbr-wait_p90").get_by_role("link", name="Download 90th percentile wait").click()
    assert download_info.value.suggested_filename.startswith("kbr-wait_p90-")
    assert problems == [], problems
