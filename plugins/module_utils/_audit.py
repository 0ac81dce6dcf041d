# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compliance audit: find secrets where they must not be, without ever repeating one.

Every finding names a file, a line (or a commit), a rule and a severity.  Its excerpt
keeps only what is not secret (a fixed prefix such as ``SEC`` or the variable name):
the matched value is used in memory to tell duplicates apart and is then dropped.
"""

from __future__ import annotations

import fnmatch
import glob
import grp
import os
import pwd
import re
import stat

from ansible_collections.turnkey.secrets.plugins.module_utils._atomic import parse_mode
from ansible_collections.turnkey.secrets.plugins.module_utils._command import run
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError
from ansible_collections.turnkey.secrets.plugins.module_utils._redact import fingerprint
from ansible_collections.turnkey.secrets.plugins.module_utils._rotation import due

SEVERITIES = ('critical', 'high', 'medium', 'low', 'info')

# rule id -> default severity.  Ids are public: allow-lists and CI filters use them.
RULES = {
    'dingtalk-secret': 'critical',
    'access-token-url': 'critical',
    'private-key': 'critical',
    'password-assignment': 'high',
    'url-credentials': 'high',
    'secret-file-committed': 'critical',
    'secret-file-in-history': 'critical',
    'gitignore-missing': 'high',
    'inventory-clear-secret': 'critical',
    'vault-not-encrypted': 'critical',
    'vault-wrong-label': 'high',
    'vault-password-in-tree': 'critical',
    'vault-password-mode': 'critical',
    'secret-file-mode': 'critical',
    'secret-file-owner': 'high',
    'secret-file-missing': 'low',
    'secret-overdue': 'high',
    'secret-never-rotated': 'medium',
}

DEFAULT_EXCLUDE = ('.git', '.venv', 'venv', 'node_modules', '.tox', '__pycache__', '.collections', '.cache',
                   '.pytest_cache', '.ruff_cache', '.mypy_cache')
DEFAULT_SECRET_FILES = ('.env', '.env.*', '*.env', '.htpasswd', '*.htpasswd', '*.gpg')
DEFAULT_VAULT_PASSWORD_FILES = ('.vault_pass*', '.vault-pass*', '.vault_password*', 'vault_pass', 'vault_pass.txt',
                                'vault-pass.txt', '*.vault_pass')
DEFAULT_GITIGNORE_REQUIRED = ('.env', '.env.production', '.htpasswd', 'backup.gpg', '.vault_pass',
                              '.vault_pass_production')
# Documentation and templates of secret files are meant to be committed.
SAFE_SUFFIXES = ('.example', '.sample', '.template', '.tmpl', '.dist', '.md', '.rst')

SEC_RE = re.compile(r'(?<![0-9A-Za-z])SEC[0-9a-fA-F]{64}(?![0-9A-Za-z])')
TOKEN_RE = re.compile(r'access_token=[0-9a-fA-F]{32,}')
PRIVATE_KEY_RE = re.compile(r'-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY(?: BLOCK)?-----')
URL_CRED_RE = re.compile(r'\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@"\'<>]*:(?P<value>[^/\s@"\'<>]+)@[A-Za-z0-9\[]')
# key <sep> "value"  /  key: 'value'  /  key => "value" ... in any text file.
QUOTED_RE = re.compile(r'''(?P<key>[A-Za-z_][\w.-]*)["']?\s*(?::=|=>|=|:)\s*[rbuRBU]?(?P<q>["'])(?P<value>[^"'\r\n]{1,200}?)(?P=q)''')
# KEY=value at the start of a line: env files, shell, Dockerfile ENV, systemd Environment=.
ENV_RE = re.compile(r'''^\s*(?:export\s+|ENV\s+|Environment=)?(?P<key>[A-Z][A-Z0-9_]*)=(?P<value>[^\s#"'(][^\s#"'()]*)(?:\s|$)''')
# key: value (plain YAML scalar) in YAML files.
YAML_PLAIN_RE = re.compile(r'''^\s*-?\s*(?P<key>[A-Za-z_][\w.-]*):\s+(?P<value>[^\s#"'{\[|>&*!%@`][^#]*?)\s*$''')
INI_PAIR_RE = re.compile(r'''(?P<key>[A-Za-z_]\w*)=(?P<value>"[^"]*"|'[^']*'|[^\s"']+)''')

SECRETISH_RE = re.compile(
    r'(?i)(passw(?:or)?d|passphrase|secret|token|credential|api_?key|private_?key|access_?key|signing_?key|'
    r'(?:^|[_.-])(?:pass|pwd|keys?)(?:$|[_.-]))')
NOT_SECRET_SUFFIX_RE = re.compile(
    r'(?i)[_.-](?:files?|paths?|dirs?|names?|ids?|vars?|env|length|len|size|bits|type|kind|format|label|labels|'
    r'days|at|prefix|count|policy|scheme|rounds|header|field|source|command|cmd|mode|owner|group|hint|ttl|'
    r'expires|age|host|port|user|users|db|timeout|retries|executable|backup|state|create|persist|url_var|'
    r'secure_logging|logging|list|enabled|required|min|max|algorithm|cipher|digest|charset|chars)$')
PLACEHOLDERS = frozenset((
    'password', 'passwd', 'pass', 'secret', 'changeme', 'change_me', 'change-me', 'example', 'redacted',
    'token', 'none', 'null', 'true', 'false', 'yes', 'no', 'omit', 'undefined', 'required', 'optional',
    'hidden', 'placeholder', 'your_password', 'yourpassword', 'mypassword', 'secretkey', 'default'))
REFERENCE_MARKS = ('{{', '{%', '${', '$(', '%(', '%s', '<', '>', 'lookup(', 'getenv', 'environ', '$ANSIBLE_VAULT',
                   '...', '\u2026', '\\u2026')
IDENTIFIER_RE = re.compile(r'^(?:[a-z][a-z0-9]*(?:[_.][a-z0-9]+)+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)$')
VAULT_HEADER_RE = re.compile(r'^\$ANSIBLE_VAULT;(?P<version>[0-9.]+);(?P<cipher>\w+)(?:;(?P<label>[^\s;]+))?')
TEXT_EXTENSIONS_YAML = ('.yml', '.yaml')
INVENTORY_EXTENSIONS = ('', '.yml', '.yaml', '.json', '.ini', '.cfg')
MIN_VALUE_LEN = 6


def secretish(key):
    """True when a variable name says it holds a credential (and not, say, a path to one)."""
    key = str(key)
    return bool(SECRETISH_RE.search(key)) and not NOT_SECRET_SUFFIX_RE.search(key)


def is_reference(value):
    """True for values that only point at a secret: templating, env lookups, names, placeholders."""
    text = str(value).strip()
    if not text:
        return True
    lowered = text.lower()
    if any(mark in lowered for mark in (m.lower() for m in REFERENCE_MARKS)):
        return True
    if text[0] in '$!' or text.startswith(('/', '~/', './', '../')):
        return True
    if lowered in PLACEHOLDERS or len(set(lowered)) == 1 or set(lowered) <= set('*x.-_#'):
        return True
    return bool(IDENTIFIER_RE.match(text))


def _char_classes(value):
    return sum(bool(re.search(pattern, value)) for pattern in ('[a-z]', '[A-Z]', '[0-9]', '[^A-Za-z0-9]'))


def _plausible(value):
    """A literal that looks like a real credential rather than a word, an enum or a reference."""
    # Whitespace means prose (messages, descriptions) far more often than a passphrase.
    if len(value) < MIN_VALUE_LEN or is_reference(value) or any(c.isspace() for c in value):
        return False
    return _char_classes(value) >= 2 or len(value) >= 16


class Match(object):
    __slots__ = ('rule', 'excerpt', 'message', 'fp', 'key')

    def __init__(self, rule, excerpt, message, value, key=None):
        self.rule = rule
        self.excerpt = excerpt
        self.message = message
        self.fp = fingerprint(value)
        self.key = key


def match_line(line, assignments=True, yaml_file=False):
    """Secrets in one line of text, as Match objects (rule, redacted excerpt, fingerprint)."""
    found = []
    for m in SEC_RE.finditer(line):
        found.append(Match('dingtalk-secret', 'SEC\u2026', 'DingTalk robot signing secret (SEC + 64 hex) in clear',
                           m.group(0)))
    for m in TOKEN_RE.finditer(line):
        found.append(Match('access-token-url', 'access_token=\u2026', 'webhook URL with an access_token in clear',
                           m.group(0)))
    m = PRIVATE_KEY_RE.search(line)
    if m:
        found.append(Match('private-key', m.group(0), 'private key in clear', line.strip()))
    for m in URL_CRED_RE.finditer(line):
        value = m.group('value')
        if len(value) >= 3 and not is_reference(value):
            found.append(Match('url-credentials', '\u2026://\u2026:\u2026@', 'URL with an embedded password', value))
    if not assignments:
        return found
    seen = set()
    candidates = [(m, '%s = "\u2026"') for m in QUOTED_RE.finditer(line)]
    candidates += [(m, '%s=\u2026') for m in [ENV_RE.match(line)] if m]
    if yaml_file:
        candidates += [(m, '%s: \u2026') for m in [YAML_PLAIN_RE.match(line)] if m]
    for m, shape in candidates:
        key, value = m.group('key'), m.group('value').strip()
        if key in seen or not secretish(key) or not _plausible(value):
            continue
        if any(hit.rule in ('dingtalk-secret', 'access-token-url', 'url-credentials') for hit in found):
            # Already reported with a sharper rule.
            continue
        seen.add(key)
        found.append(Match('password-assignment', shape % key, 'hardcoded credential assigned to %s' % key,
                           value, key=key))
    return found


# --------------------------------------------------------------------------- findings

class Audit(object):
    """Collects findings, applies the allow-list and renders each one as a line of text."""

    def __init__(self, allow=None, host=None):
        self.allow = [self._check_allow(entry, i) for i, entry in enumerate(allow or [])]
        self.host = host
        self.findings = []
        self.warnings = []
        self._keys = set()

    @staticmethod
    def _check_allow(entry, index):
        if not isinstance(entry, dict) or not (entry.get('rule') or entry.get('path')):
            raise InputError('allow[%d] must be a mapping with at least rule or path, e.g. '
                             '{path: inventory/demo/.vault_pass_demo, rule: vault-password-in-tree, reason: demo only}'
                             % index)
        rule = entry.get('rule') or '*'
        if not any(fnmatch.fnmatchcase(known, rule) for known in RULES):
            raise InputError('allow[%d].rule %r matches no audit rule; known rules: %s'
                             % (index, rule, ', '.join(sorted(RULES))))
        return dict(entry, rule=rule)

    def _allowed_by(self, finding):
        for entry in self.allow:
            if not fnmatch.fnmatchcase(finding['rule'], entry['rule']):
                continue
            if entry.get('path') and not fnmatch.fnmatchcase(finding['path'] or '', entry['path']):
                continue
            if entry.get('host') and not fnmatch.fnmatchcase(finding['host'] or '', entry['host']):
                continue
            return entry
        return None

    def add(self, rule, path, message, severity=None, line=None, commit=None, excerpt=None, dedup=None):
        key = (rule, path, line, commit, dedup)
        if key in self._keys:
            return None
        self._keys.add(key)
        finding = {'rule': rule, 'severity': severity or RULES[rule], 'path': path, 'line': line, 'commit': commit,
                   'host': self.host, 'excerpt': excerpt, 'message': message, 'allowed': False}
        entry = self._allowed_by(finding)
        if entry is not None:
            finding['allowed'] = True
            finding['allow_reason'] = entry.get('reason') or 'allow-listed'
        finding['text'] = render(finding)
        self.findings.append(finding)
        return finding

    def result(self):
        order = {sev: i for i, sev in enumerate(SEVERITIES)}
        findings = sorted(self.findings, key=lambda f: (order[f['severity']], f['host'] or '', f['path'] or '',
                                                        f['line'] or 0, f['commit'] or '', f['rule']))
        summary = {sev: 0 for sev in SEVERITIES}
        summary['allowed'] = 0
        for finding in findings:
            summary['allowed' if finding['allowed'] else finding['severity']] += 1
        return {'findings': findings, 'summary': summary}


def render(finding):
    where = finding['path'] or '-'
    if finding['host']:
        where = '%s:%s' % (finding['host'], where)
    if finding['line']:
        where += ':%d' % finding['line']
    if finding['commit']:
        where += '@%s' % finding['commit'][:12]
    text = '%s %s %s: %s' % (finding['severity'].upper(), finding['rule'], where, finding['message'])
    if finding['excerpt']:
        text += ' [%s]' % finding['excerpt']
    if finding['allowed']:
        text += ' (allowed: %s)' % finding['allow_reason']
    return text


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
    for index, line in enumerate(text.splitlines()):
        # Minified or generated lines: their head is enough, the regexes stay linear.
        for match in match_line(line[:4000], assignments=assignments, yaml_file=yaml_file):
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


def scan_history(audit, root, tree_keys, secret_patterns, tracked, assignments_skip):
    """Content rules over every line ever added in any commit, and secret files ever committed."""
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
        elif in_header:
            if raw.startswith('new file mode') and path not in tracked and is_secret_file(path, secret_patterns):
                audit.add('secret-file-in-history', path,
                          'secret file committed in the past: it is gone from the tree but every clone still has it '
                          '(rotate what it held, then purge history)', commit=commit)
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
                      dedup=name)


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


# --------------------------------------------------------------------------- inventory

def _yaml():
    try:
        import yaml
    except ImportError:
        raise InputError('PyYAML is needed to read inventory files; install it where this module runs') from None
    return yaml


def vault_label(text):
    m = VAULT_HEADER_RE.match(text.strip())
    return (True, m.group('label')) if m else (False, None)


def _walk_nodes(node, parent_key=None):
    """(key, value node) for every scalar reachable from ``node``; list items inherit their key."""
    yaml = _yaml()
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            yield from _walk_nodes(value_node, key)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _walk_nodes(item, parent_key)
    elif isinstance(node, yaml.ScalarNode):
        yield parent_key, node


def scan_inventory_file(audit, relpath, text, vault_id, vault_named):
    """Plaintext secrets, unencrypted vault files and wrong vault-id labels in one inventory file."""
    yaml = _yaml()
    encrypted, label = vault_label(text)
    if encrypted:
        if vault_id and label != vault_id:
            audit.add('vault-wrong-label', relpath,
                      'encrypted with %s, expected vault-id label %s; rekey it with '
                      'turnkey.secrets.vault_rekey (new_vault_id: %s)'
                      % ('label %s' % label if label else 'no vault-id label', vault_id, vault_id))
        return
    nodes = None
    if not relpath.endswith(('.ini', '.cfg')):
        try:
            nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        except yaml.YAMLError as exc:
            mark = getattr(exc, 'problem_mark', None)
            if relpath.endswith(('.yml', '.yaml', '.json')):
                # The parser's message quotes the offending line: never pass it on.
                audit.warnings.append('%s is not valid YAML (line %s); not checked'
                                      % (relpath, mark.line + 1 if mark else '?'))
                return
    if nodes is None or not any(isinstance(n, yaml.MappingNode) for n in nodes):
        _scan_ini(audit, relpath, text)
        return
    clear, inline_labels = [], []
    for doc in nodes:
        for key, node in _walk_nodes(doc):
            if node.tag == '!vault':
                inline_labels.append((node.start_mark.line + 1, vault_label(node.value)[1]))
            elif node.tag in ('tag:yaml.org,2002:str', '!unsafe') and node.value.strip():
                clear.append((key, node))
    for line, label in inline_labels:
        if vault_id and label != vault_id:
            audit.add('vault-wrong-label', relpath,
                      'inline !vault value encrypted with %s, expected vault-id label %s'
                      % ('label %s' % label if label else 'no vault-id label', vault_id), line=line)
    if vault_named:
        if clear:
            audit.add('vault-not-encrypted', relpath,
                      'vault file holds %d value(s) in clear (first at line %d); encrypt it: '
                      'ansible-vault encrypt --vault-id %s@<password file> --encrypt-vault-id %s %s'
                      % (len(clear), clear[0][1].start_mark.line + 1, vault_id or '<env>', vault_id or '<env>',
                         relpath), line=clear[0][1].start_mark.line + 1)
        return
    for key, node in clear:
        if key and secretish(key) and not is_reference(node.value):
            audit.add('inventory-clear-secret', relpath,
                      'inventory variable %s holds a plaintext secret; move it to the vault' % key,
                      line=node.start_mark.line + 1, excerpt='%s: \u2026' % key)


def _scan_ini(audit, relpath, text):
    for index, line in enumerate(text.splitlines()):
        if line.lstrip().startswith(('#', ';', '[')):
            continue
        for m in INI_PAIR_RE.finditer(line):
            key, value = m.group('key'), m.group('value').strip('"\'')
            if secretish(key) and value and not is_reference(value):
                audit.add('inventory-clear-secret', relpath,
                          'inventory variable %s holds a plaintext secret; move it to the vault' % key,
                          line=index + 1, excerpt='%s=\u2026' % key)


# --------------------------------------------------------------------------- hosts

def _owner_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def check_host_files(audit, files):
    """Mode (at most), owner and group of secret files on this host; globs are expanded."""
    checked = 0
    for index, spec in enumerate(files or []):
        path = spec.get('path')
        if not path:
            raise InputError('files[%d] needs a path' % index)
        max_mode = parse_mode(spec.get('mode'), 0o600)
        path = os.path.expanduser(path)
        if glob.has_magic(path):
            paths = sorted(glob.glob(path))
        else:
            paths = [path]
            if not os.path.lexists(path):
                audit.add('secret-file-missing', path, 'secret file listed for this host does not exist')
                continue
        for found in paths:
            try:
                st = os.stat(found)
            except OSError as exc:
                audit.add('secret-file-missing', found, 'cannot stat the secret file: %s' % (exc.strerror or exc))
                continue
            checked += 1
            mode = stat.S_IMODE(st.st_mode)
            extra = mode & ~max_mode
            if extra:
                audit.add('secret-file-mode', found,
                          'mode %04o is wider than %04o; chmod %04o it' % (mode, max_mode, mode & max_mode),
                          severity='critical' if extra & 0o007 else 'high')
            owner, group = spec.get('owner'), spec.get('group')
            if owner not in (None, '') and str(owner) not in (_owner_name(st.st_uid), str(st.st_uid)):
                audit.add('secret-file-owner', found,
                          'owned by %s, expected %s' % (_owner_name(st.st_uid), owner))
            if group not in (None, '') and str(group) not in (_group_name(st.st_gid), str(st.st_gid)):
                audit.add('secret-file-owner', found,
                          'group is %s, expected %s' % (_group_name(st.st_gid), group), dedup='group')
    return checked


# --------------------------------------------------------------------------- rotation

def check_rotation(audit, rotation, path=None, now=None):
    for name, entry in sorted(due(rotation, now=now).items()):
        if not entry['due']:
            continue
        if entry['age_days'] is None:
            audit.add('secret-never-rotated', path, '%s has no rotated_at: it was never rotated by rotate.yml' % name,
                      dedup=name)
        else:
            audit.add('secret-overdue', path, '%s is %d days old (max %d): run rotate.yml'
                      % (name, entry['age_days'], entry['max_age_days']), dedup=name)


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
    """Content rules over the tree (git-listed files when it is a work tree), then git-wide checks."""
    secret_patterns = params.get('secret_file_patterns') or DEFAULT_SECRET_FILES
    rel_inventories = [r for r in (os.path.relpath(i, root) for i in inventories) if not r.startswith('..')]
    tracked = set()
    if is_top:
        tracked = set(_split_z(git(root, 'ls-files', '-z').stdout))
        untracked = _split_z(git(root, 'ls-files', '-o', '--exclude-standard', '-z').stdout)
        files = sorted(p for p in tracked.union(untracked) if not excluded(p, exclude))
    else:
        files = list(walk(root, exclude))
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
        tree_keys |= scan_content(audit_, rel, text, assignments=not _under(rel, rel_inventories))
    if is_top:
        check_gitignore(audit_, root, params.get('gitignore_required') or DEFAULT_GITIGNORE_REQUIRED)
        if params.get('git_history'):
            scanned['commits'] = scan_history(audit_, root, tree_keys, secret_patterns, tracked, rel_inventories)
    return tracked


def _scan_password_files(audit_, root, bases, tracked, params, exclude):
    """Vault password files anywhere in the tree or inventories (ignored by git or not), and the listed ones."""
    patterns = params.get('vault_password_patterns') or DEFAULT_VAULT_PASSWORD_FILES
    seen = set()
    for base in bases:
        for rel in walk(base, exclude):
            full = os.path.join(base, rel)
            real = os.path.realpath(full)
            if not is_secret_file(rel, patterns) or real in seen or os.path.islink(full):
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

    tracked = set()
    if root:
        tracked = _scan_tree(audit_, root, bool(top) and os.path.realpath(top) == root, params, exclude,
                             inventories, scanned)
    _scan_password_files(audit_, root, ([root] if root else []) + inventories, tracked, params, exclude)
    _scan_inventories(audit_, root, inventories, params, exclude, scanned)
    if params.get('rotation'):
        path = params.get('rotation_path')
        check_rotation(audit_, params['rotation'], _display(path, root) if path else 'turnkey_rotation', now=now)
    if params.get('files'):
        scanned['host_files'] = check_host_files(audit_, params['files'])

    result = audit_.result()
    result.update(scanned=scanned, root=root, host=params.get('host'), warnings_list=audit_.warnings)
    return result
