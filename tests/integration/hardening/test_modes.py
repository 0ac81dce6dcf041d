"""Issue 12: the mode of every file at its first data write (recorded with strace) is never wider
than its final mode, for every writer and mode form; ACL SAVE's wider file is narrowed back."""

import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from harness import new_secret
from modrun import finish, module_env, start

from ansible_collections.turnkey.secrets.plugins.module_utils import _atomic, _vault

CALLS = 'trace=openat,open,creat,write,pwrite64,writev,fchmod,fchmodat,chmod,rename,renameat,renameat2'
_LINE = re.compile(r'^(?P<pid>\d+) +(?P<call>\w+)\((?P<args>.*)\) += (?P<ret>-?\d+)')
_FD = re.compile(r'^(?P<fd>\d+)<(?P<path>[^>]*)>')
_AT = re.compile(r'(?:(?P<fd>\d+)<(?P<dir>[^>]*)>|AT_FDCWD(?:<(?P<cwd>[^>]*)>)?), "(?P<name>(?:[^"\\]|\\.)*)"')


def _strings(args):
    """Path arguments; a name relative to a directory fd (``openat(3</dir>, "name"``, what the
    writers do) is joined to that directory."""
    found = [os.path.join(m.group('dir') or m.group('cwd') or '', m.group('name')) for m in _AT.finditer(args)]
    return found or re.findall(r'"((?:[^"\\]|\\.)*)"', args)


def first_write_modes(log, under):
    """``{path at first write: mode then}`` for files under ``under`` (None: mode unknown), and
    ``{temp path: renamed-to path}``."""
    modes, first, renamed = {}, {}, {}
    with open(log) as handle:
        for line in handle:
            match = _LINE.match(line)
            if not match or int(match.group('ret')) < 0:
                continue
            call, args = match.group('call'), match.group('args')
            if call in ('openat', 'open', 'creat'):
                names = _strings(args)
                if not names:
                    continue
                path = names[0]
                if 'O_CREAT' in args or call == 'creat':
                    mode = re.search(r', (0[0-7]+)$', args)
                    if mode and path not in modes:
                        modes[path] = int(mode.group(1), 8)
            elif call == 'fchmod':
                fd = _FD.match(args)
                mode = re.search(r', (0[0-7]+)$', args)
                if fd and mode:
                    modes[fd.group('path')] = int(mode.group(1), 8)
            elif call in ('chmod', 'fchmodat'):
                names = _strings(args)
                mode = re.search(r', (0[0-7]+)', args)
                if names and mode:
                    modes[names[0]] = int(mode.group(1), 8)
            elif call in ('write', 'pwrite64', 'writev'):
                fd = _FD.match(args)
                if fd and int(match.group('ret')) > 0:
                    path = fd.group('path')
                    if path.startswith(under) and path not in first:
                        first[path] = modes.get(path)
            elif call.startswith('rename'):
                names = _strings(args)
                if len(names) == 2:
                    renamed[names[0]] = names[1]
                    if names[0] in modes:
                        modes[names[1]] = modes[names[0]]
    return first, renamed


def traced(module, args, tmp_path):
    log = str(tmp_path / ('strace-%s.log' % module))
    prefix = ['strace', '-f', '-y', '-qq', '-s', '256', '-o', log, '-e', CALLS]
    proc = start(module, args, tmp_path / 'work', prefix=prefix)
    result = finish(proc)
    assert not result.get('failed'), result.get('msg')
    return result, log


def assert_never_wider(log, under):
    first, renamed = first_write_modes(log, under)
    assert first, 'strace saw no data write under %s' % under
    for path, mode in first.items():
        final = renamed.get(path, path)
        assert os.path.exists(final), (path, final)
        want = stat.S_IMODE(os.lstat(final).st_mode)
        assert mode is not None, '%s was written without being created by this run (mode unknown)' % path
        assert mode & ~want == 0, '%s had mode %04o at its first write, final %s is %04o' % (path, mode, final, want)
    return first, renamed


@pytest.fixture
def area(tmp_path):
    if not shutil.which('strace'):
        pytest.fail('strace is not installed: run scripts/setup.sh test')
    (tmp_path / 'work').mkdir(mode=0o700)
    data = tmp_path / 'data'
    data.mkdir(mode=0o755)
    return data


@pytest.mark.parametrize('mode', [None, '0600', '0640', 'u=rw,go=', 'u=rw,g=r,o=', 'go-rwx'])
def test_htpasswd_every_mode_form(tmp_path, area, mode):
    path = area / 'htpasswd'
    path.write_text('old:$apr1$abcdefgh$0123456789012345678901\n')
    path.chmod(0o644)
    args = {'path': str(path), 'name': 'u', 'password': new_secret(), 'bcrypt_rounds': 4, 'backup': True}
    if mode is not None:
        args['mode'] = mode
    result, log = traced('htpasswd', args, tmp_path)
    assert result['changed']
    first, _renamed = assert_never_wider(log, str(area))
    final = stat.S_IMODE(path.stat().st_mode)
    assert final == {None: 0o644, '0600': 0o600, '0640': 0o640, 'u=rw,go=': 0o600, 'u=rw,g=r,o=': 0o640,
                     'go-rwx': 0o600}[mode]
    assert len(first) == 2  # the temp file and the backup


@pytest.mark.parametrize('mode', [None, '0640', 'u=rw,go='])
def test_env_file_every_mode_form_and_private_backups(tmp_path, area, mode):
    path = area / 'app.env'
    path.write_text('A=old\n')
    path.chmod(0o644)
    args = {'path': str(path), 'values': {'A': new_secret()}, 'backup': True}
    if mode is not None:
        args['mode'] = mode
    result, log = traced('env_file', args, tmp_path)
    assert result['changed'] and stat.S_IMODE(os.stat(result['backup_file']).st_mode) == 0o600
    first, _renamed = assert_never_wider(log, str(area))
    assert first[result['backup_file']] == 0o600


def test_env_file_new_file_and_fernet_rotate(tmp_path, area):
    result, log = traced('env_file', {'path': str(area / 'new.env'), 'values': {'A': new_secret()}, 'mode': 'g+r'},
                         tmp_path)
    assert stat.S_IMODE((area / 'new.env').stat().st_mode) == 0o640
    assert_never_wider(log, str(area))

    old, new = Fernet.generate_key(), Fernet.generate_key()
    tokens = area / 'tokens.txt'
    tokens.write_text(Fernet(old).encrypt(os.urandom(8)).decode() + '\n')
    tokens.chmod(0o640)
    result, log = traced('fernet_rotate', {'path': str(tokens), 'keys': [new.decode(), old.decode()],
                                           'backup': True}, tmp_path)
    assert result['rotated'] == 1
    assert_never_wider(log, str(area))
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o640


# vault_secret is an action plugin: its controller code runs here as ansible runs it, under strace.
_VAULT_RUN = """
import json, sys
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _vault_vars
args = json.load(open(sys.argv[1]))
result = _vault_vars.update_vault_file(args.pop('path'), args.pop('password').encode(), **args)
print(json.dumps({'changed': result['changed'], 'backup_file': result.get('backup_file')}))
"""


@pytest.mark.parametrize('mode, want', [(None, 0o644), ('0600', 0o600), ('0640', 0o640), ('u=rw,go=', 0o600)])
def test_vault_secret_every_mode_form_and_private_backups(tmp_path, area, mode, want):
    password = new_secret()
    path = area / 'vault.yml'
    path.write_text(_vault.seal(b'---\nvault_a: old\n', password.encode(), None))
    path.chmod(0o644)
    args_file = tmp_path / 'work' / 'vault-args.json'
    fd = os.open(args_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as handle:
        json.dump({'path': str(path), 'password': password, 'values': {'vault_a': new_secret()}, 'mode': mode,
                   'backup': True}, handle)
    log = str(tmp_path / 'strace-vault.log')
    proc = subprocess.run(['strace', '-f', '-y', '-qq', '-s', '256', '-o', log, '-e', CALLS, sys.executable, '-c',
                           _VAULT_RUN, str(args_file)], env=module_env(), capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    result = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert result['changed'] and stat.S_IMODE(path.stat().st_mode) == want
    first, _renamed = assert_never_wider(log, str(area))
    assert first[result['backup_file']] == 0o600 and len(first) == 2


def test_acl_save_gets_the_previous_mode_and_owner_back(redis_server, playbook):
    client = redis_server.client()
    user = 'app_' + new_secret(4).lower().replace('-', '').replace('_', '')
    old, new = new_secret(), new_secret()
    client.execute_command('ACL', 'SETUSER', user, 'on', '>' + old, '~app:*', '+get')
    client.execute_command('ACL', 'SAVE')
    nobody = pwd.getpwnam('nobody')
    os.chmod(redis_server.aclfile, 0o600)
    os.chown(redis_server.aclfile, 0, nobody.pw_gid)
    # What Redis does on its own: ACL SAVE writes the file anew with its umask.
    client.execute_command('ACL', 'SAVE')
    assert stat.S_IMODE(os.stat(redis_server.aclfile).st_mode) == 0o644
    os.chmod(redis_server.aclfile, 0o600)
    os.chown(redis_server.aclfile, 0, nobody.pw_gid)
    values = {'new': new, 'admin_password': redis_server.admin_password}
    task = {'name': 'rotate', 'turnkey.secrets.redis_password': {
        'user': user, 'password': '{{ new }}', 'persist': 'acl_save', 'login_host': redis_server.host,
        'login_port': redis_server.port, 'login_user': redis_server.admin_user,
        'login_password': '{{ admin_password }}'}}
    result = playbook(tasks=[task], secret_vars=values).task('rotate')
    assert result['changed'] and result['result']['persisted'] == 'acl_save'
    assert result['result']['acl_file'] == {'path': redis_server.aclfile, 'restored': True, 'mode': '0600'}
    st = os.stat(redis_server.aclfile)
    assert stat.S_IMODE(st.st_mode) == 0o600 and (st.st_uid, st.st_gid) == (0, nobody.pw_gid)
    assert _atomic.read_bytes(redis_server.aclfile).count(b'user ') >= 2
