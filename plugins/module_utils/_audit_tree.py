# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Audit of a project tree: walking files, reading them, git (tracked files, history,
.gitignore) and vault password files found in it."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import stat

from ansible_collections.turnkey.secrets.plugins.module_utils._audit_inventory import _yaml
from ansible_collections.turnkey.secrets.plugins.module_utils._audit_rules import CONFIG_EXTENSIONS, TEXT_EXTENSIONS_YAML, match_line
from ansible_collections.turnkey.secrets.plugins.module_utils._command import run
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError

DEFAULT_EXCLUDE = ('.git', '.venv', 'venv', 'node_modules', '.tox', '__pycache__', '.collections', '.cache',
                   '.pytest_cache', '.ruff_cache', '.mypy_cache')
DEFAULT_SECRET_FILES = ('.env', '.env.*', '*.env', '.htpasswd', 'htpasswd', '*.htpasswd', '*.gpg')
DEFAULT_VAULT_PASSWORD_FILES = ('.vault_pass*', '.vault-pass*', '.vault_password*', 'vault_pass', 'vault_pass.txt',
                                'vault-pass.txt', '*.vault_pass')
DEFAULT_GITIGNORE_REQUIRED = ('.env', '.env.production', '.htpasswd', 'backup.gpg', '.vault_pass',
                              '.vault_pass_production')
# This collection's own test fixtures, molecule scenarios and demo environment: not part of
# the project that uses it (checked out, vendored or installed), only of its own development.
COLLECTION_FIXTURES = ('tests', 'molecule', 'inventory/demo')
# Documentation and templates of secret files are meant to be committed.
SAFE_SUFFIXES = ('.example', '.sample', '.template', '.tmpl', '.dist', '.md', '.rst')


# --------------------------------------------------------------------------- files and git

def _matches(name, patterns):
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def is_secret_file(relpath, patterns):
    name = os.path.basename(relpath)
    return _matches(name, patterns) and not name.endswith(SAFE_SUFFIXES)


def excluded(relpath, patterns):
    parts = relpath.split('/')
    return any(fnmatch.fnmatchcase(relpath, p) or any(fnmatch.fnmatchcase(part, p) for part in parts) for p in patterns)


def git(root, *args, check=True):
    argv = ['git', '-c', 'safe.directory=*', '-c', 'core.quotepath=off', '-C', root] + list(args)
    return run(argv, check=check)


def git_toplevel(path):
    """The work tree holding ``path``, or None (not a repository, or git missing)."""
    try:
        res = git(path, 'rev-parse', '--show-toplevel', check=False)
    except InputError:
        return None
    return res.stdout.strip() if res.rc == 0 and res.stdout.strip() else None


def _split_z(text):
    return [p for p in text.split('\0') if p]


def read_text(path, max_size):
    """Text of a regular file, or None for binaries, oversized files and unreadable ones."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_size:
            return None
        with open(path, 'rb') as handle:
            data = handle.read()
    except OSError:
        return None
    if b'\0' in data[:8192]:
        return None
    return data.decode('utf-8', 'replace')


def walk(root, exclude):
    """Relative paths of every file under ``root`` (ignored ones included), symlinks not followed."""
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        rel = '' if rel == '.' else rel + '/'
        dirnames[:] = sorted(d for d in dirnames if not excluded(rel + d, exclude))
        for name in sorted(filenames):
            if not excluded(rel + name, exclude):
                yield rel + name


def scan_content(audit, relpath, text, assignments=True, commit=None, line_numbers=None, known=None):
    """Apply the content rules to ``text``; returns the set of (rule, path, fingerprint) found."""
    keys = set()
    yaml_file = relpath.endswith(TEXT_EXTENSIONS_YAML)
    config_file = relpath.endswith(CONFIG_EXTENSIONS)
    for index, line in enumerate(text.splitlines()):
        # Minified or generated lines: their head is enough, the regexes stay linear.
        for match in match_line(line[:4000], assignments=assignments, yaml_file=yaml_file, config_file=config_file):
            key = (match.rule, relpath, match.fp)
            keys.add(key)
            if known is not None and key in known:
                continue
            lineno = line_numbers[index] if line_numbers else index + 1
            audit.add(match.rule, relpath, match.message, line=lineno, commit=commit, excerpt=match.excerpt,
                      dedup=match.fp if commit else None)
            if known is not None:
                known.add(key)
    return keys


def _this_collection(path):
    """True when ``path`` (a galaxy.yml or MANIFEST.json) describes turnkey.secrets."""
    text = read_text(path, 1048576)
    if text is None:
        return False
    yaml = _yaml()
    try:
        info = json.loads(text).get('collection_info') if path.endswith('.json') else yaml.safe_load(text)
    except (ValueError, AttributeError, yaml.YAMLError):
        return False
    return isinstance(info, dict) and (info.get('namespace'), info.get('name')) == ('turnkey', 'secrets')


def collection_fixtures(root, files, keep=()):
    """Directories (relative to ``root``) of this collection's own fixtures, wherever a copy of the
    collection lies in ``files``; those under ``keep`` (an inventory audited on purpose) are kept."""
    found = []
    for rel in files:
        if os.path.basename(rel) not in ('galaxy.yml', 'MANIFEST.json') or not _this_collection(os.path.join(root, rel)):
            continue
        base = os.path.dirname(rel)
        for sub in COLLECTION_FIXTURES:
            prefix = '%s/%s' % (base, sub) if base else sub
            if prefix not in found and not any(_under(k, [prefix]) for k in keep):
                found.append(prefix)
    return found


def scan_history(audit, root, tree_keys, secret_patterns, tracked, assignments_skip, vault_patterns=(), skip=(),
                 exclude=()):
    """Content rules over every line ever added in any commit, and secret or vault password files
    ever committed; paths under ``skip`` or matching ``exclude`` are left out."""
    res = git(root, 'log', '--all', '-p', '-U0', '--no-color', '--no-ext-diff', '--no-renames', '--no-textconv',
              '--format=%x00%H', check=False)
    if res.rc != 0:
        audit.warnings.append('git log failed, history not scanned: %s' % res.stderr.strip()[:300])
        return 0
    known = set(tree_keys)
    commits = 0
    commit = path = None
    in_header = False
    lines, numbers = [], []
    lineno = 0

    def flush():
        if path and lines:
            scan_content(audit, path, '\n'.join(lines), assignments=not _under(path, assignments_skip),
                         commit=commit, line_numbers=numbers, known=known)
        del lines[:]
        del numbers[:]

    for raw in res.stdout.split('\n'):
        if raw.startswith('\0'):
            flush()
            commit, path, in_header, commits = raw[1:].strip(), None, False, commits + 1
        elif raw.startswith('diff --git a/'):
            flush()
            both = raw[len('diff --git a/'):]
            # --no-renames: both sides name the same path ("P b/P").
            path, in_header = both[:(len(both) - 3) // 2], True
            if _under(path, skip) or excluded(path, exclude):
                path = None
        elif in_header:
            if raw.startswith('new file mode') and path and path not in tracked:
                if is_secret_file(path, secret_patterns):
                    audit.add('secret-file-in-history', path,
                              'secret file committed in the past: it is gone from the tree but every clone still has '
                              'it (rotate what it held, then purge history)', commit=commit)
                elif is_secret_file(path, vault_patterns):
                    audit.add('vault-password-in-history', path,
                              'vault password file committed in the past: every clone can still decrypt the vault '
                              'files of that time; rotate the vault password (rotate.yml --tags vault), then purge '
                              'history', commit=commit)
            elif raw.startswith('@@ '):
                in_header = False
        if not in_header and raw.startswith('@@ '):
            m = re.match(r'@@ -\S+ \+(\d+)', raw)
            lineno = int(m.group(1)) if m else 0
        elif not in_header and raw.startswith('+') and path:
            lines.append(raw[1:])
            numbers.append(lineno)
            lineno += 1
    flush()
    return commits


def _under(relpath, prefixes):
    return any(relpath == p or relpath.startswith(p.rstrip('/') + '/') for p in prefixes)


def check_gitignore(audit, root, required):
    probes = []
    for name in required:
        probes += [name, 'any/sub/dir/' + name]
    res = git(root, 'check-ignore', '--no-index', '--', *probes, check=False)
    if res.rc not in (0, 1):
        audit.warnings.append('git check-ignore failed, .gitignore not checked: %s' % res.stderr.strip()[:300])
        return
    ignored = set(res.stdout.splitlines())
    for name in required:
        missing = [p for p in (name, 'any/sub/dir/' + name) if p not in ignored]
        if missing:
            audit.add('gitignore-missing', '.gitignore',
                      '.gitignore does not ignore %s%s; add a pattern for it'
                      % (missing[0], '' if len(missing) == 2 else ' (only at the top level)'),
                      dedup=name, anchor=name)


def check_password_file_mode(audit, display_path, real_path):
    try:
        st = os.stat(real_path)
    except OSError:
        return
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        severity = 'critical' if mode & 0o007 else 'high'
        audit.add('vault-password-mode', display_path,
                  'vault password file mode is %04o, wider than 0600 (%s can read it); chmod 0600 it'
                  % (mode, 'every user' if mode & 0o004 else 'its group' if mode & 0o040 else 'others'),
                  severity=severity)
