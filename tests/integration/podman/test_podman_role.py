"""The podman_secrets role through ansible-playbook -vvvv: one module call, consumers refreshed, no leak."""

from harness import new_secret

APPLY = 'turnkey.secrets.podman_secrets : Apply the podman secrets and recreate the containers using changed ones'
HANDLER = 'turnkey.secrets.podman_secrets : Restart the units using changed podman secrets'


def role_task(items, name='apply'):
    return {'name': name, 'ansible.builtin.include_role': {'name': 'turnkey.secrets.podman_secrets'},
            'vars': {'podman_secrets_list': items}}


def test_role_rotates_and_recreates_consumers(pm, podman, playbook):
    db, key, gone = pm.name('role_db'), pm.name('role_key'), pm.name('role_gone')
    app = pm.name('role_app')
    values = {k: new_secret() for k in ('db1', 'key1', 'db2', 'key2', 'gone1')}

    def items(db_value, key_value, gone_state='present', units=()):
        return [{'name': db, 'value': '{{ %s }}' % db_value, 'labels': {'app': 'trading'}},
                {'name': key, 'value': '{{ %s }}' % key_value, 'units': list(units)},
                {'name': gone, 'value': '{{ gone1 }}', 'state': gone_state}]

    # Creating a secret restarts no unit: nothing can hold an older copy of it.
    playbook(secret_vars=values, tasks=[role_task(items('db1', 'key1', units=['trading-worker.service']))])
    podman.run_container(app, '--secret', db, '--secret', '%s,type=env,target=SECRET_KEY' % key)
    assert pm.env(app, 'SECRET_KEY') == values['key1']

    # A rotation notifies the handler with the units of the rotated secrets.  This machine
    # has no systemd, so the handler's attempt fails there, after the (check mode) apply.
    result = playbook(secret_vars=values, check=True, expect_rc=2, tasks=[
        role_task(items('db1', 'key2', 'absent', units=['trading-worker.service']), 'check')])
    assert result.task(APPLY)['changed']
    assert result.task(HANDLER)['failed'] and result.task(HANDLER)['result']['results'][0]['item'] == 'trading-worker.service'
    assert pm.env(app, 'SECRET_KEY') == values['key1']

    result = playbook(secret_vars=values, tasks=[
        role_task(items('db2', 'key2', 'absent')),
        {'name': 'registered', 'ansible.builtin.debug': {'var': 'podman_secrets_result.consumers'}},
    ])
    apply = result.task(APPLY)
    assert apply['changed'] and apply['result'].get('censored')
    assert result.task('registered')['result']['podman_secrets_result.consumers'] == {db: [app], key: [app], gone: []}
    assert pm.read(app, '/run/secrets/' + db) == values['db2']
    assert pm.env(app, 'SECRET_KEY') == values['key2']
    assert not pm.exists(gone)

    result = playbook(secret_vars=values, tasks=[role_task(items('db2', 'key2', 'absent'))])
    assert not result.changed
