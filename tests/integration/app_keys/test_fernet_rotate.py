"""turnkey.secrets.fernet_rotate through ansible-playbook -vvvv: re-encryption, idempotence, errors, no leak."""

from cryptography.fernet import Fernet
from keygen import fernet_key

from harness import new_secret

TASK = 'rotate tokens'


def rotate_task(name=TASK, **args):
    args.setdefault('keys', ['{{ new_key }}', '{{ old_key }}'])
    return {'name': name, 'turnkey.secrets.fernet_rotate': args, 'ignore_errors': name != TASK}


def test_check_apply_check_apply(tmp_path, playbook):
    keys = {'new_key': fernet_key(), 'old_key': fernet_key()}
    plaintexts = [new_secret() for dummy in range(4)]
    old, new = Fernet(keys['old_key']), Fernet(keys['new_key'])
    first, second = tmp_path / 'a.tokens', tmp_path / 'b.tokens'
    first.write_text('# broker OAuth tokens\n%s\n\n%s\n' % (old.encrypt(plaintexts[0].encode()).decode(),
                                                            new.encrypt(plaintexts[1].encode()).decode()))
    second.write_text('%s\n%s\n' % tuple(old.encrypt(p.encode()).decode() for p in plaintexts[2:]))
    task = rotate_task(paths=[str(first), str(second)], backup=True)
    before = first.read_bytes(), second.read_bytes()

    def run(check):
        return playbook(tasks=[task], secret_vars=keys, check=check, leak_check=plaintexts).task(TASK)

    checked = run(True)
    assert checked['changed'] and checked['result']['rotated'] == 3
    assert (first.read_bytes(), second.read_bytes()) == before

    applied = run(False)
    assert applied['changed']
    assert [(f['tokens'], f['rotated']) for f in applied['result']['files']] == [(2, [2]), (2, [1, 2])]
    assert all('backup_file' in f for f in applied['result']['files'])
    lines = first.read_text().split('\n')
    assert lines[0] == '# broker OAuth tokens' and lines[2] == ''
    # Everything now decrypts with the new key alone: the old one can be retired.
    tokens = [line for line in first.read_text().split('\n') + second.read_text().split('\n') if line and line[0] != '#']
    assert [new.decrypt(t.encode()).decode() for t in tokens] == plaintexts

    assert not run(True)['changed']
    assert not run(False)['changed']


def test_undecryptable_tokens_fail_and_change_nothing(tmp_path, playbook):
    keys = {'new_key': fernet_key(), 'old_key': fernet_key(), 'retired': fernet_key()}
    good = tmp_path / 'good.tokens'
    good.write_text(Fernet(keys['old_key']).encrypt(b'ok').decode() + '\n')
    bad = tmp_path / 'bad.tokens'
    bad.write_text('%s\n%s\n' % (Fernet(keys['new_key']).encrypt(b'ok').decode(), Fernet(keys['retired']).encrypt(b'lost').decode()))
    before = good.read_bytes(), bad.read_bytes()
    result = playbook(secret_vars=keys, tasks=[
        rotate_task('one file fails', paths=[str(good), str(bad)]),
        rotate_task('bad key', path=str(good), keys=['{{ new_key }}', '{{ old_key[:-3] }}']),
        rotate_task('missing file', path=str(tmp_path / 'nope')),
    ])
    failed = result.task('one file fails')
    assert failed['failed'] and 'cannot be decrypted by any of the keys (lines 2)' in failed['result']['msg']
    assert str(bad) in failed['result']['msg'] and failed['result']['lines'] == [2]
    assert 'keys[1] is not a Fernet key' in result.task('bad key')['result']['msg']
    assert 'does not exist' in result.task('missing file')['result']['msg']
    # The good file was not rewritten either: one bad token stops the whole task.
    assert (good.read_bytes(), bad.read_bytes()) == before
