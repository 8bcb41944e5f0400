"""The test run's cheaper password hashes (``tests/quick_hashes.py``) are real scrypt hashes, checked as any."""

import pytest
from werkzeug.security import generate_password_hash

from clinic.users.services import SignInError, authenticate
from tests.factories import make_user


def test_a_test_user_has_a_salted_scrypt_hash_that_names_its_cost(session):
    one = make_user(session, username="one", password="same-password-1")
    two = make_user(session, username="two", password="same-password-1")
    assert one.password_hash.startswith("scrypt:1024:8:1$")
    assert one.password_hash != two.password_hash
    assert authenticate(session=session, username="one", password="same-password-1") == one
    with pytest.raises(SignInError):
        authenticate(session=session, username="one", password="same-password-2")


def test_a_hash_at_werkzeugs_own_cost_is_still_checked(session):
    user = make_user(session, username="full", password="full-cost-pass")
    user.password_hash = generate_password_hash("full-cost-pass", method="scrypt")
    assert user.password_hash.startswith("scrypt:32768:8:1$")
    session.add(user)
    session.commit()
    assert authenticate(session=session, username="full", password="full-cost-pass") == user
