"""Faults in the middle of a forced rotation of the demo with its store in a real 3-node
OpenBao cluster: the leader node killed, or ansible-playbook killed (SIGKILL of its whole
process tree) right after a journal transition.  The next plain run converges: every
consumer holds the store's current value, no old value is lost, the killed run's lock
does not block (its process is gone on this host: taken over at once).

By default: the leader killed once, ansible-playbook killed at one transition; the other
transitions (and the leader killed later in the run) with TURNKEY_FULL_MATRIX=1.
"""

import importlib.util
import os
import signal
import subprocess
import sys
import time

import hvac
import pytest

from bao_cluster import MOUNT, switch_to_openbao
from harness import ROOT, ansible_env, assert_no_secret, run_playbook

from ansible_collections.turnkey.secrets.plugins.plugin_utils._lock_watchdog import descendants, start_time
from ansible_collections.turnkey.secrets.plugins.plugin_utils._stores import openbao


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), '..', 'rotate', path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rotate_env = _load('rotate_env', 'conftest.py')
invariants = _load('rotate_invariants', 'invariants.py')

FULL = os.environ.get('TURNKEY_FULL_MATRIX') == '1'
TRANSITIONS = ['create', 'promote', 'deployed', 'dated', 'finish']
# ``tree``: SIGKILL of ansible-playbook and every process below it.  ``main``: of the main
# process only, at the one transition after which a step still writes (dated: the journal
# entry is dropped next): its orphaned worker resumes after the next run and must change
# nothing (no watchdog kills it with this store; check-and-set refuses its stale write).
KILLED_AT = [(t, 'tree') for t in TRANSITIONS] + [('dated', 'main')] if FULL else [('promote', 'tree')]
LEADER_KILLED_AT = ['create', 'promote', 'deployed'] if FULL else ['create']
NAMES = ('dashboard_password', 'secret_key', 'field_encryption_key')
# How long a run may take once its store lost a node: the client's retry bound (40 s in
# switch_to_openbao) per step at worst, a few steps.
LEADER_LOST_BOUND = 150


class StoreView(object):
    """The Env that tests/integration/rotate/invariants.py checks, its values from the store."""

    def __init__(self, env, cluster, prefix):
        self.env, self.cluster, self.prefix = env, cluster, prefix
        self.inventory, self.state, self.podman_prefix = env.inventory, env.state, env.podman_prefix

    def read(self, name):
        return self.cluster.kv('%s/%s' % (self.prefix, name))

    def vault(self):
        return openbao.values_of({n: self.read(n)['data'] for n in NAMES})


def _env(tmp_path, podman, cluster, info):
    """The demo's vault values seeded into the store (overdue), no consumer deployed yet."""
    env = rotate_env.Env(tmp_path / 'demo')
    env.podman_prefix = podman.prefix + 'baok_'
    env.write_vars('test.yml', {'turnkey_podman_secrets': [
        {'name': env.podman_prefix + 'secret_key', 'var': 'vault_secret_key'},
        {'name': env.podman_prefix + 'field_encryption_key', 'var': 'vault_field_encryption_key'}]})
    values = env.vault()
    switch_to_openbao(env, cluster, info['prefix'])
    client = hvac.Client(url=cluster.url(cluster.leader_node()), token=cluster.root_token)
    for var, value in values.items():
        name, key = openbao.var_to_path(var, NAMES)
        path = '%s/%s' % (info['prefix'], name)
        client.secrets.kv.v2.create_or_update_secret(path=path, secret={key: value}, mount_point=MOUNT)
        client.secrets.kv.v2.update_metadata(path=path, mount_point=MOUNT, custom_metadata={
            'rotated_at': '2025-01-01T00:00:00Z', 'max_age_days': '90'})
    return StoreView(env, cluster, info['prefix']), values


def _start(view, tmp_path, info, transition):
    marker = str(tmp_path / 'paused')
    env = ansible_env({'BAO_TOKEN': info['token'], '_TURNKEY_ROTATION_TEST_PAUSE': transition,
                       '_TURNKEY_ROTATION_TEST_MARKER': marker})
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', view.inventory,
           'turnkey.secrets.rotate', '-e', 'rotate_force=true']
    out = open(str(tmp_path / 'killed.log'), 'wb')
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while not os.path.exists(marker) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    out.close()
    assert os.path.exists(marker), 'the run never reached %s:\n%s' % (transition, open(out.name).read()[-3000:])
    return proc, marker, out.name


def _next_run(view, tmp_path, info, secrets):
    return run_playbook(tmp_path, playbook='turnkey.secrets.rotate', inventory=view.inventory,
                        env={'BAO_TOKEN': info['token']}, leak_check=list(secrets) + [info['token'], info['secret_id']])


def _assert_converged(view, before):
    """Journal empty, lock free, consumers hold the store's values, no old value lost."""
    journal = view.read('_turnkey/journal')['data']
    assert journal == {'journal': {}}, 'rotation left in flight: %s' % sorted(journal)
    assert 'run_id' not in (view.read('_turnkey/lock') or {}).get('data', {}), 'lock left behind'
    after = invariants.assert_converged(view)
    assert before['vault_secret_key'] in [after['vault_secret_key']] + after.get('vault_secret_key_fallbacks', [])
    assert before['vault_field_encryption_key'] in (
        [after['vault_field_encryption_key']] + after.get('vault_field_encryption_key_previous', []))
    return after


def _all_values(*dicts):
    out = []
    for values in dicts:
        for value in values.values():
            out.extend(value if isinstance(value, list) else [value])
    return [v for v in out if isinstance(v, str) and len(v) >= 4]


@pytest.mark.parametrize('transition,mode', KILLED_AT)
def test_ansible_playbook_killed_after_a_transition(bao_cluster, bao_env, tmp_path, podman, transition, mode):
    view, before = _env(tmp_path, podman, bao_cluster, bao_env)
    proc, marker, log = _start(view, tmp_path, bao_env, transition)
    below = descendants(proc.pid)
    for pid in [proc.pid] + (sorted(below) if mode == 'tree' else []):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(60)
    held = view.read('_turnkey/lock')['data']
    assert held['pid'] == proc.pid, held

    started = time.monotonic()
    result = _next_run(view, tmp_path, bao_env, _all_values(before))
    took = time.monotonic() - started
    # The killed run's lock: its process is gone on this host, so it is taken over at once.
    assert 'process %d on this host is gone' % proc.pid in result.output
    after = _assert_converged(view, before)
    if mode == 'main':
        versions = {n: view.read(n)['metadata']['version'] for n in NAMES + ('_turnkey/journal', '_turnkey/lock')}
        open(marker + '.go', 'w').close()
        alive = {p: s for p, s in below.items() if start_time(p) == s}
        assert alive, 'no worker outlived its main process'
        deadline = time.monotonic() + 60
        while any(start_time(p) == s for p, s in alive.items()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(start_time(p) == s for p, s in alive.items()), 'the orphaned worker never finished'
        assert {n: view.read(n)['metadata']['version'] for n in versions} == versions
        assert _assert_converged(view, before) == after
    assert_no_secret(open(log, errors='replace').read(), _all_values(before, after), 'output of the killed run')
    log_text = invariants.assert_logged_once_per_step(view, runs=2)
    assert_no_secret(log_text, _all_values(before, after), 'audit log')
    print('killed (%s) after %s: next run %.1f s' % (mode, transition, took))


@pytest.mark.parametrize('transition', LEADER_KILLED_AT)
def test_leader_killed_mid_rotation(bao_cluster, bao_env, tmp_path, podman, transition):
    view, before = _env(tmp_path, podman, bao_cluster, bao_env)
    proc, marker, log = _start(view, tmp_path, bao_env, transition)
    leader = bao_cluster.leader_node()
    try:
        bao_cluster.kill(leader)
        started = time.monotonic()
        open(marker + '.go', 'w').close()
        try:
            proc.wait(LEADER_LOST_BOUND)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail('the run with its leader lost took over %d s' % LEADER_LOST_BOUND)
        took = time.monotonic() - started
        output = open(log, errors='replace').read()
        # Completed through the standbys, or stopped cleanly saying why.
        assert proc.returncode == 0 or 'the store is unreachable or has no leader' in output, output[-4000:]
        assert 'Traceback' not in output, output[-4000:]
        # The next plain run converges, with the old leader still down.
        result = _next_run(view, tmp_path, bao_env, _all_values(before))
        after = _assert_converged(view, before)
        assert_no_secret(output, _all_values(before, after), 'output of the run that lost its leader')
        new_leader = bao_cluster.leader_node()
        assert new_leader is not leader
        print('leader %s killed after %s: the run went on for %.1f s (rc %d), the next run: %s'
              % (leader['id'], transition, took, proc.returncode,
                 'changed' if result.changed else 'nothing to do'))
    finally:
        if proc.poll() is None:
            proc.kill()
        bao_cluster.restart(leader)
        bao_cluster.wait_healthy()
