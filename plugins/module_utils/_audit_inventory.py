# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Audit of inventory files: plaintext secrets, unencrypted vault files, vault-id labels."""

from __future__ import annotations

import re

from ansible_collections.turnkey.secrets.plugins.module_utils._audit_rules import (
    CONFIG_RE, INI_PAIR_RE, MIN_PIN_LEN, is_reference, secretish)
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError

VAULT_HEADER_RE = re.compile(r'^\$ANSIBLE_VAULT;(?P<version>[0-9.]+);(?P<cipher>\w+)(?:;(?P<label>[^\s;]+))?')
INVENTORY_EXTENSIONS = ('', '.yml', '.yaml', '.json', '.ini', '.cfg')
INT_TAG = 'tag:yaml.org,2002:int'


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
            elif node.tag == INT_TAG and len(node.value.lstrip('+-')) >= MIN_PIN_LEN:
                # A PIN or numeric password written as a YAML integer is as clear as a string.
                clear.append((key, node))
    for line, label in inline_labels:
        if vault_id and label != vault_id:
            audit.add('vault-wrong-label', relpath,
                      'inline !vault value encrypted with %s, expected vault-id label %s'
                      % ('label %s' % label if label else 'no vault-id label', vault_id), line=line)
    if vault_named and clear and inline_labels:
        # An inline vault file (turnkey_vault_format: inline) is plain YAML by design; a value
        # in it that is not a !vault string is a secret in clear.
        for key, node in clear:
            audit.add('vault-inline-plaintext', relpath,
                      'inline vault file holds %s in clear (not a !vault value); encrypt it: ansible-vault '
                      'encrypt_string --vault-id %s@<password file> --encrypt-vault-id %s --stdin-name %s'
                      % (key or 'a value', vault_id or '<env>', vault_id or '<env>', key or '<name>'),
                      line=node.start_mark.line + 1, excerpt='%s: \u2026' % key)
        return
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
        # "key = value" lines of [group:vars] sections, "host key=value ..." lines elsewhere.
        spaced = CONFIG_RE.match(line) if ' =' in line or '= ' in line else None
        for m in [spaced] if spaced else INI_PAIR_RE.finditer(line):
            key, value = m.group('key'), m.group('value').strip('"\'')
            if secretish(key) and value and not is_reference(value):
                audit.add('inventory-clear-secret', relpath,
                          'inventory variable %s holds a plaintext secret; move it to the vault' % key,
                          line=index + 1, excerpt='%s=\u2026' % key)
