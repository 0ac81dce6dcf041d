"""rotate.yml with the postgres_alternating kind against a real PostgreSQL (log_statement=all).

Local-only environment: the controller (localhost) is the db host and the app host, whose
env file holds DB_USER and DB_PASSWORD.  The DBA's prerequisites (group role owning the
objects, login roles <role>_a and <role>_b acting as it) are created first, then
deploy.yml gives <role>_a its first password and rotate.yml runs twice: while each runs, a
separate client process keeps logging in with whatever the env file says at that moment
and must never be refused.
"""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from harness import VaultedInventory, assert_no_secret, new_secret, run_playbook
from invariants import env_values

# Logs in again and again with the env file's current DB_USER / DB_PASSWORD (re-read every
# attempt) until the stop file appears; writes its tally as JSON.  Runs in its own process.
CLIENT = textwrap.dedent('''\
    import json, os, sys, time
    import psycopg

    env_path, host, port, table, stop, out = sys.argv[1:7]

    def read_env():
        values = {}
        with open(env_path) as handle:
            for line in handle:
                key, sep, value = line.rstrip('\\n').partition('=')
                if sep:
                    values[key] = value.strip("'\\"")
        return values

    tally = {'attempts': 0, 'failures': 0, 'errors': [], 'users': [], 'last_user': None}
    while not os.path.exists(stop):
        env = read_env()
        tally['attempts'] += 1
        try:
            with psycopg.connect(host=host, port=int(port), user=env['DB_USER'], password=env['DB_PASSWORD'],
                                 dbname='postgres', connect_timeout=5) as conn:
                who, owner, rows = conn.execute(
                    'SELECT session_user, current_user, (SELECT count(*) FROM ' + table + ')').fetchone()
            if not tally['users'] or tally['users'][-1] != [who, owner]:
                tally['users'].append([who, owner])
            tally['last_user'] = who
        except Exception as exc:  # every refusal counts
            tally['failures'] += 1
            if len(tally['errors']) < 5:
                tally['errors'].append(type(exc).__name__ + ': ' + ' '.join(str(exc).split())[:300])
        with open(out + '.tmp', 'w') as handle:
            json.dump(tally, handle)
        os.replace(out + '.tmp', out)
        time.sleep(0.02)
''')


class Client(object):
    """The client process; ``stop()`` returns its tally."""

    def __init__(self, base, env_path, postgres, table):
        self.stop_file = os.path.join(base, 'client-%s.stop' % new_secret(4))
        self.out = self.stop_file + '.json'
        script = os.path.join(base, 'client.py')
        with open(script, 'w') as handle:
            handle.write(CLIENT)
        self.proc = subprocess.Popen([sys.executable, script, env_path, postgres.host, str(postgres.port), table,
                                      self.stop_file, self.out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def tally(self):
        try:
            with open(self.out) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {'attempts': 0, 'failures': 0, 'errors': [], 'users': [], 'last_user': None}

    def wait_for(self, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError('the client died: %s' % self.proc.stdout.read().decode(errors='replace')[-2000:])
            if predicate(self.tally()):
                return
            time.sleep(0.05)
        raise AssertionError('the client never got there: %s' % self.tally())

    def stop(self):
        open(self.stop_file, 'w').close()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.tally()


class AlternatingEnv(VaultedInventory):
    """An environment whose only secret is ``db`` (postgres_alternating), consumed by localhost."""

    def __init__(self, base, postgres):
        super().__init__(base, 'alt')
        self.postgres = postgres
        self.env_path = os.path.join(self.base, 'app.env')
        self.role = 'alt_' + new_secret(4).lower().replace('-', 'x').replace('_', 'x')
        self.table = self.role + '_things'
        self.seen = []  # every value the vault held: none may show in a log
        self.create_roles()
        self.write_vault({'vault_db_admin_password': postgres.admin_password})
        self.write_inventory()

    def create_roles(self):
        """What the kind's docstring tells the DBA to run once."""
        r = self.role
        for statement in (
                'CREATE ROLE %s NOLOGIN' % r,
                'CREATE ROLE %s_a LOGIN IN ROLE %s' % (r, r),
                'CREATE ROLE %s_b LOGIN IN ROLE %s' % (r, r),
                "ALTER ROLE %s_a SET role = '%s'" % (r, r),
                "ALTER ROLE %s_b SET role = '%s'" % (r, r),
                'CREATE TABLE %s (n int)' % self.table,
                'ALTER TABLE %s OWNER TO %s' % (self.table, r),
                'INSERT INTO %s VALUES (1), (2)' % self.table):
            self.postgres.sql(statement)

    def drop_roles(self):
        for statement in ('DROP TABLE IF EXISTS %s' % self.table, 'DROP ROLE IF EXISTS %s_a' % self.role,
                          'DROP ROLE IF EXISTS %s_b' % self.role, 'DROP ROLE IF EXISTS %s' % self.role):
            self.postgres.sql(statement)

    def write_inventory(self):
        with open(os.path.join(self.inventory, 'local.yml'), 'w') as handle:
            yaml.safe_dump({'all': {'hosts': {'localhost': {'ansible_connection': 'local',
                                                            'ansible_python_interpreter': sys.executable}},
                                    'children': {g: {'hosts': {'localhost': None}} for g in ('db', 'app')}}}, handle)
        main = {
            'turnkey_environment': 'alt',
            'turnkey_vault_id': 'alt',
            'turnkey_vault_password_file': self.password_file,
            'turnkey_secrets': {
                'db': {'kind': 'postgres_alternating', 'role': self.role, 'login_host': self.postgres.host,
                       'login_port': self.postgres.port, 'login_user': 'postgres',
                       'login_password': '{{ vault_db_admin_password }}'},
            },
            'turnkey_env_files': [{'path': self.env_path, 'mode': '0600',
                                   'values': {'DB_USER': 'vault_db_user', 'DB_PASSWORD': 'vault_db'}}],
        }
        with open(os.path.join(self.gv, 'main.yml'), 'w') as handle:
            yaml.safe_dump(main, handle)

    def vault(self):
        values = super().vault()
        self.seen.extend(v for k, v in values.items() if k == 'vault_db' and v not in self.seen)
        return values

    def secret_values(self):
        # The login role in use (vault_db_user) is a name, not a secret: the output names it.
        return [v for k, v in self.vault().items() if isinstance(v, str) and k != 'vault_db_user']

    def run(self, tmp_path, playbook, *args):
        before = self.secret_values()
        result = run_playbook(tmp_path, playbook=playbook, inventory=self.inventory,
                              args=self.vault_args + list(args),
                              leak_check=before, timeout=300)
        # The values written by the run were not known before it: check them now.
        assert_no_secret(result.output, self.secret_values(),
                         '%s output (values after the run)' % playbook)
        assert_no_secret(json.dumps(result.results), self.seen, '%s task results' % playbook)
        return result

    def env(self):
        return env_values(self.env_path)


@pytest.fixture
def alt(tmp_path, postgres):
    env = AlternatingEnv(tmp_path, postgres)
    yield env
    env.drop_roles()


def _logs_in(env, user, password):
    """Logs in and reads a table the group role owns (so the role acts as the group)."""
    if not env.postgres.can_login(user, password):
        return False
    with env.postgres.connect(user, password) as conn:
        who, owner, rows = conn.execute('SELECT session_user, current_user, (SELECT count(*) FROM %s)'
                                        % env.table).fetchone()
    assert (who, owner, rows) == (user, env.role, 2)
    return True


def test_alternating_users_rotate_without_a_refused_login(alt, tmp_path):
    r = alt.role
    started = time.monotonic()
    alt.run(tmp_path, 'turnkey.secrets.deploy')
    vault = alt.vault()
    assert vault['vault_db_user'] == r + '_a'
    assert alt.env() == {'DB_USER': r + '_a', 'DB_PASSWORD': vault['vault_db']}
    assert _logs_in(alt, r + '_a', vault['vault_db'])
    # _b has no password yet: nobody can log in as it.
    assert not alt.postgres.can_login(r + '_b', vault['vault_db'])
    timings = {'deploy': time.monotonic() - started}

    history = [vault]
    for number, expected in enumerate((r + '_b', r + '_a'), 1):
        before = history[-1]
        client = Client(alt.base, alt.env_path, alt.postgres, alt.table)
        try:
            client.wait_for(lambda t: t['last_user'] == before['vault_db_user'])
            started = time.monotonic()
            result = alt.run(tmp_path, 'turnkey.secrets.rotate', '-e', 'rotate_force=true')
            timings['rotate%d' % number] = time.monotonic() - started
            # Let the client log in with the new pair at least once before stopping it.
            client.wait_for(lambda t: t['last_user'] == expected)
        finally:
            tally = client.stop()
        assert tally['failures'] == 0, tally
        assert tally['attempts'] >= 10, tally
        assert [u[0] for u in tally['users']] == [before['vault_db_user'], expected], tally
        assert {u[1] for u in tally['users']} == {r}, tally
        # set and test ran on the role not in use, and only on it.
        assert result.task('Set the password of PostgreSQL role %s' % expected)['changed']
        assert not result.task('Log in with the password as PostgreSQL role %s' % expected)['failed']
        assert not [t for t in result.results if before['vault_db_user'] in t['task']], 'the role in use was touched'
        print('rotation %d: %d logins, none refused, users %s' % (number, tally['attempts'], tally['users']))

        after = alt.vault()
        history.append(after)
        assert after['vault_db_user'] == expected
        assert after['vault_db'] != before['vault_db']
        assert 'turnkey_rotation_journal' not in after
        assert alt.env() == {'DB_USER': expected, 'DB_PASSWORD': after['vault_db']}
        assert _logs_in(alt, expected, after['vault_db'])
        # The role in use before keeps its password until the next rotation.
        assert _logs_in(alt, before['vault_db_user'], before['vault_db'])
        assert not alt.postgres.can_login(before['vault_db_user'], after['vault_db'])

    # The second rotation gave _a a new password: the deploy's one is gone, the first
    # rotation's (on _b) still works.
    assert not alt.postgres.can_login(r + '_a', history[0]['vault_db'])
    assert _logs_in(alt, r + '_b', history[1]['vault_db'])
    assert len({h['vault_db'] for h in history}) == 3

    log = alt.postgres.read_log()
    assert_no_secret(log, [h['vault_db'] for h in history], 'PostgreSQL server log')
    # The server did see the password changes (as SCRAM verifiers) on both login roles.
    assert 'ALTER ROLE "%s_a" PASSWORD' % r in log or 'ALTER ROLE %s_a PASSWORD' % r in log
    assert 'ALTER ROLE "%s_b" PASSWORD' % r in log or 'ALTER ROLE %s_b PASSWORD' % r in log
    print('timings: %s' % ', '.join('%s %.1fs' % kv for kv in timings.items()))


def test_refused_test_login_changes_nothing_and_the_next_run_rotates(alt, tmp_path):
    """The inactive role may not log in: set works, test fails, the no-op rollback drops the
    pending value in the same run; consumers keep the pair in use; fixed, the next run rotates."""
    r = alt.role
    alt.run(tmp_path, 'turnkey.secrets.deploy')
    before = alt.vault()
    assert before['vault_db_user'] == r + '_a'
    alt.postgres.sql('ALTER ROLE %s_b NOLOGIN' % r)
    result = run_playbook(tmp_path, playbook='turnkey.secrets.rotate', inventory=alt.inventory,
                          args=alt.vault_args + ['-e', 'rotate_force=true'],
                          leak_check=alt.secret_values(), expect_rc=2, timeout=300)
    msg = result.task('Fail when a rotation failed or hosts still need the new values')['result']['msg']
    assert 'rotation of db failed' in msg, msg
    assert result.task('Nothing to roll back for PostgreSQL login role %s_b' % r)['failed'] is False
    after = alt.vault()
    assert after == before  # no journal entry left: dropped in this run
    assert alt.env() == {'DB_USER': r + '_a', 'DB_PASSWORD': before['vault_db']}
    assert _logs_in(alt, r + '_a', before['vault_db'])

    alt.postgres.sql('ALTER ROLE %s_b LOGIN' % r)
    alt.run(tmp_path, 'turnkey.secrets.rotate', '-e', 'rotate_force=true')
    rotated = alt.vault()
    assert rotated['vault_db_user'] == r + '_b'
    assert alt.env() == {'DB_USER': r + '_b', 'DB_PASSWORD': rotated['vault_db']}
    assert _logs_in(alt, r + '_b', rotated['vault_db'])
    assert _logs_in(alt, r + '_a', before['vault_db'])
    assert_no_secret(alt.postgres.read_log(), [before['vault_db'], rotated['vault_db']], 'PostgreSQL server log')
