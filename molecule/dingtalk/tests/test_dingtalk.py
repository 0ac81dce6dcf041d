"""What reached the DingTalk receiver: signed, keyword-bearing messages, never a credential."""

import json
import os

import pytest

DIR = os.path.join(os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY', ''), 'dingtalk')


@pytest.fixture(scope='module')
def messages():
    with open(os.path.join(DIR, 'messages.jsonl')) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _read(name):
    with open(os.path.join(DIR, name)) as handle:
        return handle.read().strip()


def test_converge_and_idempotence_verified_the_webhook_once_each(messages):
    verifications = [m for m in messages if m['msgtype'] == 'text' and 'verified' in m['text']['content']]
    assert len(verifications) == 2


def test_alerts_arrived(messages):
    markdown = [m for m in messages if m['msgtype'] == 'markdown']
    assert len(markdown) == 1
    assert markdown[0]['markdown']['title'] == 'turnkey: rotation of db_password failed'
    assert markdown[0]['at']['atMobiles'] == ['13800000000'] and '@13800000000' in markdown[0]['markdown']['text']
    card, = [m for m in messages if m['msgtype'] == 'actionCard']
    assert card['actionCard']['singleURL'] == 'https://wiki.example.com/rotation'
    assert not [m for m in messages if 'no keyword here' in json.dumps(m)]


def test_no_credential_in_any_message(messages):
    text = json.dumps(messages)
    assert _read('token') not in text and _read('secret') not in text


def test_receiver_files_are_private(host):
    for name in ('token', 'secret', 'vault.yml'):
        assert host.file(os.path.join(DIR, name)).mode == 0o600
