"""rotate.yml and deploy.yml run the way AWX runs jobs: through ansible-runner, with a
private data dir (env/passwords answering the vault prompt, env/extravars, env/envvars),
a read-only project, no vault password file anywhere, the demo environment in inline-vault
format in a git checkout, and write-back to a local bare repository as the remote.

The catalogue is the demo's plus the vault password (kind vault), as in production: with
no password file it is skipped with a warning and the rest rotates.

Default suite: one combined scenario (deploy, forced rotation, nothing due, a conflicting
vault.yml on the remote, a push the remote rejects), the kill of the whole runner process
tree right after the first push, and --ask-vault-pass.  TURNKEY_FULL_MATRIX=1 adds a vault
client script and ansible-navigator.
"""

import glob
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time

import pytest
import yaml

from harness import ROOT, alive, ansible_env, assert_no_secret, kill_tree, new_secret

FULL = os.environ.get('TURNKEY_FULL_MATRIX') == '1'
BIN = os.path.dirname(sys.executable)
GIT = ['git', '-c', 'user.name=test', '-c', 'user.email=test@localhost', '-c', 'init.defaultBranch=main']
NAMES = 'dashboard_password, field_encryption_key, secret_key'
# deploy.yml changes no vault password: it names it with the values it applies.
DEPLOYED = NAMES + ', vault_password'

pytestmark = pytest.mark.skipif(not shutil.which('ansible-runner', path=BIN + os.pathsep + os.environ['PATH'])
                                or not shutil.which('git'), reason='ansible-runner and git are needed')


def _git(*args, cwd=None):
    return subprocess.run(GIT + list(args), cwd=cwd, check=True, capture_output=True, text=True).stdout


class Awx(object):
    """A bare remote holding inventory/demo (no vault.yml yet), a read-only project and jobs."""

    def __init__(self, base, podman_prefix):
        self.base = str(base)
        self.password = new_secret()
        # Only the test reads this file (stock ansible-vault); the jobs never see it.
        self.password_file = os.path.join(self.base, 'test-only-vault-pass')
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, self.password.encode())
        os.close(fd)
        self.state = os.path.join(self.base, 'state')
        self.remote = os.path.join(self.base, 'remote.git')
        _git('init', '-q', '--bare', self.remote)
        seed = os.path.join(self.base, 'seed')
        inventory = os.path.join(seed, 'inventory', 'demo')
        shutil.copytree(os.path.join(ROOT, 'inventory', 'demo'), inventory)
        for name in ('.vault_pass_demo', 'group_vars/all/vault.yml', 'group_vars/all/rotation.yml'):
            os.unlink(os.path.join(inventory, name))
        with open(os.path.join(inventory, 'group_vars', 'all', 'main.yml')) as handle:
            catalogue = yaml.safe_load(handle)['turnkey_secrets']
        catalogue['vault_password'] = {'kind': 'vault'}
        with open(os.path.join(inventory, 'group_vars', 'all', 'test.yml'), 'w') as handle:
            yaml.safe_dump({'turnkey_secrets': catalogue, 'turnkey_podman_secrets': [
                {'name': podman_prefix + 'secret_key', 'var': 'vault_secret_key'},
                {'name': podman_prefix + 'field_encryption_key', 'var': 'vault_field_encryption_key'}]}, handle)
        _git('init', '-q', seed)
        _git('add', '-A', cwd=seed)
        _git('commit', '-qm', 'demo environment', cwd=seed)
        _git('push', '-q', self.remote, 'HEAD:refs/heads/main', cwd=seed)
        # The project: playbooks only, read-only (AWX's copy of the project repository).
        self.project = os.path.join(self.base, 'project')
        os.makedirs(self.project)
        for name in ('rotate', 'deploy'):
            with open(os.path.join(self.project, name + '.yml'), 'w') as handle:
                yaml.safe_dump([{'name': name, 'ansible.builtin.import_playbook': 'turnkey.secrets.' + name}], handle)
        for root, dirs, files in os.walk(self.project):
            for name in dirs + files + ['.']:
                path = os.path.join(root, name)
                os.chmod(path, os.stat(path).st_mode & ~0o222)
        self.jobs = []

    def head(self):
        return _git('rev-parse', 'refs/heads/main', cwd=self.remote).strip()

    def log(self):
        """Subjects of the branch's commits, newest first."""
        return _git('log', '--format=%s', 'main', cwd=self.remote).splitlines()

    def push(self, name, text, message):
        """Someone else's commit on the branch: ``text`` appended to ``name`` below inventory/demo."""
        other = os.path.join(self.base, 'other')
        if not os.path.isdir(other):
            _git('clone', '-q', '--branch', 'main', self.remote, other)
        _git('pull', '-q', '--ff-only', cwd=other)
        with open(os.path.join(other, 'inventory', 'demo', name), 'a') as handle:
            handle.write(text)
        _git('commit', '-qam', message, cwd=other)
        _git('push', '-q', 'origin', 'HEAD:main', cwd=other)

    def assert_services_use(self, values):
        """The env file and the htpasswd file on the (local) app host hold ``values``."""
        with open(os.path.join(self.state, 'app.env')) as handle:
            env = dict(line.rstrip('\n').split('=', 1) for line in handle if '=' in line)
        assert env['SECRET_KEY'].strip('\'"') == values['vault_secret_key']
        assert env['FIELD_ENCRYPTION_KEY'].strip('\'"') == values['vault_field_encryption_key']
        # Apache's own check, the password on stdin (-i), never in argv.
        check = subprocess.run(['htpasswd', '-iv', os.path.join(self.state, 'htpasswd'), 'admin'], capture_output=True,
                               input=values['vault_dashboard_password'], text=True, check=False)
        assert check.returncode == 0, 'htpasswd does not hold the dashboard password'

    def remote_file(self, name):
        return _git('show', 'main:inventory/demo/group_vars/all/' + name, cwd=self.remote)

    def remote_vault(self):
        """Every value of the pushed vault.yml, decrypted by stock ansible-vault."""
        text = self.remote_file('vault.yml')
        assert not text.startswith('$ANSIBLE_VAULT') and '!vault |' in text, 'not in inline format'
        values = {}
        for key, raw in yaml.load(text, Loader=_TagLoader).items():
            values[key] = [self.decrypt(v) for v in raw] if isinstance(raw, list) else self.decrypt(raw)
        return values

    def decrypt(self, envelope):
        proc = subprocess.run([os.path.join(BIN, 'ansible-vault'), 'decrypt', '--vault-id',
                               'demo@' + self.password_file, '--output', '-', '-'], input=envelope,
                              capture_output=True, text=True, check=True, env=ansible_env())
        return proc.stdout

    def job(self, playbook, extravars=None, cmdline='--vault-id demo@prompt', prompt=r'^Vault password \(demo\):\s*?$',
            wait=True, after_checkout=None):
        """A runner job on a fresh clone of the remote; returns (job dir, process or rc).
        ``after_checkout()`` runs between the clone and the job (the remote moves on meanwhile)."""
        index = len(self.jobs)
        pdd = os.path.join(self.base, 'job%d' % index)
        os.makedirs(os.path.join(pdd, 'env'))
        checkout = os.path.join(pdd, 'checkout')
        _git('clone', '-q', '--branch', 'main', self.remote, checkout)
        if after_checkout:
            after_checkout()
        extra = {'turnkey_vault_format': 'inline', 'turnkey_vault_password_file': '', 'turnkey_state_dir': self.state,
                 'turnkey_git': {'remote': self.remote, 'branch': 'main'}}
        extra.update(extravars or {})
        files = {'extravars': extra, 'cmdline': cmdline,
                 'envvars': {'ANSIBLE_COLLECTIONS_PATH': os.path.join(ROOT, '.collections'),
                             'ANSIBLE_PIPELINING': 'True',
                             'ANSIBLE_LOCAL_TEMP': os.path.join(pdd, 'tmp'),
                             'CONTAINERS_CONF': os.path.join(ROOT, '.state', 'containers.conf')}}
        if prompt:
            files['passwords'] = {prompt: self.password}
        for name, value in files.items():
            with open(os.path.join(pdd, 'env', name), 'w') as handle:
                handle.write(value if isinstance(value, str) else json.dumps(value))
        env = _runner_env()
        cmd = [os.path.join(BIN, 'ansible-runner'), 'run', pdd, '--project-dir', self.project, '-p', playbook + '.yml',
               '--inventory', os.path.join(checkout, 'inventory', 'demo'), '--ident', 'job']
        self.jobs.append(pdd)
        proc = subprocess.Popen(cmd, env=env, cwd=self.base, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        if not wait:
            return pdd, proc
        proc.communicate(timeout=600)
        return pdd, proc.returncode

    def stdout(self, pdd):
        with open(os.path.join(pdd, 'artifacts', 'job', 'stdout')) as handle:
            return handle.read()

    def assert_no_secret_in_artifacts(self, values):
        """Every file of every job's artifacts/ (AWX keeps job events and stdout)."""
        for pdd in self.jobs:
            for path in glob.glob(os.path.join(pdd, 'artifacts', '**', '*'), recursive=True):
                if os.path.isfile(path):
                    with open(path, 'rb') as handle:
                        assert_no_secret(handle.read().decode('utf-8', 'replace'), values, path)


class _TagLoader(yaml.SafeLoader):
    pass


_TagLoader.add_constructor('!vault', lambda loader, node: loader.construct_scalar(node))


def _tree_digest(top):
    out = {}
    for root, _dirs, files in os.walk(top):
        for name in files:
            with open(os.path.join(root, name), 'rb') as handle:
                out[os.path.join(root, name)] = hashlib.sha256(handle.read()).hexdigest()
    return out


def _leaves(values):
    out = []
    for value in values.values():
        out.extend(value if isinstance(value, list) else [value])
    return [v for v in out if isinstance(v, str) and len(v) >= 4]


@pytest.fixture
def awx(tmp_path, podman):
    return Awx(tmp_path, podman.prefix + 'awx_')


def test_deploy_rotate_nothing_due_a_conflict_and_a_rejected_push(awx):
    project = _tree_digest(awx.project)
    start = awx.head()
    pdd, rc = awx.job('deploy')
    assert rc == 0, awx.stdout(pdd)[-4000:]
    deployed = awx.remote_vault()
    assert sorted(deployed) == ['vault_dashboard_password', 'vault_field_encryption_key', 'vault_secret_key']
    assert awx.head() != start
    assert awx.log() == ['turnkey.secrets: demo: deployed ' + DEPLOYED, 'turnkey.secrets: demo: deploying ' + DEPLOYED,
                         'demo environment']
    assert 'vault password rotation skipped' not in awx.stdout(pdd)
    awx.assert_services_use(deployed)

    # Someone else's commit lands while the job runs (after its checkout): it stays, ours go on top.
    pdd, rc = awx.job('rotate', {'rotate_force': True},
                      after_checkout=lambda: awx.push('hosts.yml', '# meanwhile\n', 'someone else: hosts.yml'))
    assert rc == 0, awx.stdout(pdd)[-4000:]
    out = awx.stdout(pdd)
    # The vault password has no writable file here: skipped, with a warning, the rest rotated.
    assert 'vault password rotation skipped: no writable vault password file' in out
    assert 'vault_password: due, but skipped' in out
    rotated = awx.remote_vault()
    for key in deployed:
        assert rotated[key] != deployed[key], key
    assert rotated['vault_secret_key_fallbacks'][0] == deployed['vault_secret_key']
    assert 'turnkey_rotation_journal' not in rotated
    assert awx.log()[:3] == ['turnkey.secrets: demo: rotated ' + NAMES, 'turnkey.secrets: demo: rotating ' + NAMES,
                             'someone else: hosts.yml']
    assert '# meanwhile' in _git('show', 'main:inventory/demo/hosts.yml', cwd=awx.remote)
    # Only the two files, never anything else.
    changed = _git('diff', '--name-only', 'main~2', 'main', cwd=awx.remote).split()
    assert set(changed) <= {'inventory/demo/group_vars/all/vault.yml', 'inventory/demo/group_vars/all/rotation.yml'}
    assert 'rotated_at' in awx.remote_file('rotation.yml')
    awx.assert_services_use(rotated)

    head = awx.head()
    pdd, rc = awx.job('rotate')
    assert rc == 0, awx.stdout(pdd)[-4000:]
    assert 'To rotate now: nothing' in awx.stdout(pdd)
    assert awx.head() == head

    # vault.yml changed on the branch after the job's checkout: the job stops before set.
    services = _tree_digest(awx.state)
    pdd, rc = awx.job('rotate', {'rotate_force': True},
                      after_checkout=lambda: awx.push('group_vars/all/vault.yml', '# edited\n', 'someone else: vault'))
    assert rc != 0
    out = awx.stdout(pdd)
    assert 'inventory/demo/group_vars/all/vault.yml on branch main changed since this run read it' in out
    assert 'conflict, nothing was pushed' in out and 'stopped before any service' in out
    assert 'Set, test, roll back, promote' not in out
    assert _tree_digest(awx.state) == services
    assert awx.log()[0] == 'someone else: vault'
    conflicted = awx.head()

    # A remote that refuses the push: the run stops before any service changes.
    hook = os.path.join(awx.remote, 'hooks', 'pre-receive')
    with open(hook, 'w') as handle:
        handle.write('#!/bin/sh\necho "pushes are frozen" >&2\nexit 1\n')
    os.chmod(hook, 0o755)
    pdd, rc = awx.job('rotate', {'rotate_force': True})
    assert rc != 0
    out = awx.stdout(pdd)
    assert 'pushes are frozen' in out and 'stopped before any service' in out
    assert 'Set, test, roll back, promote' not in out
    assert _tree_digest(awx.state) == services
    assert awx.head() == conflicted
    assert _tree_digest(awx.project) == project
    awx.assert_no_secret_in_artifacts(_leaves(deployed) + _leaves(rotated) + [awx.password])


def test_killed_after_first_push_is_finished_by_a_new_job(awx):
    pdd, rc = awx.job('deploy')
    assert rc == 0, awx.stdout(pdd)[-4000:]
    deployed = awx.remote_vault()
    start = awx.head()
    pdd, proc = awx.job('rotate', {'rotate_force': True}, wait=False)
    deadline = time.monotonic() + 300
    while awx.head() == start and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert awx.head() != start, 'no first push'
    # The whole job: ansible-runner, its ansible-playbook (pexpect's own session) and the workers.
    killed = kill_tree(proc.pid)
    proc.wait()
    assert len(killed) >= 3, 'runner, ansible-playbook and a worker: %d processes' % len(killed)
    deadline = time.monotonic() + 10
    while alive(killed) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(killed)
    # AWX lost the job's copy; the next job starts from the remote.
    assert awx.log()[0] == 'turnkey.secrets: demo: rotating ' + NAMES
    pending = awx.remote_vault()
    assert 'turnkey_rotation_journal' in pending
    pdd, rc = awx.job('rotate')
    assert rc == 0, awx.stdout(pdd)[-4000:]
    assert 'in flight (' in awx.stdout(pdd)
    final = awx.remote_vault()
    assert 'turnkey_rotation_journal' not in final
    for key in deployed:
        assert final[key] != deployed[key], key
    assert awx.log()[:2] == ['turnkey.secrets: demo: rotated ' + NAMES, 'turnkey.secrets: demo: rotating ' + NAMES]
    awx.assert_services_use(final)
    awx.assert_no_secret_in_artifacts(_leaves(deployed) + _leaves(pending) + _leaves(final) + [awx.password])


def test_ask_vault_pass(awx):
    pdd, rc = awx.job('deploy')
    assert rc == 0, awx.stdout(pdd)[-4000:]
    before = awx.remote_vault()
    # --ask-vault-pass: the runner answers the plain prompt.
    pdd, rc = awx.job('rotate', {'rotate_force': True}, cmdline='--ask-vault-pass', prompt=r'^Vault password:\s*?$')
    assert rc == 0, awx.stdout(pdd)[-4000:]
    after = awx.remote_vault()
    for key in before:
        assert after[key] != before[key], key
    awx.assert_services_use(after)
    awx.assert_no_secret_in_artifacts(_leaves(before) + _leaves(after) + [awx.password])


@pytest.mark.skipif(not FULL, reason='TURNKEY_FULL_MATRIX=1')
def test_client_script_and_navigator(awx, tmp_path):
    pdd, rc = awx.job('deploy')
    assert rc == 0, awx.stdout(pdd)[-4000:]
    before = awx.remote_vault()
    # A vault client script (what an AWX vault credential plugin or a password manager gives).
    script = os.path.join(str(tmp_path), 'vault-client.py')
    with open(script, 'w') as handle:
        handle.write('#!%s\nimport sys\nsys.stdout.write(open(%r).read())\n' % (sys.executable, awx.password_file))
    os.chmod(script, stat.S_IRWXU)
    pdd, rc = awx.job('rotate', {'rotate_force': True}, cmdline='--vault-id demo@' + script, prompt=None)
    assert rc == 0, awx.stdout(pdd)[-4000:]
    after_script = awx.remote_vault()
    assert after_script['vault_secret_key'] != before['vault_secret_key']
    awx.assert_services_use(after_script)
    # ansible-navigator without an execution environment.
    checkout = os.path.join(str(tmp_path), 'nav')
    _git('clone', '-q', '--branch', 'main', awx.remote, checkout)
    extra = os.path.join(str(tmp_path), 'nav-extra.json')
    with open(extra, 'w') as handle:
        json.dump({'turnkey_vault_password_file': '', 'turnkey_state_dir': awx.state, 'rotate_force': True,
                   'turnkey_git': {'remote': awx.remote, 'branch': 'main'}}, handle)
    nav = subprocess.run([os.path.join(BIN, 'ansible-navigator'), 'run', os.path.join(awx.project, 'rotate.yml'),
                          '--ee', 'false', '--mode', 'stdout', '--pae', 'false', '--lf', os.path.join(str(tmp_path), 'nav.log'),
                          '-i', os.path.join(checkout, 'inventory', 'demo'), '--vault-id', 'demo@' + script,
                          '-e', '@' + extra], env=_runner_env(), capture_output=True, text=True, timeout=600,
                         cwd=str(tmp_path), check=False)
    assert nav.returncode == 0, nav.stdout[-4000:] + nav.stderr[-2000:]
    final = awx.remote_vault()
    assert final['vault_secret_key'] != after_script['vault_secret_key']
    awx.assert_services_use(final)
    secrets_seen = _leaves(before) + _leaves(after_script) + _leaves(final) + [awx.password]
    assert_no_secret(nav.stdout + nav.stderr, secrets_seen, 'navigator output')
    awx.assert_no_secret_in_artifacts(secrets_seen)


def _runner_env():
    env = ansible_env()
    env.pop('ANSIBLE_CONFIG')
    env.pop('ANSIBLE_CALLBACKS_ENABLED')
    env['ANSIBLE_PIPELINING'] = 'True'
    return env
