"""After converge: the new password logs in, the old one is refused, the server log never saw the new one."""

import os

import psycopg
import pytest
import yaml


@pytest.fixture(scope='module')
def state():
    with open(os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'postgres-state.yml')) as handle:
        return yaml.safe_load(handle)


def login(state, password):
    try:
        psycopg.connect(host='127.0.0.1', port=state['molecule_pg_port'], user=state['molecule_pg_role'],
                        password=password, dbname='postgres', connect_timeout=5).close()
        return True
    except psycopg.OperationalError:
        return False


def test_new_password_logs_in(state):
    assert login(state, state['molecule_pg_new'])


def test_old_password_is_refused(state):
    assert not login(state, state['molecule_pg_old'])


def test_server_log_never_saw_a_plaintext(host, state):
    log = host.file(os.path.join(state['molecule_pg_dir'], 'postgres.log')).content_string
    assert 'ALTER ROLE "trading" PASSWORD \'SCRAM-SHA-256$4096:' in log
    assert state['molecule_pg_new'] not in log and state['molecule_pg_old'] not in log


def test_stored_as_a_scram_verifier(host, state):
    out = host.check_output('runuser -u postgres -- /usr/lib/postgresql/15/bin/psql -h %s -p %s -d postgres -Atc '
                            '"SELECT rolpassword FROM pg_authid WHERE rolname = \'trading\'"',
                            state['molecule_pg_dir'], str(state['molecule_pg_port']))
    assert out.startswith('SCRAM-SHA-256$4096:')
