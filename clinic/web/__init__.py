"""Blueprints of the web app and the hook that registers them."""

from flask import Flask


def register_web(app: Flask) -> None:
    from clinic.web import auth, board, errors, health, home, language, volunteer
    from clinic.web.nav import init_app as init_nav

    auth.init_app(app)
    language.init_app(app)
    errors.init_app(app)
    init_nav(app)
    for module in (auth, home, board, volunteer, language, health):
        app.register_blueprint(module.bp)
    from clinic.web import checkout; app.register_blueprint(checkout.bp)  # noqa: E702, I001
    from clinic.web import audit; app.register_blueprint(audit.bp)  # noqa: E702, I001
    from clinic.web import book; app.register_blueprint(book.bp)  # noqa: E702, I001
    from clinic.web import refill; app.register_blueprint(refill.bp)  # noqa: E702, I001
    from clinic.web import waitlist; app.register_blueprint(waitlist.bp)  # noqa: E702, I001
    from clinic.web import visits, patients; app.register_blueprint(visits.bp); app.register_blueprint(patients.bp)  # noqa: E702, E401, I001
    from clinic.web import twilio_hooks; app.register_blueprint(twilio_hooks.bp)  # noqa: E702, I001
    from clinic.web import outreach; app.register_blueprint(outreach.bp)  # noqa: E702, I001
    from clinic.web import volunteers; app.register_blueprint(volunteers.bp)  # noqa: E702, I001
    from clinic.web import followups; app.register_blueprint(followups.bp)  # noqa: E702, I001
    from clinic.web import gestures; app.register_blueprint(gestures.bp)  # noqa: E702, I001
    from clinic.web import transport; app.register_blueprint(transport.bp)  # noqa: E702, I001
    from clinic.web import kbr; app.register_blueprint(kbr.bp)  # noqa: E702, I001
    from clinic.web import answers; app.register_blueprint(answers.bp)  # noqa: E702, I001
