"""The redis_password flow against an in-memory Redis that records every command."""

import hashlib

import pytest
import redis

from ansible_collections.turnkey.secrets.plugins.module_utils import _redis as rd
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError


def h(password):
    return hashlib.sha256(password.encode()).hexdigest()


class Server(object):
    def __init__(self, aclfile='/var/lib/redis/users.acl', config_file='/etc/redis/redis.conf'):
        self.users = {'admin': dict(passwords=[h('admin-pass-1')], flags=['on'])}
        self.config = {'aclfile': aclfile, 'requirepass': ''}
        self.config_file = config_file
        self.commands = []
        self.saved = []
        self.fail_save = False
        self.noperm_config = False

    def add(self, user, *passwords, flags=('on',)):
        self.users[user] = dict(passwords=[h(p) for p in passwords], flags=list(flags))

    def connect(self, params, user, password):
        info = self.users.get(user or 'default')
        if not info or 'on' not in info['flags'] or ('nopass' not in info['flags'] and h(password or '') not in info['passwords']):
            raise redis.AuthenticationError('invalid username-password pair or user is disabled.')
        return Client(self)

    def run(self, *args):
        self.commands.append(args)
        if args[:2] == ('ACL', 'SETUSER'):
            info = self.users[args[2]]
            for rule in args[3:]:
                if rule == 'resetpass':
                    info['passwords'] = []
                    info['flags'] = [f for f in info['flags'] if f != 'nopass']
                elif rule == 'nopass':
                    info['flags'].append('nopass')
                else:
                    assert rule.startswith('#') and len(rule) == 65, rule
                    info['passwords'].append(rule[1:])
        elif args == ('CONFIG', 'SET', 'requirepass', ''):
            self.config['requirepass'] = ''
            self.users['default'] = dict(passwords=[], flags=['on', 'nopass'])
        elif args[0] in ('ACL SAVE', 'CONFIG REWRITE'):
            if self.fail_save:
                raise redis.ResponseError('ERR There was an error trying to save the ACLs')
            self.saved.append(args[0])
        else:
            raise AssertionError(args)


class Pipeline(object):
    def __init__(self, server):
        self.server = server
        self.queued = []

    def execute_command(self, *args):
        self.queued.append(args)

    def execute(self):
        for args in self.queued:
            self.server.run(*args)


class Client(object):
    def __init__(self, server):
        self.server = server

    def acl_getuser(self, user):
        info = self.server.users.get(user)
        return None if info is None else dict(passwords=list(info['passwords']), flags=list(info['flags']))

    def config_get(self, name):
        if self.server.noperm_config:
            raise redis.ResponseError("NOPERM User admin has no permissions to run the 'config|get' command")
        return {name: self.server.config[name]}

    def info(self, section):
        return {'config_file': self.server.config_file}

    def pipeline(self, transaction=True):
        assert transaction
        return Pipeline(self.server)

    def execute_command(self, *args):
        self.server.run(*args)

    def close(self):
        pass


def run(server, check_mode=False, warnings=None, **kw):
    params = dict(user='app', password='new-pass-1', login_user='admin', login_password='admin-pass-1', persist='auto',
                  test_login=False, state='present', keep_previous=False, retire_previous=False)
    params.update(kw)
    return rd.manage(params, check_mode=check_mode, connector=server.connect,
                     warn=warnings.append if warnings is not None else None)


def sent(server):
    return ' '.join(str(a) for args in server.commands for a in args)


def test_rotation_add_keep_then_retire_sends_only_hashes():
    srv = Server()
    srv.add('app', 'old-pass-1')
    result = run(srv, keep_previous=True, test_login=True)
    assert result['user'] == dict(user='app', changed=True, action='added', passwords=2, enabled=True, login_tested=True)
    assert result['persisted'] == 'acl_save' and srv.saved == ['ACL SAVE']
    assert srv.users['app']['passwords'] == [h('new-pass-1'), h('old-pass-1')]
    assert result['diff'] == {'before': {'app': {'passwords': ['<unchanged>'], 'nopass': False}},
                              'after': {'app': {'passwords': ['<new>', '<unchanged>'], 'nopass': False}}}
    assert run(srv, keep_previous=True)['changed'] is False

    result = run(srv, retire_previous=True)
    assert result['user']['action'] == 'retired' and srv.users['app']['passwords'] == [h('new-pass-1')]
    assert run(srv, retire_previous=True)['changed'] is False
    assert 'new-pass-1' not in sent(srv) and 'old-pass-1' not in sent(srv)


def test_previous_password_keeps_exactly_that_one_and_never_brings_it_back():
    srv = Server()
    srv.add('app', 'old-pass-1', 'stale-pass-0')
    run(srv, keep_previous=True, previous_password='old-pass-1')
    assert srv.users['app']['passwords'] == [h('new-pass-1'), h('old-pass-1')]
    run(srv, retire_previous=True)
    assert run(srv, keep_previous=True, previous_password='old-pass-1')['changed'] is False
    assert srv.users['app']['passwords'] == [h('new-pass-1')]
    srv.add('other', 'stale-pass-0')
    warnings = []
    run(srv, user='other', keep_previous=True, previous_password='old-pass-1', warnings=warnings)
    assert srv.users['other']['passwords'] == [h('new-pass-1')] and 'already retired' in warnings[0]


def test_default_replaces_and_nopass_is_dropped():
    srv = Server()
    srv.add('app', flags=('on', 'nopass'))
    result = run(srv, keep_previous=True)
    assert result['user']['action'] == 'replaced'
    assert srv.users['app'] == dict(passwords=[h('new-pass-1')], flags=['on'])


def test_absent_removes_one_but_never_the_last():
    srv = Server()
    srv.add('app', 'old-pass-1', 'new-pass-1')
    assert run(srv, state='absent')['user']['action'] == 'removed'
    assert srv.users['app']['passwords'] == [h('old-pass-1')]
    assert run(srv, state='absent')['changed'] is False
    commands = len(srv.commands)
    with pytest.raises(InputError, match='would leave it no password'):
        run(srv, state='absent', password='old-pass-1')
    assert len(srv.commands) == commands


def test_check_mode_sends_nothing():
    srv = Server()
    srv.add('app', 'old-pass-1')
    result = run(srv, check_mode=True, test_login=True)
    assert result['changed'] and 'persisted' not in result and not result['user']['login_tested']
    assert srv.commands == []


def test_default_user_requirepass_is_cleared_in_the_same_transaction():
    srv = Server(aclfile='')
    srv.add('default', 'old-pass-1')
    srv.config['requirepass'] = 'old-pass-1'
    result = run(srv, user='default', login_user=None, login_password='old-pass-1', keep_previous=True)
    assert result['persisted'] == 'config_rewrite'
    assert srv.commands[0] == ('CONFIG', 'SET', 'requirepass', '')
    assert srv.commands[1][:4] == ('ACL', 'SETUSER', 'default', 'resetpass')
    assert srv.users['default'] == dict(passwords=[h('new-pass-1'), h('old-pass-1')], flags=['on'])
    assert srv.config['requirepass'] == ''


@pytest.mark.parametrize('aclfile, config_file, persist, message', [
    ('', '/etc/redis.conf', 'acl_save', 'needs an ACL file'),
    ('/x/users.acl', '/etc/redis.conf', 'config_rewrite', 'use persist=acl_save'),
    ('', '', 'config_rewrite', 'needs a config file'),
])
def test_persist_mode_is_checked_before_any_change(aclfile, config_file, persist, message):
    srv = Server(aclfile=aclfile, config_file=config_file)
    srv.add('app', 'old-pass-1')
    for check_mode in (True, False):
        with pytest.raises(InputError, match=message + '.*Nothing was changed'):
            run(srv, persist=persist, check_mode=check_mode)
    assert srv.commands == []


def test_persist_auto_without_any_file_warns_and_noperm_asks():
    srv = Server(aclfile='', config_file='')
    srv.add('app', 'old-pass-1')
    warnings = []
    assert run(srv, warnings=warnings)['persisted'] == 'none'
    assert 'lost on restart' in warnings[0]
    srv.noperm_config = True
    with pytest.raises(InputError, match='set persist to'):
        run(srv, password='new-pass-2')
    assert run(srv, password='new-pass-2', persist='none')['persisted'] == 'none'


def test_failed_persist_restores_the_previous_passwords():
    srv = Server()
    srv.add('app', 'old-pass-1')
    srv.fail_save = True
    with pytest.raises(TurnkeyError, match='persisting with acl_save failed.*previous passwords were restored'):
        run(srv)
    assert srv.users['app']['passwords'] == [h('old-pass-1')]


def test_failed_test_login_restores_and_disabled_users_fail_first():
    srv = Server()
    srv.add('app', 'old-pass-1')
    real_connect = srv.connect

    def refuse_app(params, user, password):
        if user == 'app':
            raise redis.AuthenticationError('WRONGPASS invalid username-password pair or user is disabled.')
        return real_connect(params, user, password)
    srv.connect = refuse_app
    with pytest.raises(TurnkeyError, match=r'login with the new password failed for: app \(WRONGPASS.*restored'):
        run(srv, keep_previous=True, test_login=True)
    assert srv.users['app']['passwords'] == [h('old-pass-1')] and srv.saved == []

    srv.add('off', 'old-pass-1', flags=('off',))
    with pytest.raises(TurnkeyError, match='disabled'):
        run(srv, user='off', test_login=True)


def test_missing_user_and_connection_errors():
    srv = Server()
    with pytest.raises(TurnkeyError, match=r'ACL user\(s\) ghost do not exist.*Nothing was changed'):
        run(srv, user='ghost')
    with pytest.raises(TurnkeyError, match='cannot connect to Redis at localhost:6379 as admin: invalid') as err:
        run(srv, login_password='wrong-pass-1')
    assert 'wrong-pass-1' not in err.value.msg


def test_list_form_is_one_transaction():
    srv = Server()
    srv.add('app', 'old-pass-1')
    srv.add('worker', 'old-pass-2')
    result = run(srv, user=None, password=None, keep_previous=True,
                 users=[dict(user='app', password='new-pass-1'), dict(user='worker', password='new-pass-2', keep_previous=False)])
    assert [u['action'] for u in result['users']] == ['added', 'replaced'] and 'user' not in result
    assert srv.saved == ['ACL SAVE']


def test_verified_state():
    srv = Server()
    srv.add('app', 'new-pass-1')
    assert run(srv, state='verified', login_user=None)['user'] == dict(user='app', changed=False, action='verified', login_tested=True)
    with pytest.raises(TurnkeyError, match='login with the given password failed for: app'):
        run(srv, state='verified', password='other-pass-1')


@pytest.mark.parametrize('kw, message', [
    (dict(keep_previous=True, retire_previous=True), 'exclude each other'),
    (dict(previous_password='old-pass-1'), 'needs keep_previous'),
    (dict(state='absent', keep_previous=True), 'state=present only'),
    (dict(password=''), 'empty'),
    (dict(user=None, password=None, users=[dict(user='a', password='p-1'), dict(user='a', password='p-2')]), 'listed twice'),
    (dict(user=None, password=None, users=[dict(user='a', password='p-1', state='verified'), dict(user='b', password='p-2')]),
     'cannot be mixed'),
])
def test_bad_input(kw, message):
    with pytest.raises(InputError, match=message):
        run(Server(), **kw)


def test_hash_form():
    assert rd.password_hash('foobar') == 'c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2'
