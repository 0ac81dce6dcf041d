"""turnkey.secrets.env_file through ansible-playbook -vvvv: idempotence, modes, errors, no leak."""

import grp
import os
import stat

from keygen import django_key

from harness import new_secret

from ansible_collections.turnkey.secrets.plugins.module_utils._env_file import render_value

TASK = 'write env'


def env_task(name=TASK, **args):
    args.setdefault('path', '{{ env_path }}')
    return {'name': name, 'turnkey.secrets.env_file': args, 'ignore_errors': name != TASK}


def test_check_apply_check_apply_keeps_the_rest(tmp_path, playbook):
    env = tmp_path / 'app.env'
    env.write_text('# trading platform\nexport DEBUG=false\nSECRET_KEY=placeholder  # rotated by ansible\nOLD_TOKEN=x\n')
    os.chmod(env, 0o600)
    secrets_ = {'secret_key': django_key(), 'fallback': django_key(), 'db_password': new_secret()}
    task = env_task(values={'SECRET_KEY': '{{ secret_key }}', 'SECRET_KEY_FALLBACKS': ['{{ fallback }}'],
                            'DB_PASSWORD': '{{ db_password }}'},
                    remove=['OLD_TOKEN'], backup=True)
    extra = {'env_path': str(env)}
    before = env.read_bytes()

    checked = playbook(tasks=[task], secret_vars=secrets_, extra_vars=extra, check=True).task(TASK)
    assert checked['changed'] and env.read_bytes() == before
    assert checked['result']['added'] == ['SECRET_KEY_FALLBACKS', 'DB_PASSWORD']
    assert checked['result']['updated'] == ['SECRET_KEY'] and checked['result']['removed'] == ['OLD_TOKEN']

    run = playbook(tasks=[task], secret_vars=secrets_, extra_vars=extra)
    applied = run.task(TASK)
    assert applied['changed'] and os.path.exists(applied['result']['backup_file'])
    # The diff names keys with placeholders (the run itself asserted no value was printed).
    assert 'SECRET_KEY=<changed>' in run.output and 'DB_PASSWORD=<new>' in run.output
    assert env.read_text() == (
        '# trading platform\nexport DEBUG=false\n'
        'SECRET_KEY=%s  # rotated by ansible\n' % render_value(secrets_['secret_key'])
        + 'SECRET_KEY_FALLBACKS=%s\nDB_PASSWORD=%s\n' % (render_value(secrets_['fallback']), secrets_['db_password']))
    assert stat.S_IMODE(env.stat().st_mode) == 0o600

    assert not playbook(tasks=[task], secret_vars=secrets_, extra_vars=extra, check=True).task(TASK)['changed']
    again = playbook(tasks=[task], secret_vars=secrets_, extra_vars=extra).task(TASK)
    assert not again['changed'] and 'backup_file' not in again['result']


def test_new_file_group_readable(tmp_path, playbook):
    env = tmp_path / 'app.env'
    group = grp.getgrgid(os.getgid() if os.getgid() else 1).gr_name
    values = {'password': new_secret()}
    task = env_task(values={'PASSWORD': '{{ password }}'}, owner='root', group=group, mode='0640')
    assert playbook(tasks=[task], secret_vars=values, extra_vars={'env_path': str(env)}).task(TASK)['changed']
    st = env.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, grp.getgrgid(st.st_gid).gr_name) == (0o640, 0, group)
    # Only the mode differs: changed, content kept.
    task['turnkey.secrets.env_file']['mode'] = '0600'
    assert playbook(tasks=[task], secret_vars=values, extra_vars={'env_path': str(env)}).task(TASK)['changed']
    assert stat.S_IMODE(env.stat().st_mode) == 0o600 and env.read_text() == 'PASSWORD=%s\n' % values['password']


def test_bad_input_fails_clearly_and_changes_nothing(tmp_path, playbook):
    env = tmp_path / 'app.env'
    env.write_text('A=1\n')
    broken = tmp_path / 'broken.env'
    broken.write_text('A=1\nB="never closed\n')
    values = {'good': new_secret(), 'multiline': new_secret() + '\n' + new_secret()}
    tasks = [
        env_task('bad key', values={'BAD-KEY': '{{ good }}'}),
        env_task('newline', values={'A': '{{ multiline }}'}),
        env_task('broken line', path=str(broken), values={'A': '{{ good }}'}),
        env_task('a directory', path=str(tmp_path), values={'A': '{{ good }}'}),
        env_task('not created', path=str(tmp_path / 'missing.env'), create=False, values={'A': '{{ good }}'}),
        env_task('bad mode', values={'A': '{{ good }}'}, mode='u=rq'),
    ]
    before = (env.read_bytes(), broken.read_bytes())
    result = playbook(tasks=tasks, secret_vars=values, extra_vars={'env_path': str(env)})
    expected = {
        'bad key': 'invalid key name(s) BAD-KEY',
        'newline': 'values.A contains a line break',
        'broken line': 'line 2 of %s does not parse' % broken,
        'a directory': 'is a directory',
        'not created': 'does not exist; create it or set create: true',
        'bad mode': 'nor a symbolic mode',
    }
    for name, message in expected.items():
        task = result.task(name)
        assert task['failed'] and message in task['result']['msg'], (name, task['result'].get('msg'))
        assert 'Traceback' not in task['result'].get('exception', '')
    assert (env.read_bytes(), broken.read_bytes()) == before
    assert not (tmp_path / 'missing.env').exists()
