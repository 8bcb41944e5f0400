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
