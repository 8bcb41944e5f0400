"""``flask --app clinic ...`` commands: db-upgrade, seed, demo-sign-ins, users, serve."""

import gc
import os
from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from gunicorn.app.base import BaseApplication

from clinic import db
from clinic.bootstrap import Container, of_app
from clinic.demo import seed
from clinic.errors import DomainError, SeedError
from clinic.users import services as users
from clinic.visits import optimise


def register(app: Flask, *, factory: Callable[[], Flask]) -> None:
    """Add the commands; ``serve`` builds each gunicorn worker's app with ``factory``."""
    app.cli.add_command(db_upgrade_command)
    app.cli.add_command(seed_command)
    app.cli.add_command(demo_sign_ins_command)
    app.cli.add_command(users_command)
    app.cli.add_command(optimise_command)
    app.cli.add_command(serve_command(factory))


def _container() -> Container:
    return of_app(current_app)


@click.command("db-upgrade")
@with_appcontext
def db_upgrade_command() -> None:
    """Migrate the database to the newest schema."""
    db.upgrade(_container().settings.database_url)
    click.echo(f"Database at revision {db.head_revision()}.")


@click.command("seed")
@with_appcontext
@click.option("--if-empty", is_flag=True, help="Load nothing when the database already holds data.")
@click.option("--dir", "seed_dir", type=click.Path(file_okay=False, path_type=Path), help="Seed directory.")
@click.option(
    "--history-weeks", type=click.IntRange(0, 52), default=12, show_default=True,
    help="Weeks of past visits, messages and surveys for the KBR dashboard (0: none).",
)  # fmt: skip
def seed_command(if_empty: bool, seed_dir: Path | None, history_weeks: int) -> None:
    """Load the demo clinic (resources, pathways, patients, users, two weeks of visits) in one transaction."""
    container = _container()
    directory = seed_dir or Path(container.settings.seed_dir)
    with container.session_factory(expire_on_commit=True) as session:
        if if_empty and not seed.is_empty(session=session):
            click.echo("Database already holds data; nothing loaded.")
            return
        try:
            summary = seed.load_demo(
                session=session,
                directory=directory,
                unit=container.unit,
                history_weeks=history_weeks,
            )
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo("Loaded: " + ", ".join(f"{count} {name}" for name, count in summary.items()))


@click.group("users")
def users_command() -> None:
    """Staff accounts: a new password, disable or enable (each ends every session of the account)."""


def _change_user(username: str, change: Callable[..., object], **values: object) -> None:
    with _container().session_factory() as session:
        user = users.user_by_name(session=session, username=username)
        if user is None:
            raise click.ClickException(f"no user {username!r}")
        try:
            change(session=session, user_id=user.id, **values)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None


@users_command.command("password")
@with_appcontext
@click.argument("username")
@click.password_option(help="The new password (asked for when not given).")
def password_command(username: str, password: str) -> None:
    """Give USERNAME a new password; their sessions on every device end."""
    _change_user(username, users.change_password, password=password)
    click.echo(f"New password set for {username}; their sessions have ended.")


@users_command.command("disable")
@with_appcontext
@click.argument("username")
def disable_command(username: str) -> None:
    """Disable USERNAME: they can no longer sign in and their sessions end at once."""
    _change_user(username, users.set_active, active=False)
    click.echo(f"{username} is disabled; their sessions have ended.")


@users_command.command("enable")
@with_appcontext
@click.argument("username")
def enable_command(username: str) -> None:
    """Let USERNAME sign in again."""
    _change_user(username, users.set_active, active=True)
    click.echo(f"{username} may sign in again.")


@click.command("demo-sign-ins")
@with_appcontext
@click.option("--dir", "seed_dir", type=click.Path(file_okay=False, path_type=Path), help="Seed directory.")
def demo_sign_ins_command(seed_dir: Path | None) -> None:
    """Print the demo sign-ins (user name, role, password) from seed_data/users.yaml."""
    try:
        users = seed.read_users(Path(seed_dir or _container().settings.seed_dir))
    except SeedError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("Demo sign-ins:")
    for user in users:
        click.echo(f"  {user.username:<12} {user.role.value:<12} password: {user.password}")


@click.command("optimise")
@with_appcontext
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--dry-run", is_flag=True, help="Show what would move; write nothing.")
@click.option("--seconds", type=click.FloatRange(0.5, 600), help="Solver budget (default ONEVISIT_OPTIMISE_SECONDS).")
def optimise_command(day, dry_run: bool, seconds: float | None) -> None:
    """Re-arrange the not-started visits of DAY (YYYY-MM-DD) inside their announced arrivals."""
    container = _container()
    settings = container.settings
    budget = seconds or settings.optimise_seconds
    with container.session_factory() as session:
        try:
            if dry_run:
                preview = optimise.preview_optimisation(
                    session=session, day=day.date(), unit=container.unit, time_limit=budget
                )
                click.echo(
                    f"{day.date()}: waiting {preview.wait_before} -> {preview.wait_after} min, idle chair-minutes "
                    f"{preview.idle_chair_before} -> {preview.idle_chair_after}; {len(preview.moves)} steps of "
                    f"{len(preview.moved_visits)} visits would move (dry run, nothing written)."
                )
                return
            result = optimise.optimise_day(
                session=session, day=day.date(), unit=container.unit, time_limit=budget
            )
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None
    if result.skipped:
        raise click.ClickException(f"{result.day}: not optimised ({result.skipped})")
    click.echo(
        f"{result.day}: waiting {result.wait_before} -> {result.wait_after} min; {result.applied} steps moved."
    )


def serve_command(factory: Callable[[], Flask]) -> click.Command:
    @click.command("serve")
    @click.option("--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="HOST or 127.0.0.1")
    @click.option(
        "--port", type=int, default=lambda: int(os.environ.get("PORT", "5000")), show_default="PORT or 5000"
    )
    @click.option("--workers", type=int, default=2, show_default=True)
    def serve(host: str, port: int, workers: int) -> None:
        """Serve the app with gunicorn (each worker builds its own app from the same environment)."""
        class _Server(BaseApplication):
            def load_config(self) -> None:
                self.cfg.set("bind", f"{host}:{port}")
                self.cfg.set("workers", workers)
                self.cfg.set("accesslog", "-")

            def load(self) -> Flask:
                app = factory()
                # The app's ~135k start-up objects never die: moving them out of the collector's reach stops
                # full GC passes over them, which otherwise put 50-160 ms on a few requests in a hundred
                # (docs/performance.md, day board p95).
                gc.collect()
                gc.freeze()
                return app

        click.echo(f"Serving OneVisit on http://{host}:{port}/ ({workers} workers)")
        _Server().run()

    return serve
