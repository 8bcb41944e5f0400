"""The HL7 feed's screen (the last messages received and their ACKs) and ``flask hl7 listen``."""

import click
from flask import Blueprint, render_template
from flask_babel import lazy_gettext as _l

from clinic.db import get_session
from clinic.hl7 import feed, listener
from clinic.web.container import container as container_of_app
from clinic.web.nav import add_nav_item
from clinic.web.roles import ADMIN, COORDINATOR, roles_required

bp = Blueprint("hl7", __name__, template_folder="templates", cli_group="hl7")
add_nav_item("hl7.inbound", _l("Patient feed"), (COORDINATOR, ADMIN))

SHOWN = 100
ACK_LABELS = {
    "AA": _l("Applied"),
    "AE": _l("Error"),
    "AR": _l("Rejected"),
}


@bp.get("/hl7/inbound")
@roles_required(COORDINATOR, ADMIN)
def inbound():
    rows = feed.recent(session=get_session(), limit=SHOWN)
    return render_template("hl7/inbound.html", rows=rows, ack_labels=ACK_LABELS, shown=SHOWN)


@bp.cli.command("listen")
@click.option("--host", help="Address to listen on (HL7_LISTEN_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (HL7_LISTEN_PORT, 2575).")
def listen_command(host: str | None, port: int | None) -> None:
    """Run the HL7 v2 ADT listener (MLLP) until stopped."""
    listener.run(container_of_app(), host=host, port=port, echo=click.echo)
