"""Password hashes in the test run: scrypt with n = 2^10 instead of werkzeug's default 2^15.

The app hashes with ``werkzeug.security.generate_password_hash(password)``, whose default method is scrypt
at n = 2^15 (about 0.1 s of CPU a hash on the 2-core test machine, far more when it is loaded), and every
signed-in test creates its user (one hash) and signs in (one check), as does each demo account the demo
clinic creates. The test run changes only that default: the hashes are still scrypt with a random salt, say
their cost in their own prefix (``scrypt:1024:8:1$...``), and are checked by the same
``check_password_hash``, which reads the cost from the hash. Programs the tests start (gunicorn, the CLI)
keep werkzeug's default.
"""

import werkzeug.security

TEST_METHOD = "scrypt:1024:8:1"


def install() -> None:
    """Make ``TEST_METHOD`` the default of ``generate_password_hash`` (idempotent)."""
    function = werkzeug.security.generate_password_hash
    _method, salt_length = function.__defaults__
    function.__defaults__ = (TEST_METHOD, salt_length)
