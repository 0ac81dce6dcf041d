"""The hosts each later play of rotate.yml targets: the groups with service records, the
groups of kinds that retire an old credential (for secrets in flight or due), never the
controller's pseudo-group."""

from types import SimpleNamespace

from ansible_collections.turnkey.secrets.plugins.plugin_utils import _engine
from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds import KINDS

GROUPS = {'all': ['w1', 'w2', 'r1', 'a1'], 'web': ['w2', 'w1'], 'redis': ['r1'], 'app': ['a1', 'w1']}


def run(inflight=None):
    entries = {'site': (KINDS['htpasswd'], {}), 'cache': (KINDS['redis'], {}), 'robot': (KINDS['dingtalk'], {}),
               'token': (KINDS['generic'], {})}
    return SimpleNamespace(entries=entries, inflight=inflight or {})


def test_service_groups_and_retiring_kinds():
    batches = {'web': [{}], 'controller': [{}]}
    assert _engine.play_hosts(run(), batches, GROUPS, ['site', 'cache']) == {'services': ['w1', 'w2'], 'retire': ['r1']}


def test_retire_comes_from_secrets_in_flight_too():
    hosts = _engine.play_hosts(run({'cache': {'state': 'deployed'}}), {}, GROUPS, [])
    assert hosts == {'services': [], 'retire': ['r1']}


def test_nothing_due_targets_no_host():
    assert _engine.play_hosts(run(), {}, GROUPS, ['token', 'robot']) == {'services': [], 'retire': []}
