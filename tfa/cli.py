"""Flask commands: `flask --app app create-user`, `seed-demo`, the admin commands and `db` (migrations)."""
import click
from sqlalchemy import func, select

from tfa import users
from tfa.config import BASE_DIR
from tfa.extensions import db
from tfa.models import ROLE_SYSADMIN, ROLE_USER, User

DEMO_ACCOUNTS = (
    ("admin@example.com", "Demo Admin", ROLE_SYSADMIN, "demo-admin-2fa"),
    ("user@example.com", "Demo User", ROLE_USER, "demo-user-2fa"),
)


def _user_or_fail(email):
    user = users.by_email(email)
    if user is None:
        raise click.ClickException(f"No user with email {email}")
    return user


def init_migrations(app):
    """Set up Flask-Migrate on the app; returns its `db` command group (now on app.cli)."""
    from flask_migrate import Migrate

    Migrate(app, db, directory=str(BASE_DIR / "migrations"))
    return app.cli.commands["db"]


class _MigrationsGroup(click.Group):
    """`flask db`, standing in for Flask-Migrate's group until it runs.

    Flask-Migrate and Alembic take about 10 MB, which no web worker needs: they are imported only
    when a `db` command is run (or its help is asked for).
    """

    def __init__(self, app):
        super().__init__("db", help="Perform database migrations.")
        self.app = app

    def make_context(self, info_name, args, parent=None, **extra):
        # The real group parses the arguments, and its context is the one that is invoked.
        return init_migrations(self.app).make_context(info_name, args, parent=parent, **extra)


def init_app(app):
    app.cli.add_command(_MigrationsGroup(app))

    @app.cli.command("create-user")
    @click.argument("email")
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    @click.option("--name", default="")
    @click.option("--admin", is_flag=True, help="Make the user a system administrator.")
    def create_user(email, password, name, admin):
        """Create an account."""
        try:
            user = users.create_user(email, password, name=name, role=ROLE_SYSADMIN if admin else ROLE_USER)
        except users.AccountError as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"Created {user.role} {user.email}")

    @app.cli.command("unlock")
    @click.argument("email")
    def unlock(email):
        """Unlock an account locked by failed verifications."""
        users.unlock(_user_or_fail(email))
        click.echo(f"Unlocked {email}")

    @app.cli.command("reset-2fa")
    @click.argument("email")
    def reset_2fa(email):
        """Remove every second factor of an account (the user is told by email)."""
        users.reset_two_factor(_user_or_fail(email))
        click.echo(f"Two-factor authentication of {email} was reset")

    @app.cli.command("purge-expired")
    def purge_expired():
        """Delete expired sessions, pending sign-ins and enrollments, and spent codes (run from cron)."""
        from tfa import housekeeping

        for kind, count in housekeeping.purge_expired().items():
            click.echo(f"{count} {kind}")

    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Only when there are no users yet.")
    def seed_demo(if_empty):
        """Create the demo accounts and print their passwords."""
        if if_empty and db.session.scalar(select(func.count()).select_from(User)):
            return
        for email, name, role, password in DEMO_ACCOUNTS:
            if users.by_email(email) is None:
                users.create_user(email, password, name=name, role=role, check_policy=False)
                click.echo(f"Demo {role}: {email} / {password}")
            else:
                click.echo(f"Demo {role} {email} exists already")

    @app.cli.command("rotate-keys")
    def rotate_keys():
        """Re-encrypt every stored secret under the newest key of TFA_ENCRYPTION_KEYS."""
        from tfa import crypto, keys

        try:
            count = keys.rotate_all()
        except crypto.InvalidToken:
            raise click.ClickException(
                "A stored secret cannot be decrypted with any key in TFA_ENCRYPTION_KEYS; "
                "nothing was changed. Keep the old key in the list (after the new one) and run it again."
            ) from None
        click.echo(f"Re-encrypted {count} stored secret{'' if count == 1 else 's'} under the newest key.")
