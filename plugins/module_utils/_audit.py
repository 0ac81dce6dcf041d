# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compliance audit: find secrets where they must not be, without ever repeating one.

Every finding names a file, a line (or a commit), a rule and a severity.  Its excerpt
keeps only what is not secret (a fixed prefix such as ``SEC`` or the variable name):
the matched value is used in memory to tell duplicates apart and is then dropped.

The rules live in ``_audit_rules``, the tree and git scans in ``_audit_tree``, inventory
checks in ``_audit_inventory`` and host file checks in ``_audit_hosts``; this module
runs them (``audit(params)``) and keeps the names other code imports from it.
"""

from __future__ import annotations

import os

from ansible_collections.turnkey.secrets.plugins.module_utils import _audit_log, _audit_report
from ansible_collections.turnkey.secrets.plugins.module_utils._audit_hosts import check_host_files
from ansible_collections.turnkey.secrets.plugins.module_utils._audit_inventory import INVENTORY_EXTENSIONS, _yaml, scan_inventory_file
from ansible_collections.turnkey.secrets.plugins.module_utils._audit_rules import (
    RULES, SEVERITIES, TEXT_EXTENSIONS_YAML, Audit, match_line, render, secretish, task_literals)
from ansible_collections.turnkey.secrets.plugins.module_utils._audit_tree import (
    DEFAULT_EXCLUDE, DEFAULT_GITIGNORE_REQUIRED, DEFAULT_SECRET_FILES, DEFAULT_VAULT_PASSWORD_FILES, SAFE_SUFFIXES,
    _split_z, _under, check_gitignore, check_password_file_mode, collection_fixtures, excluded, git, git_toplevel,
    is_secret_file, read_text, scan_content, scan_history, walk)
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError
from ansible_collections.turnkey.secrets.plugins.module_utils._redact import fingerprint
from ansible_collections.turnkey.secrets.plugins.module_utils._rotation import due

# Names kept importable from here for the module, the role and the tests.
__all__ = ['DEFAULT_EXCLUDE', 'DEFAULT_GITIGNORE_REQUIRED', 'DEFAULT_SECRET_FILES', 'DEFAULT_VAULT_PASSWORD_FILES',
           'RULES', 'SEVERITIES', 'Audit', 'audit', 'check_host_files', 'check_rotation', 'excluded', 'match_line',
           'render', 'scan_inventory_file', 'scan_task_literals', 'secretish']


# --------------------------------------------------------------------------- rotation

def check_rotation(audit, rotation, path=None, now=None):
    for name, entry in sorted(due(rotation, now=now).items()):
        if not entry['due']:
            continue
        if entry['age_days'] is None:
            audit.add('secret-never-rotated', path, '%s has no rotated_at: it was never rotated by rotate.yml' % name,
                      dedup=name, anchor=name)
        else:
            audit.add('secret-overdue', path, '%s is %d days old (max %d): run rotate.yml'
                      % (name, entry['age_days'], entry['max_age_days']), dedup=name, anchor=name)


def check_audit_log(audit, path, rotation, shown, now=None):
    """The audit log of rotate.yml / deploy.yml runs: secrets no run rotated within their
    max age, failed rotations no success followed, a log others can read."""
    if not os.path.isfile(path):
        return
    if os.stat(path).st_mode & 0o077:
        audit.add('audit-log-mode', shown, 'the audit log is readable by others than its owner: chmod 0600 it')
    records, bad = _audit_log.read(path)
    if bad:
        audit.warnings.append('%s: %d line(s) are not JSON; skipped' % (shown, bad))
    ages = {n: (e or {}).get('max_age_days') for n, e in (rotation or {}).items() if isinstance(e, dict)}
    for rule, name, message in _audit_log.findings(records, ages, now=now):
        audit.add(rule, shown, message, dedup=name, anchor=name)


# --------------------------------------------------------------------------- the whole audit

def _display(path, root):
    """Path relative to the tree root when inside it, else absolute."""
    real = os.path.realpath(path)
    if root:
        rel = os.path.relpath(real, root)
        if not rel.startswith('..'):
            return rel
    return real


def _scan_tree(audit_, root, is_top, params, exclude, inventories, scanned):
    """Content rules over the tree (git-listed files when it is a work tree), then git-wide checks.
    Returns the tracked files and the directories of this collection's own fixtures left out."""
    secret_patterns = params.get('secret_file_patterns') or DEFAULT_SECRET_FILES
    rel_inventories = [r for r in (os.path.relpath(i, root) for i in inventories) if not r.startswith('..')]
    tracked = set()
    if is_top:
        tracked = set(_split_z(git(root, 'ls-files', '-z').stdout))
        untracked = _split_z(git(root, 'ls-files', '-o', '--exclude-standard', '-z').stdout)
        files = sorted(p for p in tracked.union(untracked) if not excluded(p, exclude))
    else:
        files = list(walk(root, exclude))
    fixtures = collection_fixtures(root, files, rel_inventories)
    files = [rel for rel in files if not _under(rel, fixtures)]
    tree_keys = set()
    for rel in files:
        if rel in tracked and is_secret_file(rel, secret_patterns):
            audit_.add('secret-file-committed', rel,
                       'secret file is tracked by git: treat everything in it as compromised, rotate it, '
                       'git rm --cached it, add it to .gitignore and purge it from history')
        text = read_text(os.path.join(root, rel), params.get('max_file_size') or 1048576)
        if text is None:
            continue
        scanned['files'] += 1
        # Inventory files get the sharper inventory rules instead of the assignment heuristics.
        in_inventory = _under(rel, rel_inventories)
        tree_keys |= scan_content(audit_, rel, text, assignments=not in_inventory)
        if not in_inventory and rel.endswith(TEXT_EXTENSIONS_YAML):
            scan_task_literals(audit_, rel, text)
    if is_top:
        check_gitignore(audit_, root, params.get('gitignore_required') or DEFAULT_GITIGNORE_REQUIRED)
        if params.get('git_history'):
            scanned['commits'] = scan_history(
                audit_, root, tree_keys, secret_patterns, tracked, rel_inventories,
                vault_patterns=params.get('vault_password_patterns') or DEFAULT_VAULT_PASSWORD_FILES,
                skip=fixtures, exclude=exclude)
    return tracked, fixtures


def scan_task_literals(audit_, relpath, text):
    """``literal-secret-in-task``: a secret written as literal text in a task argument of a
    playbook or role.  It replaces the vaguer ``password-assignment`` finding of the same line."""
    lines = set()
    for line, key, module, value in task_literals(text, _yaml()):
        lines.add(line)
        audit_.add('literal-secret-in-task', relpath,
                   'task argument %s of %s is literal text: ansible prints the source lines of a failing task '
                   '(no_log or not); pass it through a vault variable ("{{ vault_... }}")' % (key, module),
                   line=line, excerpt='%s: \u2026' % key, dedup=fingerprint(value))
    if lines:
        audit_.findings[:] = [f for f in audit_.findings if not (
            f['rule'] == 'password-assignment' and f['path'] == relpath and f['line'] in lines and not f['commit'])]


def _scan_password_files(audit_, root, bases, tracked, params, exclude, fixtures=()):
    """Vault password files anywhere in the tree or inventories (ignored by git or not), and the listed ones."""
    patterns = params.get('vault_password_patterns') or DEFAULT_VAULT_PASSWORD_FILES
    seen = set()
    for base in bases:
        for rel in walk(base, exclude):
            full = os.path.join(base, rel)
            real = os.path.realpath(full)
            if not is_secret_file(rel, patterns) or real in seen or os.path.islink(full):
                continue
            if base == root and _under(rel, fixtures):
                continue
            seen.add(real)
            shown = _display(real, root)
            committed = shown in tracked
            audit_.add('vault-password-in-tree', shown,
                       'vault password file %s; keep it outside the repository (e.g. ~/.vault_pass_<env>, mode 0600)'
                       % ('committed to git: everyone with a clone can decrypt the vault' if committed
                          else 'inside the project tree'),
                       severity='critical' if committed else 'high')
            check_password_file_mode(audit_, shown, real)
    for path in params.get('vault_password_files') or []:
        real = os.path.realpath(os.path.expanduser(path))
        if real not in seen and os.path.isfile(real):
            seen.add(real)
            check_password_file_mode(audit_, _display(real, root), real)


def _scan_inventories(audit_, root, inventories, params, exclude, scanned):
    password_patterns = params.get('vault_password_patterns') or DEFAULT_VAULT_PASSWORD_FILES
    for inventory in inventories:
        for rel in walk(inventory, exclude):
            name = os.path.basename(rel)
            if any(part.startswith('.') for part in rel.split('/')) or name.endswith(SAFE_SUFFIXES):
                continue
            if os.path.splitext(name)[1] not in INVENTORY_EXTENSIONS or is_secret_file(rel, password_patterns):
                continue
            text = read_text(os.path.join(inventory, rel), params.get('max_file_size') or 1048576)
            if text is None:
                continue
            scanned['inventory_files'] += 1
            scan_inventory_file(audit_, _display(os.path.join(inventory, rel), root), text, params.get('vault_id'),
                                vault_named='vault' in name.lower())


def audit(params, now=None):
    """Run every check the options ask for; returns the module result (never a secret)."""
    audit_ = Audit(params.get('allow'), params.get('host'))
    exclude = list(DEFAULT_EXCLUDE) + list(params.get('exclude') or [])
    scanned = {'files': 0, 'commits': 0, 'inventory_files': 0, 'host_files': 0}

    inventories = []
    for source in params.get('inventory') or []:
        real = os.path.realpath(os.path.expanduser(source))
        directory = os.path.dirname(real) if os.path.isfile(real) else real
        if not os.path.isdir(directory):
            audit_.warnings.append('inventory %s is not a file or directory here; not checked' % source)
        elif directory not in inventories:
            inventories.append(directory)

    root = params.get('path')
    if root:
        root = os.path.realpath(os.path.expanduser(root))
        if not os.path.isdir(root):
            raise InputError('path %s is not a directory; give the project tree to audit' % params['path'])
    elif inventories:
        root = inventories[0]
    top = git_toplevel(root) if root else None
    if top and params.get('git_toplevel', True):
        root = os.path.realpath(top)

    tracked, fixtures = set(), []
    if root:
        tracked, fixtures = _scan_tree(audit_, root, bool(top) and os.path.realpath(top) == root, params, exclude,
                                       inventories, scanned)
    _scan_password_files(audit_, root, ([root] if root else []) + inventories, tracked, params, exclude, fixtures)
    _scan_inventories(audit_, root, inventories, params, exclude, scanned)
    if params.get('rotation'):
        path = params.get('rotation_path')
        check_rotation(audit_, params['rotation'], _display(path, root) if path else 'turnkey_rotation', now=now)
    if params.get('audit_log'):
        log_path = os.path.abspath(os.path.expanduser(params['audit_log']))
        check_audit_log(audit_, log_path, params.get('rotation'), _display(log_path, root), now=now)
    if params.get('files'):
        scanned['host_files'] = check_host_files(audit_, params['files'])

    result = audit_.result()
    result.update(scanned=scanned, root=root, host=params.get('host'), not_scanned=fixtures,
                  warnings_list=audit_.warnings)
    if params.get('report'):
        result.update(build_report(params, result))
    return result


def build_report(params, result):
    """The whole audit's report from this scan and the hosts' results (``report: true``)."""
    fail_on = params.get('fail_on') or 'critical'
    if fail_on not in _audit_report.FAIL_LEVELS:
        raise InputError('fail_on must be one of %s, not %r' % (', '.join(_audit_report.FAIL_LEVELS), fail_on))
    old = _audit_report.read_baseline(params.get('baseline'))
    findings, unaudited = _audit_report.merge(result['findings'], params.get('host_results'), old,
                                              bool(params.get('write_baseline')))
    report = _audit_report.report(findings, unaudited, fail_on, params.get('environment'), result['root'],
                                  result['scanned'], result['not_scanned'])
    lines, allowed_lines = _audit_report.lines(report, params.get('report_path') or '-')
    out = {'report': report, 'lines': lines, 'allowed_lines': allowed_lines}
    if params.get('report_format') == 'sarif':
        out['sarif'] = _audit_report.sarif(report)
    if params.get('write_baseline'):
        out['baseline'] = _audit_report.baseline_doc(report, old)
    return out
