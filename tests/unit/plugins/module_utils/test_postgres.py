"""SCRAM-SHA-256 verifiers and the postgres_password flow against an in-memory server."""

import base64
import contextlib
import copy
import hashlib
import hmac
import re

import psycopg
import pytest

from ansible_collections.turnkey.secrets.plugins.module_utils import _postgres as pg
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError


# ------------------------------------------------------------------ SCRAM

def test_keys_match_the_rfc7677_exchange():
    # RFC 7677 section 3: user "user", password "pencil"; the proofs there come from these keys.
    salt = base64.b64decode('W22ZaJ0SNY7soEsUEjb6gQ==')
    auth_message = ('n=user,r=rOprNGfwEbeRWgbNEkqO,'
                    'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,'
                    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0').encode()
    stored_key, server_key = pg._keys('pencil', salt, 4096)
    server_signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
    assert base64.b64encode(server_signature).decode() == '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='
    client_signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = base64.b64decode('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=')
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature))
    assert hashlib.sha256(client_key).digest() == stored_key


def test_verifier_format_and_verification():
    verifier = pg.scram_verifier('correct horse')
    match = re.match(r'^SCRAM-SHA-256\$4096:([^$]+)\$([^:]+):(.+)$', verifier)
    assert match and len(base64.b64decode(match.group(1))) == 16
    assert 'correct horse' not in verifier
    assert pg.verify_scram('correct horse', verifier)
    assert not pg.verify_scram('correct horsE', verifier)
    assert pg.scram_verifier('x') != pg.scram_verifier('x'), 'salt must be random'


@pytest.mark.parametrize('stored', [None, '', 'md5abc', 'SCRAM-SHA-256$0:AAAA$AAAA:AAAA',
                                    'SCRAM-SHA-256$99999999:AAAA$AAAA:AAAA', 'SCRAM-SHA-256$4096:!!$AA:AA'])
def test_malformed_verifiers_do_not_verify(stored):
    assert not pg.verify_scram('pw', stored)


@pytest.mark.parametrize('password, prepared', [
    ('user', 'user'),                        # ASCII as is (also control characters, like PostgreSQL)
    ('a\x07b', 'a\x07b'),
    ('I\u00adX', 'IX'),                      # RFC 4013: soft hyphen mapped to nothing
    ('\u00aa', 'a'),                         # NFKC
    ('\u2168', 'IX'),
    ('sp\u00a0ace\u00e9', 'sp ace\u00e9'),   # non-ASCII space mapped to space
    ('\u00e9\u0007', '\u00e9\u0007'),        # prohibited: used unchanged, not refused
    ('\u0627\u0031', '\u0627\u0031'),        # bidi rule broken: unchanged
    ('\u0627\u0031\u0628', '\u0627\u0031\u0628'),
    ('\u00ad', '\u00ad'),                    # maps to nothing at all: unchanged
])
def test_saslprep_as_postgresql_applies_it(password, prepared):
    assert pg.saslprep(password) == prepared


def test_md5_legacy_hash():
    stored = 'md5' + hashlib.md5(b'secretapp').hexdigest()
    assert pg.verify_md5('secret', 'app', stored)
    assert not pg.verify_md5('secret', 'other', stored)


# ------------------------------------------------------------------ fake server

class Server(object):
    def __init__(self, superuser=True):
        self.superuser = superuser
        self.admin_password = 'admin-pass-1'
        self.roles = {}
        self.statements = []
        self.refuse = set()    # roles pg_hba.conf keeps out
        self.down = False

    def add(self, role, password=None, canlogin=True, stored=None):
        self.roles[role] = dict(canlogin=canlogin, stored=stored or (pg.scram_verifier(password) if password else None))

    def connect(self, params, user, password, dbname=None):
        if self.down:
            raise psycopg.OperationalError('connection failed: Connection refused')
        if user == (params.get('login_user') or 'postgres'):
            if password != self.admin_password:
                raise psycopg.OperationalError('password authentication failed for user "%s" (%s)' % (user, password))
            return Conn(self)
        role = self.roles.get(user)
        if not role or not role['canlogin'] or user in self.refuse or not pg.verify_scram(password, role['stored']):
            raise psycopg.OperationalError('password authentication failed for user "%s"' % user)
        return Conn(self)


class Cursor(object):
    def __init__(self, rows):
        self.rows = rows

    def fetchall(self):
        return self.rows


class Conn(object):
    def __init__(self, server):
        self.server = server

    def execute(self, query, params=None):
        srv = self.server
        if isinstance(query, str):
            srv.statements.append(query)
            if 'pg_roles' in query:
                return Cursor([(n, r['canlogin']) for n, r in srv.roles.items() if n in params[0]])
            if not srv.superuser:
                raise psycopg.errors.InsufficientPrivilege('permission denied for table pg_authid')
            return Cursor([(n, r['stored']) for n, r in srv.roles.items() if n in params[0]])
        text = query.as_string(None)
        srv.statements.append(text)
        match = re.match(r'^ALTER ROLE "([^"]+)" PASSWORD (?:\'([^\']*)\'|NULL)$', text)
        assert match, text
        if match.group(1) == 'forbidden':
            raise psycopg.errors.InsufficientPrivilege('permission denied to alter role')
        srv.roles[match.group(1)]['stored'] = match.group(2)
        return Cursor([])

    @contextlib.contextmanager
    def transaction(self):
        saved = copy.deepcopy(self.server.roles)
        try:
            yield
        except Exception:
            self.server.roles = saved
            raise

    def close(self):
        pass


def params(server, **kw):
    base = dict(role='app', password='new-pass-1', login_password=server.admin_password, state='present', test_login=False)
    base.update(kw)
    return base


def run(server, check_mode=False, warnings=None, **kw):
    return pg.manage(params(server, **kw), check_mode=check_mode, connector=server.connect,
                     warn=(warnings.append if warnings is not None else None))


# ------------------------------------------------------------------ flow

def test_sets_a_verifier_never_the_plaintext_then_is_idempotent():
    srv = Server()
    srv.add('app', 'old-pass-1')
    result = run(srv, test_login=True)
    assert result['changed'] and result['role'] == dict(role='app', changed=True, checked_with='pg_authid', login_tested=True)
    assert pg.verify_scram('new-pass-1', srv.roles['app']['stored'])
    assert not any('new-pass-1' in s for s in srv.statements)
    assert result['diff']['after'] == {'app': {'password': '<changed>'}}
    assert run(srv, test_login=True)['changed'] is False


def test_check_mode_decides_without_changing():
    srv = Server()
    srv.add('app', 'old-pass-1')
    result = run(srv, check_mode=True, test_login=True)
    assert result['changed'] and not result['role']['login_tested']
    assert pg.verify_scram('old-pass-1', srv.roles['app']['stored'])
    assert not any(s.startswith('ALTER') for s in srv.statements)


def test_md5_hash_is_upgraded_and_null_password_set():
    srv = Server()
    srv.add('app', stored='md5' + hashlib.md5(b'new-pass-1app').hexdigest())
    srv.add('nopw')
    items = [dict(role='app', password='new-pass-1'), dict(role='nopw', password='other-pass-2')]
    result = run(srv, role=None, password=None, roles=items)
    assert result['roles'][0]['upgraded_from'] == 'md5' and result['roles'][1]['changed']
    assert 'role' not in result
    assert pg.verify_scram('other-pass-2', srv.roles['nopw']['stored'])


def test_without_pg_authid_a_login_decides():
    srv = Server(superuser=False)
    srv.add('app', 'new-pass-1')
    assert run(srv)['role'] == dict(role='app', changed=False, checked_with='login', login_tested=False)
    srv.add('app', 'old-pass-1')
    assert run(srv)['changed']
    assert run(srv)['changed'] is False


def test_without_pg_authid_a_nologin_role_warns():
    srv = Server(superuser=False)
    srv.add('app', 'new-pass-1', canlogin=False)
    warnings = []
    assert run(srv, warnings=warnings)['changed']
    assert 'NOLOGIN' in warnings[0]


def test_missing_role_changes_nothing():
    srv = Server()
    srv.add('app', 'old-pass-1')
    with pytest.raises(TurnkeyError, match=r'role\(s\) ghost do not exist.*Nothing was changed'):
        run(srv, role=None, password=None, roles=[dict(role='app', password='new-pass-1'), dict(role='ghost', password='x-pass-1')])
    assert pg.verify_scram('old-pass-1', srv.roles['app']['stored'])


def test_nologin_role_with_test_login_fails_first():
    srv = Server()
    srv.add('app', 'old-pass-1', canlogin=False)
    with pytest.raises(TurnkeyError, match='NOLOGIN'):
        run(srv, test_login=True)
    assert pg.verify_scram('old-pass-1', srv.roles['app']['stored'])


def test_failed_test_login_restores_the_previous_verifier():
    srv = Server()
    srv.add('app', 'old-pass-1')
    before = srv.roles['app']['stored']
    srv.refuse.add('app')
    with pytest.raises(TurnkeyError, match='previous passwords were restored') as err:
        run(srv, test_login=True)
    assert 'new-pass-1' not in err.value.msg
    assert srv.roles['app']['stored'] == before


def test_failed_test_login_without_pg_authid_says_it_cannot_restore():
    srv = Server(superuser=False)
    srv.add('app', 'old-pass-1')
    srv.refuse.add('app')
    with pytest.raises(TurnkeyError, match='was not restored'):
        run(srv, test_login=True)


def test_one_transaction_for_all_roles():
    srv = Server()
    srv.add('app', 'old-pass-1')
    srv.add('forbidden', 'old-pass-2')
    with pytest.raises(TurnkeyError, match='may not change these passwords.*Nothing was changed'):
        run(srv, role=None, password=None, roles=[dict(role='app', password='new-pass-1'),
                                                  dict(role='forbidden', password='new-pass-2')])
    assert pg.verify_scram('old-pass-1', srv.roles['app']['stored'])


def test_connection_errors_are_clear_and_redacted():
    srv = Server()
    srv.add('app', 'old-pass-1')
    with pytest.raises(TurnkeyError) as err:
        run(srv, login_password='wrong-admin-pass')
    assert ("cannot connect to PostgreSQL at libpq's default Unix socket for port 5432 (database postgres) as postgres"
            in err.value.msg)
    assert 'wrong-admin-pass' not in err.value.msg and 'password authentication failed' in err.value.msg
    srv.down = True
    with pytest.raises(TurnkeyError, match='Connection refused; nothing was changed'):
        run(srv)


def test_verified_state_only_logs_in():
    srv = Server()
    srv.add('app', 'new-pass-1')
    result = run(srv, state='verified', login_password=None)
    expected = dict(role='app', changed=False, checked_with='login', login_tested=True)
    assert result == dict(changed=False, roles=[expected], role=expected)
    with pytest.raises(TurnkeyError, match=r'login with the given password failed for: app \(password authentication'):
        run(srv, state='verified', password='wrong-pass-9')
    assert srv.statements == []


@pytest.mark.parametrize('roles, message', [
    ([], 'roles is empty'),
    ([dict(role='', password='x')], r'roles\[0\]: the role name is empty'),
    ([dict(role='a', password='')], 'password of role a is empty'),
    ([dict(role='a', password='x\x00y')], 'NUL'),
    ([dict(role='a', password='x'), dict(role='a', password='y')], 'listed twice'),
])
def test_bad_input(roles, message):
    with pytest.raises(InputError, match=message):
        pg.manage(dict(roles=roles), connector=lambda *a: pytest.fail('must not connect'))
