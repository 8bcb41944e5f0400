"""``register_web``: mounts every domain's blueprints on the app (only the app factory imports this)."""

from flask import Flask

from clinic.audit import views as audit_views
from clinic.billing import views as billing_views
from clinic.booking import series_views
from clinic.booking import views as booking_views
from clinic.feedback import views as feedback_views
from clinic.fhir import admin_views as api_client_views
from clinic.fhir import operations_views
from clinic.fhir import views as fhir_views
from clinic.hl7 import views as hl7_views
from clinic.kbr import views as kbr_views
from clinic.messaging import answers_views, inbound_views, outbox_views
from clinic.patients import views as patients_views
from clinic.privacy import views as privacy_views
from clinic.refill import views as refill_views
from clinic.refill import waitlist_views
from clinic.service import recovery_views, transport_views, volunteer_home_views, volunteers_views
from clinic.users import accounts_views, language_views
from clinic.users import views as users_views
from clinic.visits import board_views, optimise_views
from clinic.visits import views as visits_views
from clinic.web import crafted, errors, health, home
from clinic.web.nav import init_app as init_nav

BLUEPRINT_MODULES = (
    users_views, home, board_views, volunteer_home_views, language_views, health,
    billing_views, audit_views, booking_views, series_views, refill_views, waitlist_views, visits_views,
    patients_views, inbound_views, outbox_views, volunteers_views, feedback_views, recovery_views,
    transport_views, kbr_views, answers_views, optimise_views, privacy_views, accounts_views, fhir_views,
    api_client_views, operations_views, hl7_views,
)


def register_web(app: Flask) -> None:
    crafted.init_app(app)
    users_views.init_app(app)
    language_views.init_app(app)
    errors.init_app(app)
    init_nav(app)
    for module in BLUEPRINT_MODULES:
        app.register_blueprint(module.bp)
