"""Real services on loopback for integration tests, and a playbook runner.

Every service runs as a child of the test process on a free loopback port, with its
state in a temporary directory, and is stopped at teardown.  Nothing here is a mock.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
PG_BIN = '/usr/lib/postgresql/15/bin'


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=15.0, host='127.0.0.1'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError('nothing listening on %s:%d after %ss' % (host, port, timeout))


def new_secret(nbytes=18):
    """A fresh random secret for one test run (never a literal in the repository)."""
    return secrets.token_urlsafe(nbytes)


class VaultedInventory(object):
    """A test environment's skeleton: ``<base>/inventory/<name>`` with group_vars/all, a
    fresh random vault password file and ansible-vault helpers for its vault.yml."""

    def __init__(self, base, name):
        self.base = str(base)
        self.name = name
        self.inventory = os.path.join(self.base, 'inventory', name)
        self.gv = os.path.join(self.inventory, 'group_vars', 'all')
        os.makedirs(self.gv)
        self.password_file = os.path.join(self.inventory, '.vault_pass')
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, new_secret().encode())
        os.close(fd)
        self.vault_file = os.path.join(self.gv, 'vault.yml')
        self.rotation_file = os.path.join(self.gv, 'rotation.yml')

    @property
    def vault_args(self):
        return ['--vault-id', '%s@%s' % (self.name, self.password_file)]

    def write_vault(self, values):
        plain = os.path.join(self.base, 'plain.yml')
        fd = os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as handle:
            yaml.safe_dump(values, handle)
        subprocess.run(['ansible-vault', 'encrypt'] + self.vault_args + ['--encrypt-vault-id', self.name,
                       '--output', self.vault_file, plain], check=True, capture_output=True, env=ansible_env())
        os.unlink(plain)

    def vault(self):
        out = subprocess.run(['ansible-vault', 'view'] + self.vault_args + [self.vault_file],
                             capture_output=True, check=True, env=ansible_env()).stdout
        return yaml.safe_load(out)


def ansible_env(extra=None):
    env = dict(os.environ)
    env.update({
        'ANSIBLE_CONFIG': os.path.join(ROOT, 'ansible.cfg'),
        'ANSIBLE_COLLECTIONS_PATH': os.path.join(ROOT, '.collections'),
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_HOST_KEY_CHECKING': 'False',
        'ANSIBLE_RETRY_FILES_ENABLED': 'False',
        'ANSIBLE_CALLBACK_PLUGINS': os.path.join(HERE, 'callback_plugins'),
        'ANSIBLE_CALLBACKS_ENABLED': 'results_file',
        'ANSIBLE_LOCAL_TEMP': os.path.join(ROOT, '.state', 'ansible-tmp'),
        'PATH': os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', ''),
    })
    env.setdefault('CONTAINERS_CONF', os.path.join(ROOT, '.state', 'containers.conf'))
    if extra:
        env.update(extra)
    return env


class PlaybookResult(object):
    def __init__(self, rc, output, results):
        self.rc = rc
        self.output = output
        self.results = results  # list of dicts: host, task, changed, failed, skipped, result

    def task(self, name, host=None):
        """The last result of the task called ``name`` (on ``host``); role tasks match without their role prefix."""
        found = [r for r in self.results if (r['task'] == name or r['task'].endswith(' : ' + name))
                 and (host is None or r['host'] == host)]
        if not found:
            raise KeyError('no result for task %r; tasks seen: %s' % (name, sorted({r['task'] for r in self.results})))
        return found[-1]

    @property
    def changed(self):
        return any(r['changed'] for r in self.results)

    def changed_tasks(self):
        return sorted({r['task'] for r in self.results if r['changed']})


def embedded_base64(value):
    """What base64 of a larger blob holding ``value`` anywhere (a JSON document, an env
    file, ``user:password``) always contains: the encoding of ``value`` at each of the three
    byte alignments, without the characters it shares with its neighbours; standard,
    URL-safe, and URL-encoded."""
    from urllib.parse import quote
    data = value.encode('utf-8', 'surrogateescape') if isinstance(value, str) else bytes(value)
    out = set()
    for shift in range(3):
        # ``shift`` bytes before the value; the first sextet that is all the value's own
        # starts at character ceil(8 * shift / 6), the last whole one ends before the tail.
        encoded = base64.b64encode(b'\0' * shift + data).decode('ascii')
        start, end = -(-8 * shift // 6), 8 * (shift + len(data)) // 6
        core = encoded[start:end]
        if len(core) >= 8:
            out |= {core, core.replace('+', '-').replace('/', '_'), quote(core, safe='')}
    return out


def assert_no_secret(text, secret_values, where='output'):
    """Fail naming which secret (by position, not value) appeared in ``text``: as is, in the
    encodings _redact.variants knows, or inside base64 of a larger value."""
    from ansible_collections.turnkey.secrets.plugins.module_utils._redact import variants
    # Values may be lists (a kind's fallbacks): every leaf is a secret of its own.
    for index, value in enumerate(_leaf_values(list(secret_values))):
        for form in variants(value) | embedded_base64(value):
            if form in text:
                raise AssertionError('secret #%d (a form of it, length %d) appears in the %s' % (index, len(form), where))


def descendants(pid):
    """Every process whose parent chain leads to ``pid`` (ansible-runner's pexpect child and
    ansible's workers call setsid(): a process group does not hold them)."""
    parents = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as handle:
                    parents[int(entry)] = int(handle.read().rsplit(')', 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        children = [p for p, parent in parents.items() if parent == current and p not in found]
        found.update(children)
        todo.extend(children)
    return found


def kill_tree(pid):
    """SIGKILL ``pid`` and all its descendants, as a lost machine or an AWX job cancel with
    a dead node would: each is stopped first, so that none forks (or is re-parented away
    from the tree) between the scan and the kill.  Returns the pids killed."""
    stopped = set()
    while True:
        fresh = ({pid} | descendants(pid)) - stopped
        if not fresh:
            break
        for each in fresh:
            with contextlib.suppress(ProcessLookupError):
                os.kill(each, signal.SIGSTOP)
        stopped |= fresh
    for each in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, signal.SIGKILL)
    return stopped


def alive(pids):
    """Those of ``pids`` still running (a zombie is dead)."""
    out = set()
    for each in pids:
        try:
            with open('/proc/%d/stat' % each) as handle:
                if handle.read().rsplit(')', 1)[1].split()[0] != 'Z':
                    out.add(each)
        except OSError:
            pass
    return out


def run_playbook(tmp_path, tasks=None, playbook=None, secret_vars=None, extra_vars=None, inventory=None,
                 check=False, diff=True, verbosity=4, expect_rc=0, hosts='all', gather_facts=False,
                 env=None, args=(), timeout=600, leak_check=()):
    """Run a playbook at ``-vvvv`` and return a PlaybookResult.

    ``tasks`` (a list) is wrapped into a one-play playbook; ``playbook`` is a path or a
    list of plays.  ``secret_vars`` are written to a 0600 vars file and passed with
    ``-e @file`` (literal secrets in a playbook leak through ansible's error context);
    every one of their values, and everything in ``leak_check``, must be absent from
    the whole output and from the recorded results.
    """
    tmp_path = str(tmp_path)
    os.makedirs(tmp_path, exist_ok=True)
    if playbook is None:
        playbook = [{'name': 'test', 'hosts': hosts, 'gather_facts': gather_facts, 'tasks': tasks}]
    if not isinstance(playbook, str):
        path = os.path.join(tmp_path, 'playbook-%s.yml' % secrets.token_hex(4))
        with open(path, 'w') as handle:
            yaml.safe_dump(playbook, handle, sort_keys=False)
        playbook = path
    if inventory is None:
        inventory = os.path.join(tmp_path, 'inventory-local.ini')
        with open(inventory, 'w') as handle:
            handle.write('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    results_file = os.path.join(tmp_path, 'results-%s.jsonl' % secrets.token_hex(4))
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', inventory, playbook]
    if verbosity:
        cmd.append('-' + 'v' * verbosity)
    if check:
        cmd.append('--check')
    if diff:
        cmd.append('--diff')
    secret_values = []
    if secret_vars:
        vars_path = os.path.join(tmp_path, 'secret-vars-%s.yml' % secrets.token_hex(4))
        fd = os.open(vars_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w') as handle:
            yaml.safe_dump(secret_vars, handle)
        cmd += ['-e', '@' + vars_path]
        secret_values += _leaf_values(secret_vars)
    if extra_vars:
        extra_path = os.path.join(tmp_path, 'extra-vars-%s.yml' % secrets.token_hex(4))
        with open(extra_path, 'w') as handle:
            yaml.safe_dump(extra_vars, handle)
        cmd += ['-e', '@' + extra_path]
    cmd += list(args)
    run_env = ansible_env(env)
    run_env['TURNKEY_TEST_RESULTS'] = results_file
    proc = subprocess.run(cmd, env=run_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout, check=False)
    output = proc.stdout.decode('utf-8', 'replace')
    results = []
    if os.path.exists(results_file):
        with open(results_file) as handle:
            results = [json.loads(line) for line in handle if line.strip()]
    secret_values += [v for v in leak_check if v]
    assert_no_secret(output, secret_values, 'ansible-playbook -vvvv output')
    assert_no_secret(json.dumps(results), secret_values, 'task results')
    if expect_rc is not None and proc.returncode != expect_rc:
        tail = output[-6000:]
        raise AssertionError('ansible-playbook exited %d, expected %d; output tail:\n%s' % (proc.returncode, expect_rc, tail))
    return PlaybookResult(proc.returncode, output, results)


def _leaf_values(obj):
    if isinstance(obj, dict):
        return [v for value in obj.values() for v in _leaf_values(value)]
    if isinstance(obj, (list, tuple)):
        return [v for value in obj for v in _leaf_values(value)]
    if isinstance(obj, (str, bytes)) and len(obj) >= 4:
        return [obj]
    return []


# --------------------------------------------------------------------------- podman

class Podman(object):
    """The host's real podman, with the runc configuration from scripts/setup.sh."""

    IMAGE = 'localhost/turnkey-hostusr:latest'

    def __init__(self, workdir):
        self.workdir = workdir
        self.env = ansible_env()
        self.prefix = 'tk%s_' % secrets.token_hex(3)

    def __call__(self, *args, data=None, check=True):
        proc = subprocess.run(['podman'] + list(args), input=data, env=self.env,
                              capture_output=True, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError('podman %s failed: %s' % (' '.join(args[:2]), proc.stderr.decode(errors='replace')))
        return proc

    def ensure_image(self):
        if self('image', 'exists', self.IMAGE, check=False).returncode == 0:
            return self.IMAGE
        slim = os.path.join(self.workdir, 'slim')
        for d in ('usr', 'etc', 'tmp', 'root', 'proc', 'sys', 'dev', 'run', 'var/tmp'):
            os.makedirs(os.path.join(slim, d), exist_ok=True)
        os.chmod(os.path.join(slim, 'tmp'), 0o1777)
        os.chmod(os.path.join(slim, 'var/tmp'), 0o1777)
        for d in ('bin', 'lib', 'lib64', 'sbin'):
            if not os.path.lexists(os.path.join(slim, d)):
                os.symlink('usr/' + d, os.path.join(slim, d))
        shutil.copy('/etc/passwd', os.path.join(slim, 'etc'))
        shutil.copy('/etc/group', os.path.join(slim, 'etc'))
        tar = subprocess.run(['tar', '-C', slim, '-c', '.'], capture_output=True, check=True).stdout
        self('import', '-q', '--change', 'CMD ["/bin/sleep","infinity"]', '-', self.IMAGE, data=tar)
        return self.IMAGE

    def run_container(self, name, *options, command=('/bin/sleep', 'infinity')):
        """Start a container from the host-/usr image; returns its name."""
        self.ensure_image()
        self('run', '-d', '--name', name, '-v', '/usr:/usr:ro', *options, self.IMAGE, *command)
        return name

    def exec_(self, name, *command):
        return self('exec', name, *command).stdout.decode()

    def cleanup(self):
        names = self('ps', '-a', '--format', '{{.Names}}', check=False).stdout.decode().split()
        mine = [n for n in names if n.startswith(self.prefix)]
        if mine:
            self('rm', '-f', '-t', '0', *mine, check=False)
        remove_podman_secrets(self.prefix)


def remove_podman_secrets(prefix):
    """Remove every podman secret whose name starts with ``prefix`` (a test's or benchmark's own)."""
    env = ansible_env()
    names = subprocess.run(['podman', 'secret', 'ls', '--format', '{{.Name}}'], env=env, capture_output=True,
                           text=True, check=False).stdout.split()
    mine = [n for n in names if n.startswith(prefix)]
    if mine:
        subprocess.run(['podman', 'secret', 'rm'] + mine, env=env, capture_output=True, check=False)


# --------------------------------------------------------------------------- nginx

class Nginx(object):
    """nginx with auth_basic on a loopback port, guarding a static file."""

    def __init__(self, workdir, htpasswd_path, user='root'):
        # Workers run as root by default because pytest's tmp tree is root-only; pass
        # user='www-data' with files outside it to check group-readable permissions.
        self.user = user
        self.workdir = workdir
        self.htpasswd_path = htpasswd_path
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d/' % self.port
        self.proc = None

    def start(self):
        for d in ('logs', 'tmp', 'html'):
            os.makedirs(os.path.join(self.workdir, d), exist_ok=True)
        with open(os.path.join(self.workdir, 'html', 'index.html'), 'w') as handle:
            handle.write('dashboard\n')
        conf = os.path.join(self.workdir, 'nginx.conf')
        with open(conf, 'w') as handle:
            handle.write(textwrap.dedent('''\
                daemon off;
                master_process on;
                user {user};
                worker_processes 1;
                pid {w}/nginx.pid;
                error_log {w}/logs/error.log warn;
                events {{ worker_connections 64; }}
                http {{
                  access_log {w}/logs/access.log;
                  client_body_temp_path {w}/tmp/body;
                  proxy_temp_path {w}/tmp/proxy;
                  fastcgi_temp_path {w}/tmp/fastcgi;
                  uwsgi_temp_path {w}/tmp/uwsgi;
                  scgi_temp_path {w}/tmp/scgi;
                  server {{
                    listen 127.0.0.1:{port};
                    root {w}/html;
                    location / {{
                      auth_basic "dashboard";
                      auth_basic_user_file {htpasswd};
                    }}
                  }}
                }}
                ''').format(w=self.workdir, user=self.user, port=self.port, htpasswd=self.htpasswd_path))
        self.proc = subprocess.Popen(['nginx', '-c', conf, '-p', self.workdir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_port(self.port)
        return self

    def status(self, user, password, path=''):
        """HTTP status nginx answers for these credentials."""
        request = urllib.request.Request(self.url + path)
        token = base64.b64encode(('%s:%s' % (user, password)).encode()).decode()
        request.add_header('Authorization', 'Basic ' + token)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback only
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# --------------------------------------------------------------------------- PostgreSQL

class Postgres(object):
    """A PostgreSQL 15 cluster with scram-sha-256 auth and ``log_statement=all``."""

    def __init__(self, workdir=None):
        # The postgres user must reach its directory: pytest's tmp tree is root-only.
        import tempfile
        self.workdir = workdir or tempfile.mkdtemp(prefix='turnkey-pg.')
        self.port = free_port()
        self.host = '127.0.0.1'
        self.admin_user = 'postgres'
        self.admin_password = new_secret()
        self.data = os.path.join(self.workdir, 'data')
        self.log = os.path.join(self.workdir, 'postgres.log')
        self.socket_dirs = [self.workdir]  # where the server puts its Unix socket

    def _as_postgres(self, *cmd):
        return subprocess.run(['runuser', '-u', 'postgres', '--'] + list(cmd), capture_output=True, check=True)

    def initdb(self):
        os.makedirs(self.workdir, exist_ok=True)
        shutil.chown(self.workdir, 'postgres', 'postgres')
        pwfile = os.path.join(self.workdir, 'pwfile')
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w') as handle:
            handle.write(self.admin_password + '\n')
        shutil.chown(pwfile, 'postgres', 'postgres')
        self._as_postgres(os.path.join(PG_BIN, 'initdb'), '-D', self.data, '-N', '-A', 'scram-sha-256',
                          '--auth-local=peer', '-U', self.admin_user, '--pwfile', pwfile)
        os.unlink(pwfile)

    def pg_ctl_start(self, options=''):
        self._as_postgres(os.path.join(PG_BIN, 'pg_ctl'), '-D', self.data, '-l', self.log, '-w', '-o',
                          '-p %d -k %s -c listen_addresses=127.0.0.1 -c log_statement=all '
                          '-c log_min_error_statement=info -c fsync=off %s'
                          % (self.port, ','.join(self.socket_dirs), options), 'start')
        return self

    def start(self):
        self.initdb()
        return self.pg_ctl_start()

    def connect(self, user=None, password=None, dbname='postgres'):
        import psycopg
        return psycopg.connect(host=self.host, port=self.port, user=user or self.admin_user,
                               password=self.admin_password if password is None else password,
                               dbname=dbname, connect_timeout=5, autocommit=True)

    def can_login(self, user, password, dbname='postgres'):
        import psycopg
        try:
            self.connect(user, password, dbname).close()
            return True
        except psycopg.OperationalError:
            return False

    def sql(self, query, params=None):
        with self.connect() as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else None

    def read_log(self):
        with open(self.log, errors='replace') as handle:
            return handle.read()

    def stop(self):
        subprocess.run(['runuser', '-u', 'postgres', '--', os.path.join(PG_BIN, 'pg_ctl'), '-D', self.data,
                        '-m', 'immediate', 'stop'], capture_output=True, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)


# --------------------------------------------------------------------------- Redis

class Redis(object):
    """redis-server 7 with ACLs kept in an ACL file (so ``ACL SAVE`` persists)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.port = free_port()
        self.host = '127.0.0.1'
        self.admin_user = 'admin'
        self.admin_password = new_secret()
        self.aclfile = os.path.join(workdir, 'users.acl')
        self.conffile = os.path.join(workdir, 'redis.conf')

    def start(self, fresh=True):
        os.makedirs(self.workdir, exist_ok=True)
        if fresh:
            fd = os.open(self.aclfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, 'w') as handle:
                handle.write('user default off\n')
                handle.write('user %s on >%s ~* &* +@all\n' % (self.admin_user, self.admin_password))
            with open(self.conffile, 'w') as handle:
                handle.write('port %d\nbind 127.0.0.1\ndir %s\naclfile %s\nsave ""\nappendonly no\n'
                             'daemonize yes\npidfile %s/redis.pid\nlogfile %s/redis.log\n'
                             % (self.port, self.workdir, self.aclfile, self.workdir, self.workdir))
        subprocess.run(['redis-server', self.conffile], check=True, capture_output=True)
        wait_for_port(self.port)
        return self

    def client(self, user=None, password=None):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        # redis-py retries a refused login with backoff (seconds each): tests want the answer.
        return redis.Redis(host=self.host, port=self.port, username=user or self.admin_user,
                           password=self.admin_password if password is None else password, socket_timeout=5,
                           retry=Retry(NoBackoff(), 0))

    def can_login(self, user, password):
        import redis
        try:
            return bool(self.client(user, password).ping())
        except redis.exceptions.AuthenticationError:
            return False
        except redis.exceptions.ResponseError:
            return False

    def restart(self):
        self.stop()
        self.start(fresh=False)

    def stop(self):
        pidfile = os.path.join(self.workdir, 'redis.pid')
        try:
            with open(pidfile) as handle:
                pid = int(handle.read().strip())
        except (OSError, ValueError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pidfile)
