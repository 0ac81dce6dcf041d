"""The audit log writer and reader (plugins/module_utils/_audit_log.py)."""

import base64
import datetime
import json
import multiprocessing
import os
import socket
import stat
from urllib.parse import quote

import pytest

from ansible_collections.turnkey.secrets.plugins.module_utils import _audit_log
from ansible_collections.turnkey.secrets.plugins.module_utils._audit import Audit, check_audit_log

BASE = {'environment': 'test', 'playbook': 'rotate', 'run': 'r1', 'user': 'u', 'controller': 'c'}


def _lines(path):
    with open(path) as handle:
        return [json.loads(line) for line in handle]


def _writer(path, index, count):
    log = _audit_log.Log(path, max_size=10 ** 9)
    for n in range(count):
        log.append([{'step': 'set', 'secret': 's%d' % index, 'outcome': 'x' * 3000, 'n': n}])


def test_append_creates_0600_and_one_line_per_record(tmp_path):
    path = str(tmp_path / 'state' / 'audit.log')
    _audit_log.Log(path).append([{'a': 1}, {'b': 2}])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert _lines(path) == [{'a': 1}, {'b': 2}]


def test_widened_mode_is_narrowed_and_links_refused(tmp_path):
    path = str(tmp_path / 'audit.log')
    _audit_log.Log(path).append([{'a': 1}])
    os.chmod(path, 0o644)
    _audit_log.Log(path).append([{'a': 2}])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    target = tmp_path / 'elsewhere'
    target.write_text('')
    link = str(tmp_path / 'linked.log')
    os.symlink(str(target), link)
    with pytest.raises(OSError):
        _audit_log.Log(link).append([{'a': 1}])
    assert target.read_text() == ''


def test_concurrent_writers_never_interleave(tmp_path):
    path = str(tmp_path / 'audit.log')
    procs = [multiprocessing.Process(target=_writer, args=(path, i, 50)) for i in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    lines = _lines(path)  # every line parses: none was cut by another writer
    assert len(lines) == 200
    assert sorted((r['secret'], r['n']) for r in lines) == sorted(('s%d' % i, n) for i in range(4) for n in range(50))


def test_rotation_by_size_keeps_n(tmp_path):
    path = str(tmp_path / 'audit.log')
    log = _audit_log.Log(path, max_size=200, keep=2)
    for n in range(20):
        log.append([{'n': n, 'pad': 'p' * 60}])
    names = sorted(os.listdir(str(tmp_path)))
    assert names == ['audit.log', 'audit.log.1', 'audit.log.2']
    for name in names:
        assert os.path.getsize(str(tmp_path / name)) <= 200
        assert stat.S_IMODE(os.stat(str(tmp_path / name)).st_mode) == 0o600
    records, bad = _audit_log.read(path)
    ns = [r['n'] for r in records]
    assert bad == 0 and ns == sorted(ns) and ns[-1] == 19  # oldest first, the newest last


def test_syslog_copy(tmp_path):
    address = str(tmp_path / 'log.sock')
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    try:
        _audit_log.Log(str(tmp_path / 'audit.log'), syslog=True, syslog_address=address).append([{'step': 'x'}])
        message = sock.recv(65536)
    finally:
        sock.close()
    assert message.startswith(b'<86>turnkey.secrets[') and message.endswith(b'{"step":"x"}')


def test_context_job_ids():
    env = {'GITHUB_RUN_ID': '42', 'JOB_ID': '7'}
    out = _audit_log.context('prod', 'rotate', 'r', {'tower_job_id': 9}, environ=env)
    assert out['awx_job'] == '9' and out['ci'] == 'github:42' and out['environment'] == 'prod'
    assert _audit_log.context('prod', 'rotate', 'r', {}, environ={'JOB_ID': '7'})['awx_job'] == '7'
    assert 'ci' not in _audit_log.context('prod', 'rotate', 'r', {}, environ={})


def test_from_vars_default_disabled_and_check_mode(tmp_path):
    log = _audit_log.from_vars({'inventory_dir': str(tmp_path)}, lambda v: v)
    assert log.path == str(tmp_path / '.state' / 'audit.log')
    assert _audit_log.from_vars({'inventory_dir': str(tmp_path), 'turnkey_audit_log': ''}, lambda v: v) is None
    assert _audit_log.from_vars({'inventory_dir': str(tmp_path)}, lambda v: v, check_mode=True) is None


class _Kind(object):
    steps = ('set', 'test', 'rollback')

    def keys(self, name):
        return ['vault_' + name]

    def kept_keys(self, name):
        return []

    def steps_of(self, options):
        return self.steps


class _Run(object):
    def __init__(self, values, inflight):
        self.values = values
        self.journal = {'secrets': inflight, 'waiting': []}
        self.entries = {'db': (_Kind(), {})}
        self.done, self.failed, self.undoing, self.waiting_for_person = [], [], [], []

    @property
    def inflight(self):
        return self.journal['secrets']


def test_no_value_in_failure_reasons(tmp_path):
    current, new = 'Curr3nt-' + os.urandom(8).hex(), 'N3w-' + os.urandom(8).hex()
    run = _Run({'vault_db': current}, {'db': {'state': 'pending', 'new': {'vault_db': new}}})
    path = str(tmp_path / 'audit.log')
    encoded = base64.b64encode(new.encode()).decode()
    reason = 'login with %s failed (old %s, b64 %s, url %s)' % (new, current, encoded, quote(current + '/+'))
    trail = _audit_log.Trail(_audit_log.Log(path), BASE, run, 'promote',
                             outcomes={'db1': {'db': 'failed'}},
                             failures=[{'name': 'db', 'host': 'db1', 'step': 'Test db', 'msg': reason}])
    run.inflight['db']['state'] = 'rollback'
    run.undoing.append('db')
    trail.flush()
    trail.flush()  # written once
    text = open(path).read()
    for value in (new, current):
        for form in (value, base64.b64encode(value.encode()).decode(), quote(value)):
            assert form not in text
    lines = _lines(path)
    assert [(r['step'], r['outcome'].split(':')[0]) for r in lines] == [
        ('set', 'set'), ('test', 'failed'), ('promote', 'failed')]
    assert all(r['environment'] == 'test' and r['time'].endswith('Z') for r in lines)


def _at(days_ago, **fields):
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days_ago)
    return dict(fields, time=when.strftime('%Y-%m-%dT%H:%M:%SZ'))


def test_findings_overdue_and_failed_unfollowed(tmp_path):
    records = [
        _at(200, step='start'),
        _at(150, secret='old', step='promote', outcome='promoted'),
        _at(10, secret='fresh', step='promote', outcome='promoted'),
        _at(9, secret='fresh', step='test', host='db1', outcome='failed: test: refused'),
        _at(5, secret='fixed', step='test', host='db1', outcome='failed: test: refused'),
        _at(4, secret='fixed', step='promote', outcome='promoted'),
        _at(3, secret='deploy', step='deploy', host='app1', outcome='failed: host gone'),
        _at(2, secret='deploy', step='deploy', host='app1', outcome='deployed to app1'),
    ]
    found = _audit_log.findings(records, {'old': 90, 'fresh': 90, 'never': 90, 'fixed': 90, 'deploy': 90})
    assert sorted((rule, name) for rule, name, _m in found) == [
        ('rotation-failed', 'fresh'), ('rotation-not-logged', 'deploy'), ('rotation-not-logged', 'never'),
        ('rotation-not-logged', 'old')]
    # A log younger than the max age says nothing about what it never saw.
    assert _audit_log.findings([_at(10, step='start')], {'never': 90}) == []


def test_audit_reads_the_log(tmp_path):
    path = str(tmp_path / 'audit.log')
    _audit_log.Log(path).append([_at(100, step='start'), _at(1, secret='db', step='set', host='h', outcome='failed: set')])
    os.chmod(path, 0o644)
    audit = Audit([], None)
    check_audit_log(audit, path, {'db': {'max_age_days': 30}}, 'audit.log')
    assert sorted(f['rule'] for f in audit.findings) == ['audit-log-mode', 'rotation-failed', 'rotation-not-logged']


def test_unwritable_log_warns_and_goes_on(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('')
    warnings = []
    trail = _audit_log.Trail(_audit_log.Log(str(blocker / 'audit.log')), BASE, None, 'audit', outcome='passed',
                             warn=warnings.append)
    trail.flush()
    trail.flush()
    assert len(warnings) == 1 and 'not written' in warnings[0]
