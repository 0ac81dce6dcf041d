"""After converge: the container was recreated and sees the new values; labels are in place."""

import json
import os

import pytest
import yaml

PREFIX = 'tkmolecule_'


@pytest.fixture(scope='module')
def values():
    path = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'podman-secrets-values.yml')
    with open(path) as handle:
        return yaml.safe_load(handle)


def test_container_sees_the_new_file_secret(host, values):
    out = host.check_output('podman exec %sapp cat /run/secrets/%sdb_password', PREFIX, PREFIX)
    assert out == values['molecule_db_new']


def test_container_sees_the_new_env_secret(host, values):
    out = host.check_output('podman exec %sapp printenv SECRET_KEY', PREFIX)
    assert out == values['molecule_key_new']


def test_secrets_carry_labels_and_a_salted_digest_only(host, values):
    labels = json.loads(host.check_output(
        "podman secret inspect --format '{{json .Spec.Labels}}' %sdb_password", PREFIX))
    assert labels['app'] == 'molecule'
    assert labels['turnkey.secrets.digest'].startswith('pbkdf2-sha256$')
    assert values['molecule_db_new'] not in json.dumps(labels)


def test_container_is_running(host):
    assert host.check_output("podman inspect --format '{{.State.Status}}' %sapp", PREFIX) == 'running'
