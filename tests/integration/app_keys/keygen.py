"""Keys made at run time for the app_keys tests (a module of its own: every test directory
has a conftest.py, so ``from conftest import`` picks whichever was imported first)."""

import secrets
import string

from cryptography.fernet import Fernet

# Django's get_random_secret_key() alphabet: shell-special characters included on purpose.
DJANGO_CHARS = string.ascii_lowercase + string.digits + '!@#$%^&*(-_=+)'


def django_key():
    return ''.join(secrets.choice(DJANGO_CHARS) for dummy in range(50))


def fernet_key():
    return Fernet.generate_key().decode()
