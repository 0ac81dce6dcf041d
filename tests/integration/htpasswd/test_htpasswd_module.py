"""turnkey.secrets.htpasswd through ansible-playbook -vvvv, checked by a real nginx and Apache's htpasswd."""

import grp
import json
import os
import stat

from harness import assert_no_secret, new_secret
from htpasswd_helpers import apache_add, apache_verify, file_identity, hashes

SCHEMES = ['bcrypt', 'apr_md5_crypt', 'sha512_crypt', 'sha256_crypt']
PREFIX = {'bcrypt': '$2y$10$', 'apr_md5_crypt': '$apr1$', 'sha512_crypt': '$6$', 'sha256_crypt': '$5$'}


def task(title, **args):
    return {'name': title, 'turnkey.secrets.htpasswd': args}


def assert_hashes_hidden(result, *paths):
    stored = [h for path in paths for h in hashes(path)]
    assert_no_secret(result.output, stored, 'ansible-playbook -vvvv output (a stored hash)')
    assert_no_secret(json.dumps(result.results), stored, 'task results (a stored hash)')


def test_every_scheme_check_apply_check_apply_then_rotate(tmp_path, playbook, nginx_factory):
    files = {s: tmp_path / ('%s.htpasswd' % s) for s in SCHEMES}
    values = {'%s_%s' % (k, s): new_secret() for s in SCHEMES for k in ('old', 'new', 'viewer')}

    def tasks(phase):
        return [task(s, path=str(files[s]), hash_scheme=s, users=[
            {'name': 'admin', 'password': '{{ %s_%s }}' % (phase, s)},
            {'name': 'viewer', 'password': '{{ viewer_%s }}' % s}]) for s in SCHEMES]

    check = playbook(secret_vars=values, tasks=tasks('old'), check=True)
    assert all(check.task(s)['changed'] for s in SCHEMES)
    assert not any(f.exists() for f in files.values())

    apply = playbook(secret_vars=values, tasks=tasks('old'))
    assert all(apply.task(s)['changed'] for s in SCHEMES)
    assert_hashes_hidden(apply, *files.values())
    written = {s: file_identity(files[s]) for s in SCHEMES}

    for check_mode in (True, False):
        again = playbook(secret_vars=values, tasks=tasks('old'), check=check_mode,
                         leak_check=[h for f in files.values() for h in hashes(f)])
        assert not again.changed, again.changed_tasks()
    assert {s: file_identity(files[s]) for s in SCHEMES} == written

    servers = {s: nginx_factory(files[s]) for s in SCHEMES}
    for s in SCHEMES:
        assert hashes(files[s])[0].startswith(PREFIX[s])
        assert stat.S_IMODE(os.stat(files[s]).st_mode) == 0o600
        assert servers[s].status('admin', values['old_' + s]) == 200, s
        assert servers[s].status('admin', values['new_' + s]) == 401, s
        assert servers[s].status('viewer', values['viewer_' + s]) == 200, s
        assert apache_verify(files[s], 'admin', values['old_' + s]), s
        assert apache_verify(files[s], 'viewer', values['viewer_' + s]), s

    rotate = playbook(secret_vars=values, tasks=tasks('new'))
    assert_hashes_hidden(rotate, *files.values())
    for s in SCHEMES:
        users = {u['name']: u for u in rotate.task(s)['result']['users']}
        assert users['admin']['action'] == 'updated' and users['admin']['changes'] == ['password']
        assert users['viewer']['action'] == 'unchanged'
        assert servers[s].status('admin', values['new_' + s]) == 200, s
        assert servers[s].status('admin', values['old_' + s]) == 401, s
        assert apache_verify(files[s], 'admin', values['new_' + s]), s
        assert not apache_verify(files[s], 'admin', values['old_' + s]), s


def test_files_written_by_apache_are_verified_not_rewritten(tmp_path, playbook, nginx_factory):
    path = tmp_path / 'apache.htpasswd'
    flags = {'bcrypt': ('-B', '-C', '5'), 'apr_md5_crypt': ('-m',), 'sha512_crypt': ('-5',),
             'sha256_crypt': ('-2',), 'sha1': ('-s',)}
    values = {'pw_' + s: new_secret() for s in flags}
    path.write_text('# written by Apache htpasswd\n')
    for s, extra in flags.items():
        apache_add(path, 'user_' + s, values['pw_' + s], *extra)
    before = file_identity(path)
    stored = hashes(path)
    assert stored[0].startswith('$2y$05$')

    same = playbook(secret_vars=values, leak_check=stored, tasks=[
        task(s, path=str(path), name='user_' + s, password='{{ pw_%s }}' % s, hash_scheme=s) for s in SCHEMES])
    assert not same.changed, same.changed_tasks()
    assert file_identity(path) == before

    # {SHA} is read-only: asking for bcrypt rehashes it; a new password for an apr1 user is set.
    values['rotated'] = new_secret()
    changed = playbook(secret_vars=values, leak_check=stored, tasks=[
        task('sha1 to bcrypt', path=str(path), name='user_sha1', password='{{ pw_sha1 }}', hash_scheme='bcrypt'),
        task('rotate apr1', path=str(path), name='user_apr_md5_crypt', password='{{ rotated }}',
             hash_scheme='apr_md5_crypt')])
    assert changed.task('sha1 to bcrypt')['result']['user']['changes'] == ['scheme']
    assert changed.task('rotate apr1')['result']['user']['changes'] == ['password']
    assert_hashes_hidden(changed, path)
    server = nginx_factory(path)
    assert server.status('user_sha1', values['pw_sha1']) == 200
    assert server.status('user_apr_md5_crypt', values['rotated']) == 200
    assert server.status('user_apr_md5_crypt', values['pw_apr_md5_crypt']) == 401
    for s in ('bcrypt', 'sha512_crypt', 'sha256_crypt'):
        assert apache_verify(path, 'user_' + s, values['pw_' + s])
    lines = path.read_text().splitlines()
    assert lines[0] == '# written by Apache htpasswd'
    assert [line.split(':')[0] for line in lines[1:]] == ['user_' + s for s in flags]
    assert lines[5].startswith('user_sha1:$2y$10$')


# community.general.htpasswd's other hash_scheme values: what each writes, and who accepts it.
DROP_IN = {'md5_crypt': '$1$', 'des_crypt': '', 'ldap_sha1': '{SHA}', 'plaintext': '', 'portable_apache_24': '$2y$',
           'portable': '$2y$', 'host_apache_24': '$2y$', 'portable_apache_22': '$apr1$'}
MIGRATION = ('des_crypt', 'ldap_sha1', 'plaintext')


def test_drop_in_schemes_are_verified_by_nginx_and_apache(tmp_path, playbook, nginx_factory):
    files = {s: tmp_path / ('%s.htpasswd' % s) for s in DROP_IN}
    values = {'%s_%s' % (k, s): new_secret(6) for s in DROP_IN for k in ('old', 'new')}  # 8 chars: DES keeps 8

    def tasks(phase):
        return [task(s, path=str(files[s]), name='admin', password='{{ %s_%s }}' % (phase, s), hash_scheme=s)
                for s in DROP_IN]

    first = playbook(secret_vars=values, tasks=tasks('old'))
    assert all(first.task(s)['changed'] for s in DROP_IN)
    assert 'did not set no_log' not in first.output
    for s in DROP_IN:
        warned = 'migrating old files only' in json.dumps(first.task(s)['result'].get('warnings', []))
        assert warned == (s in MIGRATION), s
    again = playbook(secret_vars=values, tasks=tasks('old'), leak_check=[h for f in files.values() for h in hashes(f)])
    assert not again.changed, again.changed_tasks()
    servers = {s: nginx_factory(files[s]) for s in DROP_IN if s != 'plaintext'}
    for s, prefix in DROP_IN.items():
        stored = hashes(files[s])[0]
        assert stored.startswith(prefix), s
        if s == 'plaintext':
            # Neither nginx nor Apache on Linux reads plain text: the value is all there is to check.
            assert stored == values['old_plaintext']
            continue
        if s == 'des_crypt':
            assert len(stored) == 13
        assert servers[s].status('admin', values['old_' + s]) == 200, s
        assert servers[s].status('admin', values['new_' + s]) == 401, s
        assert apache_verify(files[s], 'admin', values['old_' + s]), s
    rotated = playbook(secret_vars=values, tasks=tasks('new'))
    assert all(rotated.task(s)['result']['user']['changes'] == ['password'] for s in DROP_IN)
    for s, server in servers.items():
        assert server.status('admin', values['new_' + s]) == 200, s
        assert apache_verify(files[s], 'admin', values['new_' + s]) and not apache_verify(files[s], 'admin', values['old_' + s])


def test_without_hash_scheme_new_users_get_apr1_and_nobody_is_rehashed(tmp_path, playbook, nginx_factory):
    path = tmp_path / 'mixed.htpasswd'
    values = {k: new_secret() for k in ('b', 's', 'n')}
    apache_add(path, 'bcrypt_user', values['b'], '-c', '-B', '-C', '5')
    apache_add(path, 'sha_user', values['s'], '-s')
    before = file_identity(path)
    users = [{'name': 'bcrypt_user', 'password': '{{ b }}'}, {'name': 'sha_user', 'password': '{{ s }}'}]
    same = playbook(secret_vars=values, leak_check=hashes(path), tasks=[task('same', path=str(path), users=users)])
    assert not same.changed and file_identity(path) == before
    added = playbook(secret_vars=values, tasks=[task('add', path=str(path), name='new_user', password='{{ n }}')])
    assert added.changed and hashes(path)[2].startswith('$apr1$')
    assert nginx_factory(path).status('new_user', values['n']) == 200 and apache_verify(path, 'new_user', values['n'])


def test_list_form_diff_backup_and_nginx_permissions(tmp_path, playbook):
    path = tmp_path / 'dashboard.htpasswd'
    values = {k: new_secret() for k in ('admin1', 'admin2', 'oncall', 'gone')}

    def users(admin):
        return [{'name': 'admin', 'password': '{{ %s }}' % admin}, {'name': 'oncall', 'password': '{{ oncall }}'},
                {'name': 'gone', 'password': '{{ gone }}', 'state': 'present' if admin == 'admin1' else 'absent'}]

    attrs = dict(owner='root', group='www-data', mode='0640', backup=True)
    first = playbook(secret_vars=values, tasks=[task('users', path=str(path), users=users('admin1'), **attrs)])
    assert first.task('users')['result']['diff']['after'] == 'admin:<new>\noncall:<new>\ngone:<new>\n'
    st = os.stat(path)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, grp.getgrgid(st.st_gid).gr_name) == (0o640, 0, 'www-data')
    old_hashes = hashes(path)

    second = playbook(secret_vars=values, leak_check=old_hashes,
                      tasks=[task('users', path=str(path), users=users('admin2'), **attrs)])
    result = second.task('users')['result']
    assert result['diff']['before'] == 'admin:********\noncall:********\ngone:********\n'
    assert result['diff']['after'] == 'admin:<changed>\noncall:********\n'
    assert [(u['name'], u['action']) for u in result['users']] == [('admin', 'updated'), ('oncall', 'unchanged'),
                                                                   ('gone', 'removed')]
    assert result['msg'] == 'removed 1, updated 1'
    backup = result['backup_file']
    assert hashes(backup) == old_hashes and stat.S_IMODE(os.stat(backup).st_mode) == 0o600  # backups are private
    assert_hashes_hidden(second, path)


def test_bad_input_fails_with_a_clear_message_and_changes_nothing(tmp_path, playbook):
    corrupt = tmp_path / 'corrupt.htpasswd'
    corrupt.write_text('admin:$apr1$abcdefgh$EfExgQSMBXioDhIVk8IOb1\nthis line has no colon\n')
    good = tmp_path / 'good.htpasswd'
    good.write_text('admin:$apr1$abcdefgh$EfExgQSMBXioDhIVk8IOb1\n')
    before = {p: file_identity(p) for p in (corrupt, good)}
    values = {'pw': new_secret(), 'long': new_secret(60)}
    cases = {
        'colon in name': dict(path=str(good), name='bad:name', password='{{ pw }}'),
        'newline in name': dict(path=str(good), users=[{'name': 'ok', 'password': '{{ pw }}'},
                                                       {'name': 'two\nlines', 'password': '{{ pw }}'}]),
        'empty name': dict(path=str(good), name='', password='{{ pw }}'),
        'corrupt line': dict(path=str(corrupt), name='admin', password='{{ pw }}'),
        'directory': dict(path=str(tmp_path), name='admin', password='{{ pw }}'),
        'missing directory': dict(path=str(tmp_path / 'nowhere' / 'htpasswd'), name='admin', password='{{ pw }}'),
        'too long for bcrypt': dict(path=str(good), name='admin', password='{{ long }}', hash_scheme='bcrypt'),
    }
    expected = {
        'colon in name': "contains \":\" or a control character",
        'newline in name': "contains \":\" or a control character",
        'empty name': 'a user name is empty',
        'corrupt line': 'line 2 of %s is not "user:hash" (no ":")' % corrupt,
        'directory': 'is a directory',
        'missing directory': 'does not exist; create it first',
        'too long for bcrypt': '80 bytes long; bcrypt uses at most 72 bytes',
    }
    result = playbook(secret_vars=values, leak_check=['this line has no colon'],
                      tasks=[dict(task(title, **args), ignore_errors=True) for title, args in cases.items()])
    for name, fragment in expected.items():
        outcome = result.task(name)
        assert outcome['failed'], name
        assert fragment in outcome['result']['msg'], (name, outcome['result']['msg'])
        assert 'Traceback' not in json.dumps(outcome['result'])
    assert {p: file_identity(p) for p in (corrupt, good)} == before
    assert not (tmp_path / 'nowhere').exists()
