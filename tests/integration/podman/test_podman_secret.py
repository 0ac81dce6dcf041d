"""turnkey.secrets.podman_secret against the real podman of this machine (4.3.1 here).

Each playbook runs at -vvvv through the ``playbook`` fixture, which fails the test if
any generated secret value shows in the output or in a task result (success and
failure paths alike).  Check, apply, check again and apply again are tasks of one
play (``check_mode: true`` per task) to keep ansible start-ups few.
"""

import hashlib
import os

from harness import new_secret

MODULE = 'turnkey.secrets.podman_secret'
INFO = 'turnkey.secrets.podman_secret_info'


def task(name, args, check=False, **extra):
    out = {'name': name, MODULE: args}
    if check:
        out['check_mode'] = True
    out.update(extra)
    return out


def changed(result, name):
    return result.task(name)['changed']


def res(result, name):
    return result.task(name)['result']


def test_single_form_check_apply_check_apply_rotate_relabel_remove(pm, playbook):
    name = pm.name('single')
    one = {'name': name, 'data': '{{ v1 }}', 'labels': {'app': 'web'}}
    two = dict(one, data='{{ v2 }}')
    relabel = dict(two, labels={'app': 'web', 'tier': 'db'})
    gone = {'name': name, 'state': 'absent'}
    result = playbook(secret_vars={'v1': new_secret(), 'v2': new_secret()}, tasks=[
        task('check create', one, check=True),
        {'name': 'info after check', INFO: {'name': [name]}},
        task('create', one),
        task('check again', one, check=True),
        task('create again', one),
        task('check rotate', two, check=True),
        task('rotate', two),
        task('check rotated', two, check=True),
        task('rotate again', two),
        task('relabel', relabel),
        task('back to one label', two),
        task('back again', two),
        task('check remove', gone, check=True),
        task('remove', gone),
        task('remove again', gone),
    ])
    expected = {'check create': True, 'create': True, 'check again': False, 'create again': False,
                'check rotate': True, 'rotate': True, 'check rotated': False, 'rotate again': False,
                'relabel': True, 'back to one label': True, 'back again': False,
                'check remove': True, 'remove': True, 'remove again': False}
    assert {t: changed(result, t) for t in expected} == expected
    assert res(result, 'info after check')['missing'] == [name]
    created = res(result, 'create')['secret']
    assert created['action'] == 'created' and created['labels'] == {'app': 'web'}
    assert res(result, 'rotate')['secret']['changes'] == ['data']
    assert res(result, 'relabel')['secret']['changes'] == ['labels']
    assert res(result, 'back to one label')['secret']['changes'] == ['labels']
    assert res(result, 'remove')['secret']['action'] == 'removed'
    diff = res(result, 'check rotate')['diff']
    assert diff['before'][name]['data'] == '<unchanged>' and diff['after'][name]['data'] == '<changed>'
    assert diff['after'][name]['labels'] == {'app': 'web'}
    diff = res(result, 'relabel')['diff']
    assert diff['after'][name]['data'] == '<unchanged>'
    assert diff['after'][name]['labels'] == {'app': 'web', 'tier': 'db'}
    assert not pm.exists(name)


def test_list_form_check_apply_check_apply_then_rotate_one(pm, playbook):
    names = [pm.name('list%d' % i) for i in range(3)]
    values = {'v%d' % i: new_secret() for i in range(4)}
    first = {'labels': {'app': 'batch'}, 'secrets': [{'name': n, 'data': '{{ v%d }}' % i} for i, n in enumerate(names)]}
    rotated = {'labels': {'app': 'batch'}, 'secrets': [dict(s) for s in first['secrets']]}
    rotated['secrets'][1]['data'] = '{{ v3 }}'
    result = playbook(secret_vars=values, tasks=[
        task('check', first, check=True),
        task('apply', first),
        task('check again', first, check=True),
        task('apply again', first),
        task('rotate one', rotated),
        task('rotate one again', rotated),
        task('remove all', {'state': 'absent', 'secrets': [{'name': n} for n in names]}),
    ])
    assert [changed(result, t) for t in ('check', 'apply', 'check again', 'apply again')] == [True, True, False, False]
    assert [s['action'] for s in res(result, 'check')['secrets']] == ['created'] * 3
    assert [s['action'] for s in res(result, 'apply again')['secrets']] == ['unchanged'] * 3
    assert [s['changed'] for s in res(result, 'rotate one')['secrets']] == [False, True, False]
    assert not changed(result, 'rotate one again')
    assert changed(result, 'remove all') and not any(pm.exists(n) for n in names)


def test_rotation_recreates_file_and_env_consumers(pm, podman, playbook):
    file_secret, env_secret = pm.name('dbpw'), pm.name('djkey')
    running, created = pm.name('web'), pm.name('worker')
    values = {k: new_secret() for k in ('f1', 'e1', 'f2', 'e2')}
    old = {'secrets': [{'name': file_secret, 'data': '{{ f1 }}'}, {'name': env_secret, 'data': '{{ e1 }}'}]}
    new = {'recreate_consumers': True,
           'secrets': [{'name': file_secret, 'data': '{{ f2 }}'}, {'name': env_secret, 'data': '{{ e2 }}'}]}
    playbook(secret_vars=values, tasks=[task('old values', old)])
    secret_opts = ('--secret', file_secret, '--secret', '%s,type=env,target=DJANGO_KEY' % env_secret)
    podman.run_container(running, *secret_opts)
    podman('create', '--name', created, '-v', '/usr:/usr:ro', *secret_opts, podman.IMAGE, '/bin/sleep', 'infinity')
    assert pm.read(running, '/run/secrets/' + file_secret) == values['f1']
    assert pm.env(running, 'DJANGO_KEY') == values['e1']
    before = pm.container_id(running)

    result = playbook(secret_vars=values, tasks=[
        task('check rotate', new, check=True),
        {'name': 'info', INFO: {'name': [file_secret, env_secret]}},
        task('rotate', new),
        task('rotate again', new),
    ])
    check = res(result, 'check rotate')
    assert check['consumers'] == {file_secret: sorted([created, running]), env_secret: sorted([created, running])}
    assert check['recreated'] == []
    assert [s['consumers'] for s in res(result, 'info')['secrets']] == [sorted([created, running])] * 2
    rotate = res(result, 'rotate')
    assert sorted((r['name'], r['action']) for r in rotate['recreated']) == sorted([(created, 'recreated'), (running, 'recreated')])
    assert not changed(result, 'rotate again')
    assert pm.container_id(running) != before
    assert pm.read(running, '/run/secrets/' + file_secret) == values['f2']
    assert pm.env(running, 'DJANGO_KEY') == values['e2']
    # A container made with ``podman create`` is recreated but left stopped, as it was.
    state = podman('container', 'inspect', '--format', '{{.State.Status}}', created).stdout.decode().strip()
    assert state in ('created', 'configured')
    podman('start', created)
    assert pm.env(created, 'DJANGO_KEY') == values['e2']
    names = podman('ps', '-a', '--format', '{{.Names}}').stdout.decode().split()
    assert not [n for n in names if 'turnkey-old' in n]


def test_failed_recreation_is_finished_by_the_next_run(pm, podman, playbook, tmp_path):
    """The container's --env-file is gone when the secret changes: podman cannot recreate
    it, the module fails and puts the old container back (running, on the old value).  Once
    the file is back, the same task finds the container still on the old secret (its secret
    ID is the removed one's), recreates it and reports changed; a third run changes nothing."""
    secret, web = pm.name('stale'), pm.name('staleweb')
    env_file = tmp_path / 'web.env'
    env_file.write_text('MODE=test\n')
    values = {'v1': new_secret(), 'v2': new_secret()}
    playbook(secret_vars=values, tasks=[task('old', {'secrets': [{'name': secret, 'data': '{{ v1 }}'}]})])
    podman.run_container(web, '--secret', secret, '--env-file', str(env_file))
    env_file.unlink()
    new = {'recreate_consumers': True, 'secrets': [{'name': secret, 'data': '{{ v2 }}'}]}
    failed = playbook(secret_vars=values, expect_rc=2, tasks=[task('rotate', new)])
    assert 'recreating container %s failed' % web in failed.task('rotate')['result']['msg']
    assert pm.read(web, '/run/secrets/' + secret) == values['v1']

    env_file.write_text('MODE=test\n')
    result = playbook(secret_vars=values, tasks=[task('check', new, check=True), task('rerun', new), task('again', new)])
    assert res(result, 'check')['stale_consumers'] == [web] and changed(result, 'check')
    assert res(result, 'rerun')['stale_consumers'] == [web]
    assert [(r['name'], r['action']) for r in res(result, 'rerun')['recreated']] == [(web, 'recreated')]
    assert changed(result, 'rerun') and not changed(result, 'again')
    assert res(result, 'again')['stale_consumers'] == []
    assert pm.read(web, '/run/secrets/' + secret) == values['v2']


def test_unverifiable_secret_force_and_skip_existing(pm, podman, playbook):
    name, skipped = pm.name('byhand'), pm.name('skip')
    values = {'v1': new_secret(), 'v2': new_secret()}
    podman('secret', 'create', name, '-', data=values['v1'].encode())
    podman('secret', 'create', skipped, '-', data=values['v1'].encode())
    same = {'name': name, 'data': '{{ v1 }}'}
    result = playbook(secret_vars=values, tasks=[
        task('same data by hand', same),
        task('other data by hand', dict(same, data='{{ v2 }}')),
        task('force', dict(same, data='{{ v2 }}', force=True)),
        task('force again', dict(same, data='{{ v2 }}', force=True)),
        task('skip existing', {'name': skipped, 'data': '{{ v2 }}', 'labels': {'a': 'b'}, 'skip_existing': True}),
    ])
    assert res(result, 'same data by hand')['secret']['action'] == 'unverified'
    assert not changed(result, 'same data by hand') and not changed(result, 'other data by hand')
    assert any('force: true' in w for w in res(result, 'other data by hand')['warnings'])
    assert changed(result, 'force') and not changed(result, 'force again')
    assert res(result, 'force again')['secret']['action'] == 'unchanged'
    assert res(result, 'skip existing')['secret']['action'] == 'skipped' and not changed(result, 'skip existing')
    digest = pm.labels(name)['turnkey.secrets.digest']
    assert digest.startswith('pbkdf2-sha256$') and values['v2'] not in digest
    assert pm.labels(skipped) == {}


def test_binary_path_and_env_are_idempotent(pm, podman, playbook, tmp_path):
    binary, from_env = pm.name('bin'), pm.name('env')
    blob = os.urandom(4096) + b'\x00\xff\n'
    path = tmp_path / 'blob.bin'
    path.write_bytes(blob)
    env_value = new_secret()
    by_path = {'name': binary, 'path': str(path)}
    by_env = {'name': from_env, 'env': 'TK_VALUE'}
    # The variable comes from the environment ansible runs in (as in a CI job): the
    # environment keyword would print it at -vvvv on the module's command line.
    result = playbook(env={'TK_VALUE': env_value}, leak_check=[env_value], tasks=[
        task('binary', by_path), task('binary again', by_path), task('from env', by_env), task('from env again', by_env),
    ])
    assert [changed(result, t) for t in ('binary', 'binary again', 'from env', 'from env again')] == [True, False, True, False]
    digest = podman('run', '--rm', '-v', '/usr:/usr:ro', '--secret', binary, podman.IMAGE,
                    'sha256sum', '/run/secrets/' + binary).stdout.decode().split()[0]
    assert digest == hashlib.sha256(blob).hexdigest()


def test_bad_input_fails_clearly_and_changes_nothing(pm, playbook, tmp_path):
    name, kept = pm.name('bad'), pm.name('kept')
    values = {'v1': new_secret(), 'v2': new_secret()}
    cases = [
        ('missing podman', {'name': name, 'data': '{{ v1 }}', 'executable': '/nonexistent/podman'}, 'executable'),
        ('invalid name', {'name': 'bad/name', 'data': '{{ v1 }}'}, 'invalid secret name'),
        ('invalid name in list', {'secrets': [{'name': name, 'data': '{{ v1 }}'}, {'name': '-x', 'data': '{{ v2 }}'}]},
         'invalid secret name'),
        ('data and path', {'name': name, 'data': '{{ v1 }}', 'path': str(tmp_path)}, 'mutually exclusive'),
        ('oversize', {'name': name, 'data': "{{ 'x' * 512000 }}"}, 'at most 511999 bytes'),
        ('empty', {'name': name, 'data': ''}, 'refuses empty secrets'),
        ('missing path', {'name': name, 'path': str(tmp_path / 'nope')}, 'cannot read path'),
        ('directory path', {'name': name, 'path': str(tmp_path)}, 'cannot read path'),
        ('bad driver on rotation', {'name': kept, 'data': '{{ v2 }}', 'driver': 'nope'}, 'invalid driver'),
        ('unset env', {'name': name, 'env': 'TURNKEY_TEST_UNSET_VARIABLE'},
         'Environment variable TURNKEY_TEST_UNSET_VARIABLE is not set'),
    ]
    tasks = [task('keep', {'name': kept, 'data': '{{ v1 }}'})]
    tasks += [task(case[0], case[1], ignore_errors=True) for case in cases]
    tasks.append(task('kept unchanged', {'name': kept, 'data': '{{ v1 }}'}, check=True))
    result = playbook(secret_vars=values, tasks=tasks)
    for title, _args, message in cases:
        outcome = result.task(title)
        assert outcome['failed'], title
        assert message in outcome['result']['msg'], (title, outcome['result']['msg'])
        assert 'Traceback' not in outcome['result']['msg'] and not outcome['changed'], title
    assert not changed(result, 'kept unchanged')
    assert not pm.exists(name)
    # Only this test's pending names: other workers' rotations hold theirs for a moment.
    pending = {'turnkey-pending.' + hashlib.sha256(n.encode()).hexdigest()[:24] for n in (name, kept)}
    assert not pending & set(pm.podman('secret', 'ls', '--format', '{{.Name}}').stdout.decode().split())
    # containers.podman's wording first, as its podman_secret target matches it.
    assert result.task('unset env')['result']['msg'].startswith('Environment variable TURNKEY_TEST_UNSET_VARIABLE is not set')


def test_info_showsecret_where_podman_has_it(pm, playbook):
    name = pm.name('show')
    value = new_secret()
    result = playbook(secret_vars={'v': value}, tasks=[
        task('create', {'name': name, 'data': '{{ v }}'}),
        {'name': 'show', INFO: {'name': [name], 'showsecret': True}, 'register': 'shown', 'ignore_errors': True},
        {'name': 'use', 'ansible.builtin.assert': {'that': ["shown.secrets[0].SecretData == v"], 'quiet': True},
         'when': 'shown is success'},
    ], expect_rc=0)
    shown = result.task('show')
    version = tuple(int(p) for p in pm.podman('version', '--format', '{{.Client.Version}}').stdout.decode().split('.')[:2])
    if version >= (4, 7):
        assert not shown['failed'] and result.task('use')['result'].get('censored') is None
        # The value reached the registered variable but no output: the result is no_log.
        assert 'censored' in shown['result']
    else:
        assert shown['failed'] and not shown['changed']
        assert shown['result']['msg'].startswith('showsecret needs podman 4.7 or later'), shown['result']['msg']
