"""turnkey.secrets.env_file backup_encrypt: copies restored with stock ``age -d`` / ``gpg -d``, retention, no plaintext."""

import glob
import os
import shutil
import stat
import subprocess
import tempfile

import pytest
from keygen import django_key

from harness import assert_no_secret, new_secret

from ansible_collections.turnkey.secrets.plugins.module_utils._env_file import update

TASK = 'write env'


def env_task(name, **args):
    args.setdefault('path', '{{ env_path }}')
    args.setdefault('backup', True)  # asked for, and still no plaintext copy when backup_encrypt is set
    return {'name': name, 'turnkey.secrets.env_file': args, 'ignore_errors': name.startswith('bad')}


def age_identity(tmp_path):
    key = tmp_path / 'age.key'
    subprocess.run(['age-keygen', '-o', str(key)], capture_output=True, check=True)
    public = [line.split(': ', 1)[1] for line in key.read_text().splitlines() if line.startswith('# public key: ')][0]
    return str(key), public


def gpg_restore(path, passphrase):
    """``gpg -d`` as a person runs it, the passphrase on a descriptor, a fresh home."""
    home = tempfile.mkdtemp(prefix='tk-gpg-restore.')
    try:
        read_fd, write_fd = os.pipe()
        os.write(write_fd, passphrase.encode() + b'\n')
        os.close(write_fd)
        out = subprocess.run(['gpg', '--homedir', home, '--batch', '--quiet', '--pinentry-mode', 'loopback',
                              '--passphrase-fd', str(read_fd), '-d', path], capture_output=True, check=True,
                             pass_fds=(read_fd,)).stdout
        os.close(read_fd)
        return out
    finally:
        subprocess.run(['gpgconf', '--homedir', home, '--kill', 'gpg-agent'], capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.skipif(not (shutil.which('age') and shutil.which('gpg')), reason='age and gpg (scripts/setup.sh test)')
def test_encrypted_backups_restore_with_stock_tools(tmp_path, playbook):
    key_file, recipient = age_identity(tmp_path)
    backups = tmp_path / 'backups'
    env = tmp_path / 'app.env'
    values = [{'SECRET_KEY': django_key(), 'DB_PASSWORD': new_secret()} for dummy in range(4)]
    secret_vars = {'v%d_%s' % (i, k.lower()): v for i, vals in enumerate(values) for k, v in vals.items()}
    secret_vars['backup_passphrase'] = new_secret()

    def vals(i):
        return {k: '{{ v%d_%s }}' % (i, k.lower()) for k in values[i]}

    age = {'age_recipients': [recipient], 'dir': str(backups)}
    gpg = {'gpg_passphrase': '{{ backup_passphrase }}', 'dir': str(backups)}
    playbook(tasks=[env_task('create', values=vals(0), backup_encrypt=gpg)], secret_vars=secret_vars,
             extra_vars={'env_path': str(env)})
    assert not backups.exists()  # nothing to back up for a new file
    live = [env.read_text()]
    for i in (1, 2, 3):
        live.append(update(live[-1], values[i])[0])
    run = playbook(secret_vars=secret_vars, extra_vars={'env_path': str(env)}, tasks=[
        env_task('bad both', values=vals(1), backup_encrypt=dict(age, gpg_passphrase='{{ backup_passphrase }}')),
        env_task('bad recipient', values=vals(1), backup_encrypt={'age_recipients': ['age1nope']}),
        env_task('bad binary', values=vals(1), backup_encrypt=dict(age, executable='/nonexistent/age')),
        dict(env_task('check', values=vals(1), backup_encrypt=gpg), check_mode=True),
        env_task('gpg copy', values=vals(1), backup_encrypt=gpg),
        env_task('age copy', values=vals(2), backup_encrypt=age),
        env_task('unchanged', values=vals(2), backup_encrypt=age),
        env_task('keep two', values=vals(3), backup_encrypt=gpg, backup_keep=2),
    ])
    for name, words in (('bad both', 'mutually exclusive'), ('bad recipient', 'age_recipients[0]'),
                        ('bad binary', 'not an executable')):
        failed = run.task(name)
        assert failed['failed'] and words in failed['result']['msg'], (name, failed['result']['msg'])
    assert run.task('check')['changed'] and 'backup_file' not in run.task('check')['result']
    assert not run.task('unchanged')['changed'] and 'backup_file' not in run.task('unchanged')['result']
    first = run.task('gpg copy')['result']['backup_file']
    aged = run.task('age copy')['result']['backup_file']
    last = run.task('keep two')['result']
    assert first.endswith('.gpg') and aged.endswith('.age') and last['backup_file'].endswith('.gpg')
    assert last['backups_removed'] == [first]
    assert sorted(glob.glob(str(backups / '*'))) == sorted([aged, last['backup_file']])
    assert env.read_text() == live[3]

    # Restore = one stock command; the copy is what was live before each change.
    restored_age = subprocess.run(['age', '-d', '-i', key_file, aged], capture_output=True, check=True).stdout
    assert restored_age.decode() == live[1]
    assert gpg_restore(last['backup_file'], secret_vars['backup_passphrase']).decode() == live[2]

    # 0600, ours, no value in any name, no plaintext copy beside the file, no leftover gpg home.
    for path in (aged, last['backup_file']):
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
        assert_no_secret(os.path.basename(path), list(secret_vars.values()), 'backup name')
        assert_no_secret(open(path, 'rb').read().decode('latin-1'), list(secret_vars.values()), 'encrypted backup')
    assert stat.S_IMODE(os.stat(backups).st_mode) == 0o700
    assert sorted(os.listdir(tmp_path)) == sorted(['age.key', 'app.env', '.app.env.lock', 'backups'] +
                                                  [n for n in os.listdir(tmp_path) if n.endswith(('.yml', '.ini', '.jsonl'))])
    assert not glob.glob(os.path.join(tempfile.gettempdir(), '.turnkey-gpg.*'))
