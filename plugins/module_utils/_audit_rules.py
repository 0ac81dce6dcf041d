# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Audit rules: the rule ids, the patterns that find secrets in a line of text, the literal
task-argument rule, and the findings collector.  No file system access here."""

from __future__ import annotations

import fnmatch
import hashlib
import re

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError
from ansible_collections.turnkey.secrets.plugins.module_utils._redact import fingerprint

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
    'vault-password-in-history': 'critical',
    'gitignore-missing': 'high',
    'inventory-clear-secret': 'critical',
    'vault-not-encrypted': 'critical',
    'vault-inline-plaintext': 'critical',
    'vault-wrong-label': 'high',
    'vault-password-in-tree': 'critical',
    'vault-password-mode': 'critical',
    'secret-file-mode': 'critical',
    'secret-file-owner': 'high',
    'secret-file-missing': 'low',
    'plaintext-backup': 'high',
    'secret-overdue': 'high',
    'secret-never-rotated': 'medium',
    'literal-secret-in-task': 'high',
    'rotation-not-logged': 'high',
    'rotation-failed': 'high',
    'audit-log-mode': 'medium',
}

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
# key = value (unquoted, one word) on a line of its own: .cfg, .ini, .conf (configparser, my.cnf, php.ini).
CONFIG_RE = re.compile(r'''^\s*(?P<key>[A-Za-z_][\w.-]*)\s*[=:]\s*(?P<value>[^\s"';#][^\s"']*)\s*$''')
CONFIG_EXTENSIONS = ('.cfg', '.ini', '.conf', '.cnf', '.properties')

SECRETISH_RE = re.compile(
    r'(?i)(passw(?:or)?d|passphrase|secret|token|credential|api_?key|private_?key|access_?key|signing_?key|'
    r'(?:^|[_.-])(?:pass|pwd|pw|pin|keys?)(?:$|[_.-]))')
NOT_SECRET_SUFFIX_RE = re.compile(
    r'(?i)[_.-](?:files?|paths?|dirs?|names?|ids?|vars?|env|length|len|size|bits|type|kind|format|label|labels|'
    r'days|at|prefix|count|policy|scheme|rounds|header|field|source|command|cmd|mode|owner|group|hint|ttl|'
    r'expires|expiry|age|host|port|user|users|db|timeout|retries|executable|backup|state|create|persist|url_var|'
    r'secure_logging|logging|list|enabled|required|min|max|algorithm|cipher|digest|charset|chars)$')
PLACEHOLDERS = frozenset((
    'password', 'passwd', 'pass', 'secret', 'changeme', 'change_me', 'change-me', 'example', 'redacted',
    'token', 'none', 'null', 'true', 'false', 'yes', 'no', 'omit', 'undefined', 'required', 'optional',
    'hidden', 'placeholder', 'your_password', 'yourpassword', 'mypassword', 'secretkey', 'default'))
REFERENCE_MARKS = ('{{', '{%', '${', '$(', '%(', '%s', '<', '>', 'lookup(', 'getenv', 'environ', '$ANSIBLE_VAULT',
                   '...', '\u2026', '\\u2026')
UPPER_NAME_RE = re.compile(r'^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$')
LOWER_JOINED_RE = re.compile(r'^[a-z][a-z0-9]*(?:[_.][a-z0-9]+)+$')
# $NAME / $name (shell and PHP variables), a crypt(3) hash ($6$..., $2y$..., $apr1$...) or a YAML tag
# (!vault, !unsafe) are not secrets; "$ecr3t..." and "!Xk9..." are.
DOLLAR_REFERENCE_RE = re.compile(r'^\$(?:[A-Z_][A-Z0-9_]*|[a-z_]+)(?:[/:.]|$)|'
                                 r'^\$(?:1|2[abxy]?|5|6|y|gy|7|apr1|argon2(?:id|i|d)|pbkdf2[\w-]*|scrypt|sha1)\$')
TAG_RE = re.compile(r'^!(?:vault|unsafe)(?:\s|$)')
# Words that make a lower-case a_b_c value the name of something (a variable, an algorithm,
# an enum) rather than a pass phrase such as "tiger_maple_orbit_7".
NAME_WORDS = frozenset((
    'vault', 'password', 'passwd', 'pass', 'pw', 'pwd', 'pin', 'secret', 'secrets', 'key', 'keys', 'token', 'tokens',
    'credential', 'credentials', 'api', 'env', 'var', 'vars', 'file', 'path', 'name', 'user', 'admin', 'login', 'auth',
    'db', 'url', 'webhook', 'hash', 'sha', 'sha1', 'sha256', 'sha512', 'md5', 'crypt', 'bcrypt', 'scram', 'apr1',
    'des', 'aes', 'hmac', 'rsa', 'ldap', 'config', 'acl', 'none', 'default', 'previous', 'pending', 'current',
    'old', 'new', 'fallbacks', 'encryption', 'field', 'dingtalk', 'redis', 'postgres', 'django', 'fernet', 'app',
    'portable', 'plaintext', 'apache', 'host', 'local', 'save', 'rewrite', 'always', 'on', 'create'))
TEXT_EXTENSIONS_YAML = ('.yml', '.yaml')
MIN_VALUE_LEN = 6
MIN_PIN_LEN = 4


def secretish(key):
    """True when a variable name says it holds a credential (and not, say, a path to one)."""
    key = str(key)
    return bool(SECRETISH_RE.search(key)) and not NOT_SECRET_SUFFIX_RE.search(key)


def _name_like(text):
    """A lower-case dotted or _-joined value that names something: one of its parts is a
    naming word, and no part mixes digits into letters the way a random token does."""
    parts = re.split(r'[_.]', text)
    if any(re.search(r'[0-9][a-z]', part) for part in parts):
        return False
    return len(parts) < 3 or any(part in NAME_WORDS for part in parts)


def is_reference(value):
    """True for values that only point at a secret: templating, env lookups, names, placeholders."""
    text = str(value).strip()
    if not text:
        return True
    lowered = text.lower()
    if any(mark in lowered for mark in (m.lower() for m in REFERENCE_MARKS)):
        return True
    if DOLLAR_REFERENCE_RE.match(text) or TAG_RE.match(text) or text.startswith(('/', '~/', './', '../')):
        return True
    if lowered in PLACEHOLDERS or len(set(lowered)) == 1 or set(lowered) <= set('*x.-_#'):
        return True
    if UPPER_NAME_RE.match(text):
        return True
    return bool(LOWER_JOINED_RE.match(text)) and _name_like(text)


def _char_classes(value):
    return sum(bool(re.search(pattern, value)) for pattern in ('[a-z]', '[A-Z]', '[0-9]', '[^A-Za-z0-9]'))


def _plausible(value):
    """A literal that looks like a real credential rather than a word, an enum or a reference."""
    if value.isdigit():
        # A PIN or a numeric password (a YAML integer); callers only ask for secret-named keys.
        return len(value) >= MIN_PIN_LEN and len(set(value)) > 1
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


def match_line(line, assignments=True, yaml_file=False, config_file=False):
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
    if config_file:
        candidates += [(m, '%s = \u2026') for m in [CONFIG_RE.match(line)] if m]
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

    def add(self, rule, path, message, severity=None, line=None, commit=None, excerpt=None, dedup=None, anchor=None):
        """Record a finding.  ``anchor`` (never a value: a variable name, a redacted excerpt)
        tells findings of one rule in one file apart in the fingerprint, which leaves out
        the line number so that a baseline survives lines moving."""
        key = (rule, path, line, commit, dedup)
        if key in self._keys:
            return None
        self._keys.add(key)
        finding = {'rule': rule, 'severity': severity or RULES[rule], 'path': path, 'line': line, 'commit': commit,
                   'host': self.host, 'excerpt': excerpt, 'message': message, 'allowed': False,
                   'anchor': anchor if anchor is not None else (excerpt or '')}
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
        seen = {}
        for finding in sorted(findings, key=lambda f: (f['line'] or 0, f['text'])):
            group = (finding['rule'], finding['path'] or '', finding['host'] or '', finding['commit'] or '',
                     finding.pop('anchor'))
            seen[group] = seen.get(group, -1) + 1
            finding['fingerprint'] = finding_fingerprint(group + (str(seen[group]),))
        return {'findings': findings, 'summary': summarize(findings)}


def finding_fingerprint(parts):
    """Stable id of a finding for baselines and SARIF: a digest of where and what, never of a value."""
    return hashlib.sha256('\0'.join(parts).encode('utf-8', 'surrogateescape')).hexdigest()[:32]


def summarize(findings):
    summary = {sev: 0 for sev in SEVERITIES}
    summary['allowed'] = 0
    for finding in findings:
        summary['allowed' if finding['allowed'] else finding['severity']] += 1
    return summary


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


# --------------------------------------------------------------------------- literal task arguments

# Options that take a secret whatever their value looks like (collection modules and common ones).
SECRET_OPTIONS = frozenset((
    'password', 'passwd', 'login_password', 'new_password', 'previous_password', 'old_password', 'admin_password',
    'secret', 'secret_key', 'client_secret', 'token', 'api_token', 'api_key', 'access_token', 'private_key',
    'passphrase', 'vault_password', 'webhook_secret'))
# module name suffix -> {option: 'any' (every literal below is a secret) or 'named' (a literal
# below is a secret when its key is secret-like or it looks like a credential)}.
MODULE_SECRET_OPTIONS = {
    'podman_secret': {'data': 'any', 'value': 'any'},
    'fernet_rotate': {'keys': 'any'},
    'env_file': {'values': 'named'},
    'dingtalk_webhook': {'url': 'any', 'secret': 'any', 'webhook': 'any'},
}
TASK_KEYWORDS = frozenset((
    'name', 'action', 'local_action', 'args', 'any_errors_fatal', 'async', 'become', 'become_exe', 'become_flags',
    'become_method', 'become_user', 'changed_when', 'check_mode', 'collections', 'connection', 'debugger', 'delay',
    'delegate_facts', 'delegate_to', 'diff', 'environment', 'failed_when', 'ignore_errors', 'ignore_unreachable',
    'listen', 'loop', 'loop_control', 'module_defaults', 'no_log', 'notify', 'poll', 'port', 'register',
    'remote_user', 'retries', 'run_once', 'tags', 'throttle', 'timeout', 'until', 'vars', 'when'))
PLAY_TASK_LISTS = ('pre_tasks', 'roles', 'tasks', 'post_tasks', 'handlers')
BLOCK_KEYS = ('block', 'rescue', 'always')
_KV_RE = re.compile(r'''(?P<key>[A-Za-z_]\w*)=(?P<value>"[^"]*"|'[^']*'|\S+)''')


def _templated(text):
    return '{{' in text or '{%' in text


def _task_nodes(node, yaml):
    """Task mappings reachable from a playbook or task-list node (plays, blocks, handlers)."""
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _task_nodes(item, yaml)
        return
    if not isinstance(node, yaml.MappingNode):
        return
    keys = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    if 'hosts' in keys or any(k in keys for k in BLOCK_KEYS):
        for key in PLAY_TASK_LISTS + BLOCK_KEYS:
            if key in keys and key != 'roles':
                yield from _task_nodes(keys[key], yaml)
        return
    yield node


def _literal_args(module, args_node, yaml, strict=None):
    """(key, value node, value) of literal secrets in the arguments of one task; ``strict`` is
    the kind of the enclosing module-specific secret option, if any."""
    short = module.rsplit('.', 1)[-1]
    special = MODULE_SECRET_OPTIONS.get(short, {})
    if isinstance(args_node, yaml.ScalarNode) and args_node.tag == 'tag:yaml.org,2002:str':
        # free-form "key=value key=value" arguments
        for m in _KV_RE.finditer(args_node.value):
            key, value = m.group('key'), m.group('value').strip('"\'')
            sharp = key in SECRET_OPTIONS or special.get(key) == 'any'
            if value and not _templated(value) and (sharp or (secretish(key) and _plausible(value))):
                yield key, args_node, value
        return
    if isinstance(args_node, yaml.SequenceNode):
        for item in args_node.value:
            yield from _literal_args(module, item, yaml, strict)
        return
    if not isinstance(args_node, yaml.MappingNode):
        return
    for key_node, value_node in args_node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else ''
        kind = special.get(key) or strict
        if isinstance(value_node, yaml.ScalarNode):
            value = value_node.value
            if value_node.tag not in ('tag:yaml.org,2002:str', '!unsafe') or not value.strip() or _templated(value):
                continue
            if key in ('url', 'webhook') and 'access_token=' not in value and kind != 'any':
                continue
            if kind == 'any' or key in SECRET_OPTIONS or secretish(key) and (kind == 'named' or _plausible(value)) \
                    or kind == 'named' and _plausible(value) \
                    or ('access_token=' in value and not is_reference(value)):
                yield key, value_node, value
        else:
            # Lists and mappings below (users, secrets, env values, a key list) keep the kind.
            yield from _literal_args(module, value_node, yaml, kind)


def task_literals(text, yaml):
    """``(line, option, module, value)`` for every literal secret in a task argument of a
    playbook or task file (``text``); values are for fingerprints only.  YAML that does not
    parse, or is not a playbook or task list, gives nothing."""
    try:
        docs = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return []
    found = []
    for doc in docs:
        if not isinstance(doc, yaml.SequenceNode):
            continue
        for task in _task_nodes(doc, yaml):
            pairs = [(k.value, v) for k, v in task.value if isinstance(k, yaml.ScalarNode)]
            modules = [(k, v) for k, v in pairs if k not in TASK_KEYWORDS and not k.startswith('with_')]
            extra = [v for k, v in pairs if k == 'args']
            for module, args in modules[:1]:
                for node in [args] + extra:
                    for key, value_node, value in _literal_args(module, node, yaml):
                        found.append((value_node.start_mark.line + 1, key, module, value))
    return found
