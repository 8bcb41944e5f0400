"""``flask --app clinic ...`` commands: db-upgrade, seed, load-policy, demo-sign-ins, users, serve."""

import gc
import os
from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from gunicorn.app.base import BaseApplication

from clinic import db
from clinic.api_clients_cli import api_clients_group
from clinic.bootstrap import Container, of_app, refuse_published_passwords
from clinic.demo import seed
from clinic.errors import DomainError, SeedError
from clinic.users import services as accounts
from clinic.users.models import Role
from clinic.visits import optimise


def register(app: Flask, *, factory: Callable[[], Flask]) -> None:
    """Add the commands; ``serve`` builds each gunicorn worker's app with ``factory``."""
    app.cli.add_command(db_upgrade_command)
    app.cli.add_command(seed_command)
    app.cli.add_command(load_policy_command)
    app.cli.add_command(demo_sign_ins_command)
    app.cli.add_command(users_group)
    app.cli.add_command(optimise_command)
    app.cli.add_command(api_clients_group)
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


@click.command("load-policy")
@with_appcontext
@click.option("--dir", "policy_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The unit's policy folder (default: ONEVISIT_SEED_DIR, else seed_data/).")
def load_policy_command(policy_dir: Path | None) -> None:
    """Load the unit's policy (resources, step types, pathways, outreach rules; the other rule files checked)
    WITHOUT demo patients, volunteers, users or visits: a real unit's first load. ``flask seed`` loads the demo."""
    container = _container()
    directory = Path(policy_dir or container.settings.seed_dir)
    with container.session_factory(expire_on_commit=True) as session:
        try:
            summary = seed.load_policy(session=session, directory=directory, unit=container.unit)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo("Loaded: " + ", ".join(f"{count} {name}" for name, count in summary.items()))
    if directory.resolve() != Path(container.settings.seed_dir).resolve():
        click.echo(
            f"The app reads the booking rules, touch-points and recovery limits from ONEVISIT_SEED_DIR while running: "
            f"set ONEVISIT_SEED_DIR={directory.resolve()} for these to be in force."
        )
    click.echo("No accounts were created: make the first administrator with "
               "`flask --app clinic users create NAME --role admin --name \"Full Name\"`.")


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


@click.group("users")
def users_group() -> None:
    """Staff accounts: list, create, set-role, disable, enable, reset-password, password (each change is audited)."""


def _account_change(change: Callable[..., object], username: str, **kw: object) -> object:
    with _container().session_factory() as session:
        try:
            user = accounts.user_by_name(session=session, username=username)
            return change(session=session, user_id=user.id, actor=None, **kw)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None


def _show_one_time(username: str, password: str) -> None:
    click.echo(f"One-time password for {username}: {password}")
    click.echo("It is shown only now. The first sign-in with it must choose a new password.")


@users_group.command("list")
@with_appcontext
def users_list() -> None:
    """Every account with its role and state."""
    with _container().session_factory() as session:
        for user in accounts.list_accounts(session=session):
            state = "active" if user.active else "disabled"
            if user.must_change_password:
                state += ", must choose a new password"
            click.echo(f"  {user.username:<20} {user.role.value:<12} {state:<12} {user.display_name}")


ROLE_CHOICE = click.Choice([role.value for role in Role])


@users_group.command("create")
@with_appcontext
@click.argument("username")
@click.option("--role", type=ROLE_CHOICE, required=True)
@click.option("--name", "display_name", required=True, help="The name shown in the header and the audit log.")
@click.option("--language", type=click.Choice(["en", "nl", "fr"]), default=None)
def users_create(username: str, role: str, display_name: str, language: str | None) -> None:
    """Create an account; prints its one-time password (changed at the first sign-in)."""
    with _container().session_factory() as session:
        try:
            user, password = accounts.create_account(
                session=session, username=username, display_name=display_name, role=role, language=language
            )
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"Created {user.username} ({user.role.value}).")
    _show_one_time(user.username, password)


@users_group.command("set-role")
@with_appcontext
@click.argument("username")
@click.argument("role", type=ROLE_CHOICE)
def users_set_role(username: str, role: str) -> None:
    """Give an account another role."""
    _account_change(accounts.set_role, username, role=role)
    click.echo(f"{username.strip().lower()} is now {role}.")


@users_group.command("disable")
@with_appcontext
@click.argument("username")
def users_disable(username: str) -> None:
    """Disable an account: it cannot sign in, and its open sessions end at once."""
    _account_change(accounts.set_active, username, active=False)
    click.echo(f"{username.strip().lower()} is disabled; its sessions have ended.")


@users_group.command("enable")
@with_appcontext
@click.argument("username")
def users_enable(username: str) -> None:
    """Enable a disabled account again."""
    _account_change(accounts.set_active, username, active=True)
    click.echo(f"{username.strip().lower()} is enabled.")


@users_group.command("password")
@with_appcontext
@click.argument("username")
@click.password_option(help="The new password (asked for, twice and hidden, when not given).")
def users_password(username: str, password: str) -> None:
    """Give USERNAME a password you choose (under the password policy); their sessions on every device end.
    ``reset-password`` is usually better: nobody but the user then knows the password they keep."""
    _account_change(accounts.set_password, username, password=password)
    click.echo(f"New password set for {username.strip().lower()}; their sessions have ended.")


@users_group.command("reset-password")
@with_appcontext
@click.argument("username")
def users_reset_password(username: str) -> None:
    """A one-time password for the account: its sessions end, the next sign-in must choose a new password."""
    password = _account_change(accounts.reset_password, username)
    _show_one_time(username.strip().lower(), str(password))


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
    @with_appcontext
    def serve(host: str, port: int, workers: int) -> None:
        """Serve the app with gunicorn (each worker builds its own app from the same environment).

        Outside development it refuses to start while an account has a published demo password."""
        refuse_published_passwords(_container())
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
