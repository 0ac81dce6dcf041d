"""htpasswd hashing, parsing and planning (module_utils/_htpasswd.py); file I/O on tmp_path."""

import os
import stat
import sys
import threading

import pytest

from ansible_collections.turnkey.secrets.plugins.module_utils import _htpasswd as H
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError

# Vectors from `openssl passwd -apr1 -salt SALT PASSWORD` (throw-away words, not credentials).
APR1_VECTORS = [
    ('myPassword', 'abcdefgh', '$apr1$abcdefgh$EfExgQSMBXioDhIVk8IOb1'),
    ('', '', '$apr1$$J/S5FGXXjRRxbhIznTb/E1'),
    ('a-password-longer-than-sixteen-bytes-to-cover-loops', 'x', '$apr1$x$syCdHexTWxN/TQRrQeuxw.'),
]


def params(path, **kw):
    base = dict(path=str(path), name=None, password=None, users=None, hash_scheme='bcrypt', bcrypt_rounds=None,
                state='present', update_password='always', create=True, backup=False, mode=None, owner=None, group=None)
    base.update(kw)
    return base


@pytest.fixture
def fast(monkeypatch):
    """Cost 4 for new bcrypt hashes, so tests stay fast."""
    monkeypatch.setattr(H, 'DEFAULT_BCRYPT_ROUNDS', 4)


@pytest.fixture
def counted(monkeypatch):
    calls = {'hash': [], 'verify': []}
    real_hash, real_verify = H.hash_password, H.verify

    def hash_password(password, scheme, rounds=4):
        calls['hash'].append(password)
        return real_hash(password, scheme, rounds)

    def verify(password, hashed):
        calls['verify'].append(password)
        return real_verify(password, hashed)

    monkeypatch.setattr(H, 'hash_password', hash_password)
    monkeypatch.setattr(H, 'verify', verify)
    return calls


@pytest.mark.parametrize('password,salt,expected', APR1_VECTORS)
def test_apr1_matches_openssl(password, salt, expected):
    assert H.apr1(password.encode(), salt) == expected
    assert H.verify(password, expected)
    assert not H.verify(password + 'x', expected)


@pytest.mark.parametrize('scheme,prefix', [('bcrypt', '$2y$04$'), ('apr_md5_crypt', '$apr1$'),
                                           ('sha512_crypt', '$6$'), ('sha256_crypt', '$5$')])
def test_every_scheme_round_trips(scheme, prefix):
    hashed = H.hash_password('pässword', scheme, 4)
    assert hashed.startswith(prefix)
    assert 'rounds=' not in hashed  # 5000 rounds: the implicit crypt(3) default
    assert H.identify(hashed)[0] == scheme
    assert H.verify('pässword', hashed)
    assert not H.verify('password', hashed)


@pytest.mark.parametrize('prefix', ['$2y$', '$2b$', '$2a$'])
def test_bcrypt_prefixes_all_verify(prefix):
    hashed = prefix + H.hash_password('pw', 'bcrypt', 4)[4:]
    assert H.identify(hashed) == ('bcrypt', 4)
    assert H.verify('pw', hashed)


def test_sha1_is_verified_read_only():
    assert H.identify('{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=') == ('ldap_sha1', None)
    assert H.verify('password', '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=')
    assert not H.verify('other', '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=')


@pytest.mark.parametrize('hashed', ['', 'plaintext', 'abJnggxhB/yWX', '$y$j9T$abc$def', '{SSHA}abc', '$2y$xx$bad',
                                    '$apr1$onlysalt', '$6$broken', '$1$abc$def'])
def test_unknown_or_malformed_hashes_never_verify(hashed):
    assert H.verify('password', hashed) is False


# `openssl passwd -1 -salt SALT PASSWORD`
@pytest.mark.parametrize('password,salt,expected', [
    ('myPassword', 'abcdefgh', '$1$abcdefgh$W/8r1SWbVzbnNV3h1/PUK1'),
    ('a-password-longer-than-sixteen-bytes-to-cover-loops', 'x', '$1$x$EM8qNAClz75ZY4oWkZOuL0')])
def test_md5_crypt_matches_openssl(password, salt, expected):
    assert H.apr1(password.encode(), salt, b'$1$') == expected
    assert H.identify(expected)[0] == 'md5_crypt' and H.verify(password, expected)


@pytest.mark.parametrize('scheme,looks', [('md5_crypt', lambda h: h.startswith('$1$')),
                                          ('des_crypt', lambda h: len(h) == 13),
                                          ('ldap_sha1', lambda h: h.startswith('{SHA}')),
                                          ('plaintext', lambda h: h == 'pw-8byte')])
def test_migration_and_md5_schemes_round_trip(scheme, looks):
    hashed = H.hash_password('pw-8byte', scheme)
    assert looks(hashed)
    if scheme != 'plaintext':
        assert H.identify(hashed)[0] == scheme and H.verify('pw-8byte', hashed) and not H.verify('pw-8bytf', hashed)


def test_des_crypt_vector_and_password_limit(tmp_path):
    assert H.identify('abJnggxhB/yWI')[0] == 'des_crypt' and H.verify('password', 'abJnggxhB/yWI')
    with pytest.raises(InputError, match='9 bytes long; des_crypt uses at most 8'):
        H.manage(params(tmp_path / 'f', name='u', password='123456789', hash_scheme='des_crypt'))


@pytest.mark.parametrize('alias', ['portable_apache_24', 'portable', 'host_apache_24', 'host', 'linux_apache_24'])
def test_passlib_aliases_write_bcrypt(tmp_path, fast, alias):
    result = H.manage(params(tmp_path / 'f', name='u', password='pw', hash_scheme=alias))
    assert result['changed'] and (tmp_path / 'f').read_text().startswith('u:$2y$04$')
    assert not H.manage(params(tmp_path / 'f', name='u', password='pw', hash_scheme=alias))['changed']
    assert H.canonical('portable_apache_22') == 'apr_md5_crypt'


@pytest.mark.parametrize('scheme', ['des_crypt', 'ldap_sha1', 'plaintext'])
def test_migration_schemes_warn_and_are_idempotent(tmp_path, scheme):
    first = H.manage(params(tmp_path / 'f', name='u', password='pw-8byte', hash_scheme=scheme))
    assert first['changed'] and 'migrating old files only' in first['warnings'][0]
    assert 'pw-8byte' not in first['warnings'][0]
    again = H.manage(params(tmp_path / 'f', name='u', password='pw-8byte', hash_scheme=scheme))
    assert not again['changed'] and again['warnings']
    assert H.manage(params(tmp_path / 'f', name='u', password='pw-8bytf', hash_scheme=scheme))['changed']
    assert not H.manage(params(tmp_path / 'f', name='u', password='pw-8byte', hash_scheme='bcrypt'))['warnings']


def test_no_hash_scheme_is_community_general_default_and_rehashes_nobody(tmp_path, fast):
    path = tmp_path / 'f'
    bcrypt_line = 'old:' + H.hash_password('old-pw', 'bcrypt', 4)
    sha_line = 'sha:' + H.hash_password('sha-pw', 'ldap_sha1')
    path.write_text(bcrypt_line + '\n' + sha_line + '\n')
    users = [dict(name='old', password='old-pw'), dict(name='sha', password='sha-pw'), dict(name='new', password='pw')]
    result = H.manage(params(path, users=users, hash_scheme=None))
    assert [u['action'] for u in result['users']] == ['unchanged', 'unchanged', 'added']
    lines = path.read_text().splitlines()
    assert lines[:2] == [bcrypt_line, sha_line] and lines[2].startswith('new:$apr1$')
    changed = [dict(name='old', password='old-pw2'), dict(name='sha', password='sha-pw2')]
    assert H.manage(params(path, users=changed, hash_scheme=None))['changed']
    kept, upgraded = path.read_text().splitlines()[:2]
    assert kept.startswith('old:$2y$04$') and upgraded.startswith('sha:$apr1$')
    assert H.verify('old-pw2', kept.split(':', 1)[1]) and H.verify('sha-pw2', upgraded.split(':', 1)[1])


def test_bcrypt_missing_library_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(H, '_bcrypt_lib', None)
    with pytest.raises(InputError, match='bcrypt'):
        H.hash_password('pw', 'bcrypt')


def test_libpass_missing_only_matters_for_sha_crypt(monkeypatch):
    monkeypatch.setitem(sys.modules, 'passlib', None)
    monkeypatch.setattr(H, '_PASSLIB_READY', {})
    assert H.hash_password('pw', 'apr_md5_crypt').startswith('$apr1$')
    with pytest.raises(InputError, match='libpass'):
        H.hash_password('pw', 'sha512_crypt')


def test_parse_keeps_comments_blank_lines_and_extra_fields_byte_for_byte():
    text = '# managed\n\nalice:$apr1$x$y:Alice Smith\r\n  # indented comment\nbob:{SHA}abc'
    entries = H.parse(text, 'f')
    assert ''.join(e.render() for e in entries) == text
    assert [(e.name, e.hashed, e.tail) for e in entries if e.name] == [('alice', '$apr1$x$y', ':Alice Smith'),
                                                                       ('bob', '{SHA}abc', '')]


@pytest.mark.parametrize('line,why', [('no-colon-here', 'no ":"'), (':$apr1$x$y', 'empty user name')])
def test_corrupt_line_names_its_number_not_its_content(line, why):
    with pytest.raises(InputError) as err:
        H.parse('alice:$apr1$x$y\n%s\n' % line, '/etc/htpasswd')
    assert 'line 2 of /etc/htpasswd' in err.value.msg and why in err.value.msg
    assert line not in err.value.msg


@pytest.mark.parametrize('name', ['', 'a:b', 'a\nb', 'a\rb', 'tab\there', '#comment', ' #x'])
def test_bad_user_names(tmp_path, name):
    with pytest.raises(InputError):
        H.manage(params(tmp_path / 'f', name=name, password='pw'))
    assert not (tmp_path / 'f').exists()


def test_long_password_is_refused_for_bcrypt_only(tmp_path, fast):
    long_pw = 'é' * 37  # 74 bytes, 37 characters
    with pytest.raises(InputError, match='74 bytes long; bcrypt uses at most 72') as err:
        H.manage(params(tmp_path / 'f', name='u', password=long_pw))
    assert long_pw not in err.value.msg
    assert H.manage(params(tmp_path / 'f', name='u', password=long_pw, hash_scheme='sha512_crypt'))['changed']


@pytest.mark.parametrize('bad', ['', 'a\0b'])
def test_empty_or_nul_passwords_are_refused(tmp_path, bad):
    with pytest.raises(InputError):
        H.manage(params(tmp_path / 'f', name='u', password=bad))


def test_users_listed_twice(tmp_path):
    with pytest.raises(InputError, match='listed twice'):
        H.manage(params(tmp_path / 'f', users=[dict(name='a', password='x'), dict(name='a', state='absent')]))


def test_new_user_needs_a_password(tmp_path):
    with pytest.raises(InputError, match='give its password'):
        H.manage(params(tmp_path / 'f', name='u'))


def test_create_false(tmp_path):
    with pytest.raises(InputError, match='create is false'):
        H.manage(params(tmp_path / 'f', name='u', password='pw', create=False))
    assert not H.manage(params(tmp_path / 'f', name='u', state='absent', create=False))['changed']
    assert not (tmp_path / 'f').exists()


def test_bcrypt_rounds_range(tmp_path):
    with pytest.raises(InputError, match='between 4 and 31'):
        H.manage(params(tmp_path / 'f', name='u', password='pw', bcrypt_rounds=3))


def test_unreadable_file_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / 'f'
    path.write_text('u:$apr1$x$y\n')

    real_open = os.open

    def deny(name, *args, **kw):
        if str(name) in (str(path), path.name):
            raise PermissionError(13, 'Permission denied')
        return real_open(name, *args, **kw)

    monkeypatch.setattr(os, 'open', deny)
    with pytest.raises(InputError, match='cannot read .*Permission denied'):
        H.manage(params(path, name='u', password='pw'))


def test_directory_path(tmp_path):
    with pytest.raises(InputError, match='is a directory'):
        H.manage(params(tmp_path, name='u', password='pw'))


def test_add_verify_rotate_remove_cycle(tmp_path, fast, counted):
    path = tmp_path / 'f'
    path.write_text('# dashboard\nother:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n')
    result = H.manage(params(path, name='admin', password='one'))
    assert result['changed'] and result['user']['action'] == 'added'
    lines = path.read_text().splitlines()
    assert lines[:2] == ['# dashboard', 'other:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=']
    assert lines[2].startswith('admin:$2y$04$')
    assert counted == {'hash': ['one'], 'verify': []}

    before = path.read_bytes()
    again = H.manage(params(path, name='admin', password='one'))
    assert not again['changed'] and again['user']['action'] == 'unchanged'
    assert path.read_bytes() == before

    rotated = H.manage(params(path, name='admin', password='two'))
    assert rotated['user'] == dict(name='admin', state='present', action='updated', changed=True, changes=['password'])
    assert H.verify('two', path.read_text().splitlines()[2].split(':', 1)[1])

    removed = H.manage(params(path, name='admin', state='absent'))
    assert removed['changed'] and removed['user']['action'] == 'removed'
    assert path.read_text() == '# dashboard\nother:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n'
    assert not H.manage(params(path, name='admin', state='absent'))['changed']


def test_list_form_hashes_and_verifies_each_user_at_most_once(tmp_path, fast, counted):
    path = tmp_path / 'f'
    users = [dict(name='u%d' % i, password='p%d' % i) for i in range(6)]
    H.manage(params(path, users=users))
    assert sorted(counted['hash']) == sorted(u['password'] for u in users) and counted['verify'] == []
    counted['hash'].clear()
    rotated = [dict(name=u['name'], password=u['password'] + 'x') for u in users[:3]] + users[3:]
    result = H.manage(params(path, users=rotated))
    assert [r['action'] for r in result['users']] == ['updated'] * 3 + ['unchanged'] * 3
    assert sorted(counted['verify']) == sorted(u['password'] for u in rotated)
    assert sorted(counted['hash']) == sorted(u['password'] for u in rotated[:3])


def test_list_form_runs_in_parallel(tmp_path, monkeypatch):
    threads = set()
    real = H.hash_password

    def record(password, scheme, rounds=4):
        threads.add(threading.get_ident())
        return real(password, scheme, 4)

    monkeypatch.setattr(H, 'hash_password', record)
    monkeypatch.setattr(H.os, 'cpu_count', lambda: 4)
    H.manage(params(tmp_path / 'f', users=[dict(name='u%d' % i, password='p%d' % i) for i in range(8)]))
    assert len(threads) > 1


def test_other_users_order_and_comments_are_untouched(tmp_path, fast):
    path = tmp_path / 'f'
    original = '# top\nzed:$apr1$a$b\n\n# mid\nadmin:$apr1$c$d:note\namy:{SHA}e\n'
    path.write_text(original)
    H.manage(params(path, users=[dict(name='admin', password='new'), dict(name='bob', password='b')]))
    lines = path.read_text().split('\n')
    assert lines[:4] == ['# top', 'zed:$apr1$a$b', '', '# mid']
    assert lines[4].startswith('admin:$2y$04$') and lines[4].endswith(':note')
    assert lines[5] == 'amy:{SHA}e' and lines[6].startswith('bob:$2y$')


def test_file_without_final_newline(tmp_path, fast):
    path = tmp_path / 'f'
    path.write_text('a:$apr1$x$y')
    assert not H.manage(params(path, name='a', update_password='on_create'))['changed']
    assert path.read_text() == 'a:$apr1$x$y'
    H.manage(params(path, name='b', password='pw'))
    assert path.read_text().startswith('a:$apr1$x$y\nb:$2y$') and path.read_text().endswith('\n')


def test_scheme_change_is_detected_without_verifying(tmp_path, fast, counted):
    path = tmp_path / 'f'
    path.write_text('admin:%s\n' % H.apr1(b'pw', 'saltsalt'))
    result = H.manage(params(path, name='admin', password='pw'))
    assert result['user']['changes'] == ['scheme'] and counted['verify'] == []
    assert path.read_text().startswith('admin:$2y$')
    assert not H.manage(params(path, name='admin', password='pw'))['changed']


@pytest.mark.parametrize('stored', ['$y$j9T$abc$def', 'plaintext', 'abJnggxhB/yWI', '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g='])
def test_unknown_formats_are_a_scheme_change(tmp_path, fast, stored):
    path = tmp_path / 'f'
    path.write_text('admin:%s\n' % stored)
    assert H.manage(params(path, name='admin', password='password'))['user']['changes'] == ['scheme']


def test_bcrypt_cost_only_matters_when_asked(tmp_path, fast):
    path = tmp_path / 'f'
    path.write_text('admin:%s\n' % H.hash_password('pw', 'bcrypt', 5))
    assert not H.manage(params(path, name='admin', password='pw'))['changed']
    result = H.manage(params(path, name='admin', password='pw', bcrypt_rounds=4))
    assert result['user']['changes'] == ['rounds'] and '$2y$04$' in path.read_text()
    assert not H.manage(params(path, name='admin', password='pw', bcrypt_rounds=4))['changed']


def test_on_create_leaves_existing_users_unverified(tmp_path, fast, counted):
    path = tmp_path / 'f'
    path.write_text('admin:$apr1$x$y\n')
    result = H.manage(params(path, users=[dict(name='admin', password='new'), dict(name='new', password='n')],
                             update_password='on_create'))
    assert [r['action'] for r in result['users']] == ['unchanged', 'added']
    assert counted['verify'] == [] and counted['hash'] == ['n']


def test_duplicate_lines_of_a_managed_user_are_removed(tmp_path, fast):
    path = tmp_path / 'f'
    good = H.hash_password('pw', 'bcrypt', 4)
    path.write_text('admin:%s\nother:$apr1$a$b\nadmin:$apr1$old$old\n' % good)
    result = H.manage(params(path, name='admin', password='pw'))
    assert result['user']['changes'] == ['duplicates']
    assert path.read_text() == 'admin:%s\nother:$apr1$a$b\n' % good


def test_check_mode_changes_nothing_and_hashes_nothing(tmp_path, fast, counted):
    path = tmp_path / 'f'
    path.write_text('admin:%s\n' % H.hash_password('old', 'bcrypt', 4))
    counted['hash'].clear()
    before = path.read_bytes()
    result = H.manage(params(path, users=[dict(name='admin', password='new'), dict(name='b', password='b')]),
                      check_mode=True, want_diff=True)
    assert result['changed'] and [r['action'] for r in result['users']] == ['updated', 'added']
    assert path.read_bytes() == before and counted['hash'] == []
    assert H.manage(params(tmp_path / 'new', name='a', password='p'), check_mode=True)['changed']
    assert not (tmp_path / 'new').exists()


def test_diff_lists_users_with_placeholders_only(tmp_path, fast):
    path = tmp_path / 'f'
    old_hash = H.hash_password('old', 'bcrypt', 4)
    path.write_text('admin:%s\nkeep:$apr1$a$b\ngone:$apr1$c$d\n' % old_hash)
    result = H.manage(params(path, users=[dict(name='admin', password='new'), dict(name='gone', state='absent'),
                                          dict(name='added', password='p')]), want_diff=True)
    diff = result['diff']
    assert diff['before'] == 'admin:********\nkeep:********\ngone:********\n'
    assert diff['after'] == 'admin:<changed>\nkeep:********\nadded:<new>\n'
    text = repr(result)
    for secret in ('new', old_hash, '$apr1$a$b'):
        assert secret not in text.replace('<new>', '')


def test_mode_owner_and_backup(tmp_path, fast):
    path = tmp_path / 'f'
    H.manage(params(path, name='a', password='p'))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    result = H.manage(params(path, name='a', password='p', mode='0640'))
    assert result['changed'] and stat.S_IMODE(os.stat(path).st_mode) == 0o640
    result = H.manage(params(path, name='a', password='q', backup=True))
    assert os.path.exists(result['backup_file'])
    assert H.verify('p', open(result['backup_file']).read().split(':', 1)[1].strip())


# ------------------------------------------------------------------ hardening (issue 12)

def _pw():
    return os.urandom(12).hex()


def test_symlink_at_path_is_refused_unless_follow(tmp_path):
    private = tmp_path / 'private'
    private.mkdir(mode=0o700)
    victim = private / 'root-only'
    victim.write_text('root:x:0:0\n')
    victim.chmod(0o600)
    link = tmp_path / 'htpasswd'
    link.symlink_to(victim)
    with pytest.raises(InputError, match='symbolic link.*follow: true'):
        H.manage(params(link, name='u', password=_pw(), bcrypt_rounds=4))
    assert victim.read_text() == 'root:x:0:0\n' and stat.S_IMODE(victim.stat().st_mode) == 0o600
    real = tmp_path / 'real'
    real.write_text('')
    link2 = tmp_path / 'link2'
    link2.symlink_to(real)
    result = H.manage(params(link2, name='u', password=_pw(), bcrypt_rounds=4, follow=True))
    assert result['changed'] and result['path'] == str(real) and os.path.islink(link2)
    assert real.read_text().startswith('u:$2y$04$')


def test_shared_parent_is_refused_unless_allowed(tmp_path):
    shared = tmp_path / 'www'
    shared.mkdir()
    shared.chmod(0o775)
    with pytest.raises(InputError, match='writable by its group.*allow_shared_parent'):
        H.manage(params(shared / 'htpasswd', name='u', password=_pw(), bcrypt_rounds=4))
    assert list(shared.iterdir()) == []
    H.manage(params(shared / 'htpasswd', name='u', password=_pw(), bcrypt_rounds=4, allow_shared_parent=True))
    assert (shared / 'htpasswd').exists()


@pytest.mark.parametrize('bad', ['a\nb', 'a\rb', 'end\n', 'a\0b'])
def test_password_with_line_break_or_nul_is_refused(tmp_path, bad):
    password = _pw() + bad
    with pytest.raises(InputError) as info:
        H.manage(params(tmp_path / 'f', name='u', password=password))
    assert 'line break' in info.value.msg or 'NUL' in info.value.msg
    assert password not in info.value.msg
    assert not (tmp_path / 'f').exists()


@pytest.mark.parametrize('mode', ['u+q', '0999', 'rw-r-----', 'g=rw;o='])
def test_invalid_mode_fails_before_the_file_changes(tmp_path, mode):
    path = tmp_path / 'f'
    path.write_text('old:$apr1$x$y\n')
    path.chmod(0o644)
    with pytest.raises(InputError, match='mode'):
        H.manage(params(path, name='u', password=_pw(), mode=mode))
    assert path.read_text() == 'old:$apr1$x$y\n' and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ['f']


def test_symbolic_mode_narrower_than_the_file_is_applied_before_data(tmp_path, monkeypatch):
    path = tmp_path / 'f'
    path.write_text('old:$apr1$x$y\n')
    path.chmod(0o644)
    seen = []
    real_fchmod = os.fchmod

    def spy(fd, mode):
        seen.append((os.fstat(fd).st_size, mode))
        return real_fchmod(fd, mode)
    monkeypatch.setattr(os, 'fchmod', spy)
    result = H.manage(params(path, name='u', password=_pw(), bcrypt_rounds=4, mode='u=rw,go='))
    assert result['changed'] and seen == [(0, 0o600)]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_non_utf8_file_fails_without_change_also_with_diff(tmp_path):
    path = tmp_path / 'f'
    data = b'caf\xe9:$apr1$x$y\n'
    path.write_bytes(data)
    for diff in (False, True):
        with pytest.raises(InputError, match='not UTF-8.*not changed'):
            H.manage(params(path, name='u', password=_pw(), bcrypt_rounds=4), want_diff=diff)
        assert path.read_bytes() == data
