"""The translated words for what the account services refuse (password policy, last administrator...)."""

from flask_babel import gettext as _

from clinic.errors import DomainError


def account_error(error: DomainError) -> str:
    """``error`` in the reader's language; its English message when no translation is written for its code."""
    code = error.code
    if code == "password_too_short":
        return _("Use at least %(min)d characters.", min=error.params.get("min", 12))
    if code == "password_too_long":
        return _("Use at most %(max)d characters.", max=error.params.get("max", 200))
    if code == "password_common":
        return _("This password is too common (or published with OneVisit). Choose another one.")
    if code == "password_has_username":
        return _("The password must not contain your user name.")
    if code == "password_same":
        return _("Choose a new password, not the one you have now.")
    if code == "sign_in_failed":
        return _("The current password is wrong.")
    if code == "username_taken":
        return _("This user name is taken.")
    if code == "last_admin":
        return _("This is the last active administrator. Make another account an administrator first.")
    if code == "not_admin":
        return _("Only an administrator manages accounts.")
    return error.message
