"""Stands in for the Django app: reads its keys from the environment, as the app does.

Run as ``bash -c 'set -a; . APP.env; exec python app_probe.py'`` so the env file goes
through a real shell parser.  Reads one JSON request on stdin (never argv), prints one
JSON answer.  Requests: ``{"sign": value}``, ``{"unsign": signed}``,
``{"encrypt": text}``, ``{"decrypt": token}``.
"""

import json
import os
import sys

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _list(name):
    return [item for item in os.environ.get(name, '').split(',') if item]


def main():
    settings.configure(SECRET_KEY=os.environ['SECRET_KEY'], SECRET_KEY_FALLBACKS=_list('SECRET_KEY_FALLBACKS'))
    from django.core import signing

    keys = _list('FIELD_ENCRYPTION_KEYS')
    # The primary key alone must be the first of the list the app decrypts with.
    assert not keys or keys[0] == os.environ['FIELD_ENCRYPTION_KEY']
    fernet = MultiFernet([Fernet(k) for k in keys]) if keys else None
    request = json.load(sys.stdin)
    answer = {}
    if 'sign' in request:
        answer['signed'] = signing.dumps(request['sign'], salt='probe')
    if 'unsign' in request:
        try:
            answer['value'] = signing.loads(request['unsign'], salt='probe')
        except signing.BadSignature:
            answer['value'] = None
    if 'encrypt' in request:
        answer['token'] = fernet.encrypt(request['encrypt'].encode()).decode()
    if 'decrypt' in request:
        try:
            answer['text'] = fernet.decrypt(request['decrypt'].encode()).decode()
        except InvalidToken:
            answer['text'] = None
    json.dump(answer, sys.stdout)


if __name__ == '__main__':
    main()
