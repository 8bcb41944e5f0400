"""``/board``: the front desk's day board (counts per status, then every visit of the day)."""

from flask import Blueprint, current_app, render_template, request, url_for
from flask_login import current_user

from clinic.web.clock import clinic_today
from clinic.web.forms import BoardDayForm
from clinic.web.labels import SEGMENT_LABELS, VISIT_STATUS_LABELS, label
from clinic.web.roles import ADMIN, COORDINATOR, FRONT_DESK, roles_required

bp = Blueprint("board", __name__)


@bp.get("/board")
@roles_required(FRONT_DESK, COORDINATOR, ADMIN)
def day():
    from datetime import timedelta

    from clinic.db import get_session
    from clinic.services.visits import day_board

    form = BoardDayForm(request.args)
    today = clinic_today()
    shown = today
    status = 200
    if "day" in request.args:
        if form.validate() and form.day.data is not None:
            shown = form.day.data
        elif request.args.get("day"):
            status = 400
    form.day.data = shown
    config = current_app.config
    board = day_board(
        session=get_session(),
        day=shown,
        tz=config["CLINIC_TIMEZONE"],
        local_km=config["REGION_LOCAL_KM"],
        regional_km=config["REGION_REGIONAL_KM"],
    )
    return (
        render_template(
            "board/day.html",
            form=form,
            board=board,
            day=shown,
            today=today,
            previous_url=url_for("board.day", day=(shown - timedelta(days=1)).isoformat()),
            next_url=url_for("board.day", day=(shown + timedelta(days=1)).isoformat()),
            today_url=url_for("board.day"),
            status_label=lambda code: label(VISIT_STATUS_LABELS, code),
            segment_label=lambda code: label(SEGMENT_LABELS, code),
            user=current_user,
        ),
        status,
    )
