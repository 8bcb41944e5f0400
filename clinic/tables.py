"""Every domain's tables, imported once so ``SQLModel.metadata`` is whole (migrations, tests, the
composition root).
"""

from sqlmodel import SQLModel

import clinic.audit.models  # noqa: F401
import clinic.billing.models  # noqa: F401
import clinic.booking.models  # noqa: F401
import clinic.feedback.models  # noqa: F401
import clinic.fhir.models  # noqa: F401
import clinic.hl7.models  # noqa: F401
import clinic.messaging.models  # noqa: F401
import clinic.patients.models  # noqa: F401
import clinic.privacy.models  # noqa: F401
import clinic.refill.models  # noqa: F401
import clinic.service.models  # noqa: F401
import clinic.unit.models  # noqa: F401
import clinic.users.models  # noqa: F401
import clinic.visits.models  # noqa: F401


def table_names() -> list[str]:
    """Every table, parents first (children last): empty them in reverse."""
    return [table.name for table in SQLModel.metadata.sorted_tables]
