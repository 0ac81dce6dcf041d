"""Issue 12: bad input through ansible-playbook -vvvv: a clear error, no traceback, nothing changed."""

import os
import stat

from harness import new_secret


def test_htpasswd_bad_input_changes_nothing(tmp_path, playbook):
    os.chmod(tmp_path, 0o755)
    good = tmp_path / 'htpasswd'
    good.write_text('keep:$apr1$abcdefgh$0123456789012345678901\n')
    good.chmod(0o644)
    latin = tmp_path / 'latin1'
    latin.write_bytes(b'caf\xe9:$apr1$abcdefgh$0123456789012345678901\n')
    values = {'nl': new_secret() + '\n' + new_secret(), 'cr': new_secret() + '\r', 'pw': new_secret()}

    def task(title, **args):
        args.setdefault('path', str(good))
        args.setdefault('name', 'u')
        return {'name': title, 'turnkey.secrets.htpasswd': args, 'ignore_errors': True}

    tasks = [
        task('newline', password='{{ nl }}'),
        task('carriage return', password='{{ cr }}'),
        task('bad mode', password='{{ pw }}', mode='u=rq'),
        task('bad octal', password='{{ pw }}', mode='0988'),
        task('not utf-8', path=str(latin), password='{{ pw }}'),
    ]
    before = {p: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in (good, latin)}
    expected = {
        'newline': 'contains a line break',
        'carriage return': 'contains a line break',
        'bad mode': 'nor a symbolic mode',
        'bad octal': 'not an octal number',
        'not utf-8': 'is not UTF-8 text',
    }
    for check in (False, True):
        result = playbook(tasks=tasks, secret_vars=values, check=check, diff=True)
        for title, message in expected.items():
            outcome = result.task(title)
            assert outcome['failed'] and message in outcome['result']['msg'], (title, outcome['result'].get('msg'))
            assert not outcome['changed']
            assert 'Traceback' not in outcome['result'].get('exception', '') + outcome['result']['msg']
        assert {p: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in (good, latin)} == before
        # Only the (empty, 0600) lock file of the file that was read under its lock may appear.
        left = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(('.yml', '.ini', '.jsonl')))
        assert set(left) - {'.latin1.lock'} == {'htpasswd', 'latin1'}
        for lock in tmp_path.glob('.*.lock'):
            assert lock.stat().st_size == 0 and stat.S_IMODE(lock.stat().st_mode) == 0o600
