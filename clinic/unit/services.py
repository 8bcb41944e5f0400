"""Reading the unit's set-up: its pathways."""

from sqlmodel import Session, col, select

from clinic.unit.models import Pathway


def active_pathways(*, session: Session) -> list[Pathway]:
    """The pathways a visit can be booked on today, by name."""
    return list(session.exec(select(Pathway).where(col(Pathway.active).is_(True)).order_by(col(Pathway.name))))
