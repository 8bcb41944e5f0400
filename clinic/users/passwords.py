"""The password policy: at least 12 characters, not a common or published password, not containing the user name.

No strength library: the three rules are what the hospital asked for, and a list of the passwords people
actually pick (and the demo's own, printed in the README) catches the guesses that throttling alone would not.
"""

import secrets

from clinic.errors import ValidationError

MIN_LENGTH = 12
MAX_LENGTH = 200
#: Passwords published with OneVisit (README, ``seed_data/users.yaml``): never acceptable on a real account.
PUBLISHED_PASSWORDS = frozenset({"onevisit-demo"})
#: Passwords of 12 or more characters that lists of leaked passwords show people choose most (compared
#: case-insensitively, ignoring spaces).
COMMON_PASSWORDS = frozenset({
    "123456789012", "1234567890123", "12345678901234", "123456789123", "1234567891011", "111111111111",
    "000000000000", "123123123123", "qwertyuiopas", "qwertyuiop123", "qwerty123456", "1q2w3e4r5t6y",
    "1qaz2wsx3edc", "qazwsxedcrfv", "zaq12wsxcde3", "passwordpassword", "password1234", "password12345",
    "password123456", "password@123", "password!123", "p@ssw0rd1234", "passw0rd1234", "wachtwoord123",
    "wachtwoord1234", "wachtwoord12", "motdepasse123", "motdepasse1234", "welkom123456", "welcome12345",
    "welcome123456", "welkomwelkom", "iloveyou1234", "letmein12345", "changeme1234", "administrator",
    "administrator1", "admin1234567", "admin123456789", "adminadmin12", "trustno11234", "sunshine1234",
    "football1234", "baseball1234", "princess1234", "monkey123456", "dragon123456", "master123456",
    "superman1234", "starwars1234", "ziekenhuis123", "ziekenhuis1234", "hopital12345", "hospital1234",
    "hospital12345", "onevisit1234", "onevisit12345", "onevisit-demo", "onevisitdemo", "abcdefghijkl",
    "abcdefgh1234", "abc123456789", "aaaaaaaaaaaa", "asdfghjkl123", "asdfasdfasdf", "zxcvbnm12345",
    "qwertyqwerty", "azertyuiop12", "azerty123456", "1234qwerasdf", "summer2024!!", "winter2024!!",
    "zomer2025!!!", "welkom2025!!", "januari2026!", "december2026",
})


def _plain(text: str) -> str:
    return "".join(text.split()).lower()


def check(password: str, *, username: str) -> None:
    """``ValidationError`` on ``password`` (code ``password_too_short``, ``password_too_long``,
    ``password_common`` or ``password_has_username``; ``params`` fill the message) when it breaks a rule."""
    if len(password) < MIN_LENGTH:
        raise ValidationError(
            f"use at least {MIN_LENGTH} characters", code="password_too_short", field="password", min=MIN_LENGTH
        )
    if len(password) > MAX_LENGTH:
        raise ValidationError(
            f"use at most {MAX_LENGTH} characters", code="password_too_long", field="password", max=MAX_LENGTH
        )
    plain = _plain(password)
    if plain in COMMON_PASSWORDS or plain in PUBLISHED_PASSWORDS:
        raise ValidationError(
            "this password is too common (or published): choose another", code="password_common", field="password"
        )
    name = _plain(username)
    if len(name) >= 3 and name in plain:
        raise ValidationError(
            "the password must not contain the user name", code="password_has_username", field="password"
        )


def one_time_password() -> str:
    """A random password for a reset or a new account: 20 letters and digits in groups, easy to read out."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    groups = ("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))
    return "-".join(groups)
