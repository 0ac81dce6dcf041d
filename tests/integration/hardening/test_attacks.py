"""Issue 12: a local user who can write next to a secret (www-data) plants symlinks or owns the
directory; every root-run writer and reader refuses, and the root-only file stays as it was."""

import os
import pathlib
import pwd
import shutil
import stat
import subprocess
import tempfile

import pytest
from cryptography.fernet import Fernet

from harness import new_secret

ATTACKER = 'www-data'


def as_attacker(*cmd):
    subprocess.run(['runuser', '-u', ATTACKER, '--'] + list(cmd), check=True)


@pytest.fixture
def scene():
    if os.geteuid() != 0:
        pytest.skip('needs root to act as another user')
    # pytest's tmp_path lies under a 0700 directory the attacker cannot enter (and /tmp's mode is not
    # ours to rely on on a shared machine).
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix='tk-attack-', dir='/var/tmp'))
    os.chmod(tmp_path, 0o755)
    yield from _scene(tmp_path)
    shutil.rmtree(tmp_path, ignore_errors=True)


def _scene(tmp_path):
    private = tmp_path / 'root-only'
    private.mkdir(mode=0o700)
    victim = private / 'shadow'
    victim.write_text('root-only ' + new_secret() + '\n')
    victim.chmod(0o600)
    # The web/app directory: the attacker owns it (as www-data owns a docroot or an app dir).
    theirs = tmp_path / 'app'
    theirs.mkdir(mode=0o755)
    os.chown(theirs, pwd.getpwnam(ATTACKER).pw_uid, -1)
    for name in ('htpasswd', 'app.env', 'tokens.txt', 'secret.bin'):
        as_attacker('ln', '-s', str(victim), str(theirs / name))
    # A group-writable directory of the attacker's group, owned by root.
    shared = tmp_path / 'shared'
    shared.mkdir()
    shared.chmod(0o775)
    os.chown(shared, 0, pwd.getpwnam(ATTACKER).pw_gid)
    yield {'victim': victim, 'theirs': theirs, 'shared': shared, 'before': victim.read_bytes()}


def test_writers_and_readers_refuse_planted_links_and_shared_parents(tmp_path, scene, playbook):
    values = {'pw': new_secret(), 'key': Fernet.generate_key().decode(), 'data': new_secret()}
    theirs, shared = scene['theirs'], scene['shared']

    def task(title, module, **args):
        return {'name': title, 'turnkey.secrets.' + module: args, 'ignore_errors': True}

    tasks = [
        task('htpasswd other owner', 'htpasswd', path=str(theirs / 'new-htpasswd'), name='u', password='{{ pw }}',
             mode='0644'),
        task('htpasswd link', 'htpasswd', path=str(theirs / 'htpasswd'), name='u', password='{{ pw }}',
             mode='0644', allow_shared_parent=True),
        task('htpasswd group-writable', 'htpasswd', path=str(shared / 'htpasswd'), name='u', password='{{ pw }}'),
        task('env link', 'env_file', path=str(theirs / 'app.env'), values={'A': '{{ pw }}'}, mode='0644',
             allow_shared_parent=True, backup=True),
        task('env group-writable', 'env_file', path=str(shared / 'app.env'), values={'A': '{{ pw }}'}),
        task('fernet link', 'fernet_rotate', path=str(theirs / 'tokens.txt'), keys=['{{ key }}'],
             allow_shared_parent=True, backup=True),
        task('podman path link', 'podman_secret', name='tk-attack-%s' % os.getpid(),
             path=str(theirs / 'secret.bin')),
    ]
    expected = {
        'htpasswd other owner': 'belongs to user www-data',
        'htpasswd link': 'is a symbolic link',
        'htpasswd group-writable': 'writable by its group or by others',
        'env link': 'is a symbolic link',
        'env group-writable': 'writable by its group or by others',
        'fernet link': 'is a symbolic link',
        'podman path link': 'is a symbolic link',
    }
    result = playbook(tasks=tasks, secret_vars=values, leak_check=[scene['before'].decode().split()[1]])
    for name, message in expected.items():
        outcome = result.task(name)
        assert outcome['failed'] and message in outcome['result']['msg'], (name, outcome['result'].get('msg'))
        assert 'Traceback' not in outcome['result'].get('exception', '')
    victim = scene['victim']
    assert victim.read_bytes() == scene['before']
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600 and victim.stat().st_uid == 0
    # Nothing was created next to the links or in the shared directory (no temp, backup or lock file).
    assert sorted(p.name for p in theirs.iterdir()) == ['app.env', 'htpasswd', 'secret.bin', 'tokens.txt']
    assert all(os.path.islink(p) for p in theirs.iterdir())
    assert list(shared.iterdir()) == []
    assert list(victim.parent.iterdir()) == [victim]


def test_follow_true_is_an_explicit_opt_in(tmp_path, playbook):
    os.chmod(tmp_path, 0o755)
    real = tmp_path / 'real.env'
    real.write_text('A=old\n')
    real.chmod(0o640)
    link = tmp_path / 'app.env'
    link.symlink_to(real)
    values = {'pw': new_secret()}
    task = {'name': 'env follow', 'turnkey.secrets.env_file': {'path': str(link), 'values': {'A': '{{ pw }}'},
                                                               'follow': True}}
    result = playbook(tasks=[task], secret_vars=values).task('env follow')
    assert result['changed'] and result['result']['path'] == str(real)
    assert os.path.islink(link) and real.read_text() == 'A=%s\n' % values['pw']
    assert stat.S_IMODE(real.stat().st_mode) == 0o640


def test_vault_secret_refuses_a_planted_link_and_a_shared_directory(tmp_path, scene, playbook):
    """The attacker points vault.yml at a root-only file, or owns a group-writable inventory
    directory: vault_secret refuses both and changes nothing; follow: true is the opt-in."""
    password = tmp_path / 'vault_pass'
    password.write_text(new_secret() + '\n')
    password.chmod(0o600)
    theirs, shared = scene['theirs'], scene['shared']
    as_attacker('ln', '-s', str(scene['victim']), str(theirs / 'vault.yml'))
    values = {'pw': new_secret()}

    def task(title, path, **extra):
        return {'name': title, 'turnkey.secrets.vault_secret': dict(
            path=str(path), vault_password_file=str(password), values={'vault_x': '{{ pw }}'}, create=True, **extra),
            'ignore_errors': True}

    result = playbook(secret_vars=values, tasks=[task('link', theirs / 'vault.yml'), task('shared', shared / 'vault.yml')])
    assert 'symbolic link' in result.task('link')['result']['msg']
    assert 'writable by its group or by others' in result.task('shared')['result']['msg']
    assert scene['victim'].read_bytes() == scene['before']
    assert os.path.islink(str(theirs / 'vault.yml')) and not os.path.exists(str(shared / 'vault.yml'))
