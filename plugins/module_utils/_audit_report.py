# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit report: the controller's findings and every host's merged, reviewed findings
accepted by a baseline file, and the SARIF 2.1.0 form for code scanning.  Findings carry
no secret (see _audit_rules), so nothing here can leak one."""

from __future__ import annotations

import json
import os

from ansible_collections.turnkey.secrets.plugins.module_utils._atomic import read_bytes
from ansible_collections.turnkey.secrets.plugins.module_utils._audit_rules import RULES, SEVERITIES, render, summarize
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError

BASELINE_VERSION = 1
FAIL_LEVELS = {'critical': SEVERITIES[:1], 'high': SEVERITIES[:2], 'medium': SEVERITIES[:3], 'low': SEVERITIES[:4],
               'never': ()}
SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json'
SARIF_LEVELS = {'critical': 'error', 'high': 'error', 'medium': 'warning', 'low': 'note', 'info': 'note'}
# GitHub code scanning ranks security results by this property (CVSS-like, 0.0-10.0).
SECURITY_SEVERITY = {'critical': '9.5', 'high': '7.5', 'medium': '5.0', 'low': '2.0', 'info': '0.0'}
RULE_HELP = 'https://github.com/turnkey-secrets/turnkey.secrets/blob/main/docs/audit.md'
FINGERPRINT_NAME = 'turnkeyAuditFinding/v1'


def read_baseline(path):
    """{fingerprint: entry} of a baseline file; {} when there is none yet."""
    if not path:
        return {}
    data = read_bytes(os.path.expanduser(path))
    if data is None:
        return {}
    try:
        doc = json.loads(data.decode('utf-8'))
        entries = doc['findings']
        return {str(e['fingerprint']): e for e in entries}
    except (ValueError, KeyError, TypeError):
        raise InputError('baseline %s is not an audit baseline (JSON with findings: [{fingerprint, ...}]); '
                         'write a new one with audit_write_baseline: true' % path) from None


def merge(tree_findings, host_results, baseline=None, write_baseline=False):
    """Every finding, most severe first, and the hosts that were to be checked but gave no result
    (unreachable, or the check failed).  Findings whose fingerprint the baseline lists are marked
    allowed; with ``write_baseline`` every finding not allowed otherwise is."""
    findings = list(tree_findings)
    unaudited = []
    for host in sorted(host_results or {}):
        result = host_results[host] or {}
        if 'findings' in result:
            findings.extend(result['findings'])
        elif result and not result.get('skipped'):
            unaudited.append(host)
    baseline = baseline or {}
    for finding in findings:
        entry = baseline.get(finding.get('fingerprint'))
        if finding['allowed'] or not (entry is not None or write_baseline):
            continue
        finding['allowed'] = True
        finding['allow_reason'] = 'baseline: %s' % ((entry or {}).get('reason') or 'reviewed')
        finding['text'] = render(finding)
    order = {sev: i for i, sev in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: (order[f['severity']], f['host'] or '', f['path'] or '', f['line'] or 0,
                                 f['commit'] or '', f['rule']))
    return findings, unaudited


def report(findings, unaudited, fail_on, environment, tree, scanned, not_scanned):
    active = [f for f in findings if not f['allowed']]
    failing = [f for f in active if f['severity'] in FAIL_LEVELS[fail_on]]
    return {
        'environment': environment or '', 'tree': tree, 'fail_on': fail_on,
        'passed': not failing and (not unaudited or fail_on == 'never'),
        'failing': len(failing), 'summary': summarize(findings), 'scanned': scanned, 'not_scanned': not_scanned,
        'unaudited_hosts': unaudited, 'findings': findings,
    }


def lines(rep, report_path):
    """What the play prints: the findings that count, then one summary line; the allowed ones
    apart (printed with -v)."""
    out = [f['text'] for f in rep['findings'] if not f['allowed']]
    if rep['unaudited_hosts']:
        out.append('NOT AUDITED (unreachable or failed): ' + ', '.join(rep['unaudited_hosts']))
    s = rep['summary']
    out.append('audit of %s: %d critical, %d high, %d medium, %d low, %d allowed%s; report: %s'
               % (rep['environment'] or rep['tree'], s['critical'], s['high'], s['medium'], s['low'], s['allowed'],
                  ' (listed with -v)' if s['allowed'] else '', report_path))
    return out, [f['text'] for f in rep['findings'] if f['allowed']]


def baseline_doc(rep, old=None):
    """The baseline accepting every finding of ``rep`` not allowed by audit_allow; reasons
    written by hand in ``old`` are kept."""
    old = old or {}
    entries = []
    for f in rep['findings']:
        if f['allowed'] and not f.get('allow_reason', '').startswith('baseline: '):
            continue
        entry = {k: f[k] for k in ('fingerprint', 'rule', 'severity', 'path', 'line', 'commit', 'host') if f.get(k)}
        entry['reason'] = (old.get(f['fingerprint']) or {}).get('reason') or 'reviewed'
        entries.append(entry)
    entries.sort(key=lambda e: (e.get('path') or '', e['rule'], e.get('host') or '', e['fingerprint']))
    return {'version': BASELINE_VERSION, 'generated_by': 'turnkey.secrets.audit',
            'how': 'findings accepted after review; regenerate with -e audit_write_baseline=true',
            'findings': entries}


def _location(finding, tree):
    path = finding.get('path')
    if not path:
        return None
    if os.path.isabs(path):
        artifact = {'uri': 'file://' + path}
    else:
        artifact = {'uri': path, 'uriBaseId': 'PROJECTROOT'}
    physical = {'artifactLocation': artifact}
    if finding.get('line'):
        physical['region'] = {'startLine': int(finding['line'])}
    return {'physicalLocation': physical}


def sarif(rep, tool_version=None):
    """SARIF 2.1.0 log of the report: one run, every rule, every finding (allowed ones as
    suppressed results, so code scanning shows them dismissed rather than not at all)."""
    rule_ids = sorted(RULES)
    index = {rule: i for i, rule in enumerate(rule_ids)}
    rules = [{
        'id': rule, 'name': ''.join(part.capitalize() for part in rule.split('-')),
        'shortDescription': {'text': rule.replace('-', ' ')},
        'helpUri': RULE_HELP + '#rules',
        'defaultConfiguration': {'level': SARIF_LEVELS[RULES[rule]]},
        'properties': {'security-severity': SECURITY_SEVERITY[RULES[rule]], 'tags': ['security', 'secrets']},
    } for rule in rule_ids]
    results = []
    for f in rep['findings']:
        result = {
            'ruleId': f['rule'], 'ruleIndex': index[f['rule']], 'level': SARIF_LEVELS[f['severity']],
            'message': {'text': f['message'] + (' [%s]' % f['excerpt'] if f.get('excerpt') else '')},
            'partialFingerprints': {FINGERPRINT_NAME: f['fingerprint']},
            'properties': {k: f[k] for k in ('severity', 'commit', 'host') if f.get(k)},
        }
        result['properties']['security-severity'] = SECURITY_SEVERITY[f['severity']]
        location = _location(f, rep['tree'])
        if location:
            result['locations'] = [location]
        if f['allowed']:
            result['suppressions'] = [{'kind': 'external', 'status': 'accepted',
                                       'justification': f.get('allow_reason') or 'allowed'}]
        results.append(result)
    driver = {'name': 'turnkey.secrets.audit', 'informationUri': RULE_HELP, 'rules': rules}
    if tool_version:
        driver['version'] = str(tool_version)
    run = {'tool': {'driver': driver}, 'results': results,
           'invocations': [{'executionSuccessful': True,
                            'toolExecutionNotifications': [
                                {'level': 'error', 'message': {'text': 'host not audited: %s' % h}}
                                for h in rep['unaudited_hosts']]}],
           'properties': {'environment': rep['environment'], 'passed': rep['passed'], 'summary': rep['summary']}}
    if rep['tree']:
        run['originalUriBaseIds'] = {'PROJECTROOT': {'uri': 'file://' + rep['tree'].rstrip('/') + '/'}}
    return {'$schema': SARIF_SCHEMA, 'version': '2.1.0', 'runs': [run]}
