"""``/kbr/``: the coordinator's KBR dashboard (a chart per KBR, the current week against target and
promise, the breakdown per segment, the service level of each outreach rule) and its CSV export."""

import csv
import io
from decimal import Decimal

from babel import numbers
from flask import Blueprint, Response, render_template, request
from flask_babel import format_currency, format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from clinic.db import get_session
from clinic.errors import DomainError
from clinic.kbr import figures as fig
from clinic.kbr import services as kbr_service
from clinic.kbr import svg
from clinic.web.clock import clinic_today
from clinic.web.container import unit as clinic_unit
from clinic.web.nav import add_nav_item
from clinic.web.roles import ADMIN, COORDINATOR, roles_required

bp = Blueprint("kbr", __name__, template_folder="templates", url_prefix="/kbr")
add_nav_item("kbr.dashboard", _l("Dashboard"), (COORDINATOR, ADMIN))

SEGMENT_LABELS = {
    "all": _l("Everyone"),
    "local": _l("Local"),
    "regional": _l("Regional"),
    "long_distance": _l("Long distance"),
    "70+": _l("70+"),
}
CHANNEL_LABELS = {"sms": _l("SMS"), "voice": _l("Voice call"), "email": _l("E-mail")}
LEVEL_LABELS = {
    "generic": _l("Generic"),
    "expected": _l("Expected"),
    "augmented": _l("Augmented"),
    "potential": _l("Potential"),
}


def kbr_value(value: float | None, unit: str) -> str:
    """A KBR figure in the user's locale with Babel: percent and money by the locale's own patterns,
    minutes and hours as a number with one decimal at most (``12.5 min``, ``12,5 min``)."""
    if value is None:
        return ""
    rounded = Decimal(str(round(value, 1)))
    if unit == "eur":
        return format_currency(Decimal(str(round(value, 2))), clinic_unit().currency)
    if unit == "percent":
        return numbers.format_percent(rounded / 100, locale=get_locale(), decimal_quantization=False)
    number = format_decimal(rounded)
    if unit == "minutes":
        return _("%(value)s min", value=number)
    if unit == "hours":
        return _("%(value)s h", value=number)
    return number


def _segment() -> str | None:
    value = (request.args.get("segment") or "").strip()
    return value if value in fig.SEGMENTS else None


def _board(segment: str | None) -> kbr_service.Dashboard:
    return kbr_service.dashboard(
        session=get_session(),
        unit=clinic_unit(),
        today=clinic_today(),
        segment=segment,
    )


def chart(view: kbr_service.KbrView, segment: str | None):
    kbr = view.kbr

    def label(value: float) -> str:
        return kbr_value(value, kbr.unit)

    references = [svg.Reference("target", kbr.target, _("Target"))]
    if kbr.promise is not None:
        references.append(svg.Reference("promise", kbr.promise, _("Promise")))
    shown = [p for p in view.points if p.figure is not None]
    if shown:
        summary = _(
            "%(weeks)d of %(total)d weeks with a figure; latest %(week)s: %(value)s.",
            weeks=len(shown),
            total=len(view.points),
            week=shown[-1].week,
            value=label(shown[-1].figure.value),
        )
    else:
        summary = _("No figures in these weeks.")
    target = _("Target %(value)s.", value=label(kbr.target))
    return svg.line_chart(
        [(p.week, p.figure.value if p.figure else None) for p in view.points],
        chart_id=f"chart-{kbr.id}",
        title=f"{kbr.text('name', get_locale())} ({SEGMENT_LABELS[segment or 'all']})",
        desc=f"{summary} {target}",
        references=references,
        max_value=100 if kbr.unit == "percent" else None,
        label=label,
    )


@bp.get("/")
@roles_required(COORDINATOR, ADMIN)
def dashboard():
    segment = _segment()
    try:
        board = _board(segment)
    except DomainError as exc:
        problems = exc.params.get("problems") or [exc.message]
        return render_template("kbr/dashboard.html", board=None, problems=problems, segment=segment)
    return render_template(
        "kbr/dashboard.html",
        board=board,
        segment=segment,
        segments=SEGMENT_LABELS,
        channels=CHANNEL_LABELS,
        levels=LEVEL_LABELS,
        fmt=kbr_value,
        charts={view.kbr.id: chart(view, segment) for view in board.kbrs},
    )


def _unreadable(exc: DomainError) -> Response:
    problems = exc.params.get("problems") or [exc.message]
    text = _("The KBR definitions cannot be read:") + "\n" + "\n".join(problems) + "\n"
    return Response(text, status=503, mimetype="text/plain")


def _csv(rows: list[list[str]], filename: str) -> Response:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@bp.get("/export.csv")
@roles_required(COORDINATOR, ADMIN)
def export_all():
    segment = _segment()
    try:
        board = _board(segment)
    except DomainError as exc:
        return _unreadable(exc)
    return _csv(kbr_service.csv_rows(board=board), f"kbr-{board.current_week}-{segment or 'all'}.csv")


@bp.get("/<kbr_id>.csv")
@roles_required(COORDINATOR, ADMIN)
def export_one(kbr_id: str):
    segment = _segment()
    try:
        board = _board(segment)
    except DomainError as exc:
        return _unreadable(exc)
    if kbr_id not in {view.kbr.id for view in board.kbrs}:
        return Response(_("No KBR with this id."), status=404, mimetype="text/plain")
    return _csv(
        kbr_service.csv_rows(board=board, kbr_id=kbr_id),
        f"kbr-{kbr_id}-{board.current_week}-{segment or 'all'}.csv",
    )
