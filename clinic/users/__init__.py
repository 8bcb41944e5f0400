"""Staff accounts, sign-in and each user's language."""
