# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Set, generate and remove top-level keys of an ansible-vault encrypted vars file.

The file is decrypted in memory only.  Its YAML text is edited surgically: an entry that
changes is rewritten from its key to the end of its value, a removed entry loses its
lines, new entries go after the last one; every other byte (comments, blank lines, key
order, quoting) stays.  The edited text is parsed again and must give exactly the
expected variables before it is encrypted and written, so an edit this code gets wrong
fails instead of corrupting the vault.  Whether anything changed is decided on the
decrypted values, never on ciphertext (every encryption has a new salt).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

from ansible_collections.turnkey.secrets.plugins.module_utils import _atomic, _redact, _vault
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError
from ansible_collections.turnkey.secrets.plugins.module_utils._generate import generate as generate_value, parse_kind
from ansible_collections.turnkey.secrets.plugins.module_utils._vault import yaml

KEY_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')

if yaml is not None:
    class _AnyTagLoader(yaml.SafeLoader):
        """SafeLoader that reads ``!vault``, ``!unsafe`` and other local tags as plain data."""

    def _untagged(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_mapping(node, deep=True)

    _AnyTagLoader.add_multi_constructor('!', _untagged)

    class _Dumper(yaml.SafeDumper):
        """SafeDumper that writes a Vaulted envelope as an inline ``!vault |`` value."""


class Vaulted(str):
    """An envelope (str) that is written as an inline ``!vault |`` value."""


if yaml is not None:
    _Dumper.add_representer(Vaulted, lambda dumper, data: dumper.represent_scalar('!vault', str.__str__(data), style='|'))


def _parse(text, where):
    """``(root node or None, {key: (key node, value node)}, {key: value})``."""
    try:
        documents = [doc for doc in yaml.compose_all(text, Loader=yaml.SafeLoader) if doc is not None]
        data = [doc for doc in yaml.load_all(text, Loader=_AnyTagLoader) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        # Only the position: the parser's message may quote a secret.
        raise InputError('%s does not hold valid YAML%s once decrypted; fix it with ansible-vault edit'
                         % (where, ' (line %d)' % (mark.line + 1) if mark else '')) from None
    if len(documents) > 1:
        raise InputError('%s holds %d YAML documents; a vars file has one' % (where, len(documents)))
    root = documents[0] if documents else None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == 'tag:yaml.org,2002:null'):
        return None, {}, {}
    if not isinstance(root, yaml.MappingNode) or root.flow_style:
        raise InputError('%s must hold a block mapping of variables (key: value lines) once decrypted' % where)
    entries = {}
    for key, value in root.value:
        if not isinstance(key, yaml.ScalarNode):
            raise InputError('%s has a complex (non-scalar) key; edit it with ansible-vault edit' % where)
        if key.value in entries:
            raise InputError('%s defines %s twice; remove one with ansible-vault edit first' % (where, key.value))
        entries[key.value] = (key, value)
    return root, entries, data[0]


def _content_end(text, node):
    """Offset just after the last character that belongs to ``node`` (comments excluded)."""
    if isinstance(node, yaml.ScalarNode):
        if node.style in ('|', '>'):
            # Block scalars run until the next token, over trailing blank lines.
            return len(text[:node.end_mark.index].rstrip())
        return node.end_mark.index
    if node.flow_style or not node.value:
        return node.end_mark.index
    last = node.value[-1]
    return _content_end(text, last[1] if isinstance(node, yaml.MappingNode) else last)


def _render(key, value, column, newline):
    dumped = yaml.dump({key: value}, Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True,
                       width=1 << 30).rstrip('\n')
    return dumped.replace('\n', newline + ' ' * column)


def _apply(text, edits):
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def edit_text(text, where, updates, removals):
    """``text`` with ``updates`` ({key: value}) set and ``removals`` (keys) deleted."""
    root, entries, current = _parse(text, where)
    newline = '\r\n' if '\r\n' in text else '\n'
    edits, additions = [], []
    for key, value in updates.items():
        if key not in entries:
            additions.append((key, value))
            continue
        key_node, value_node = entries[key]
        if value_node.start_mark.index < key_node.start_mark.index:
            raise InputError('%s: %s is a YAML alias; edit it with ansible-vault edit' % (where, key))
        end = _content_end(text, value_node)
        rendered = _render(key, value, key_node.start_mark.column, newline)
        line_end = text.find('\n', end)
        line_end = len(text) if line_end < 0 else line_end - text[line_end - 1:line_end].count('\r')
        rest = text[end:line_end]
        if '!vault |' in rendered and rest.strip().startswith('#'):
            # A comment after the value would land inside the !vault block: it goes after the
            # block's header, where YAML allows it.
            first, _sep, others = rendered.partition(newline)
            rendered, end = first + rest + newline + others, line_end
        edits.append((key_node.start_mark.index, end, rendered))
    for key in removals:
        if key in entries:
            key_node, value_node = entries[key]
            start = text.rfind('\n', 0, key_node.start_mark.index) + 1
            end = text.find('\n', _content_end(text, value_node))
            edits.append((start, len(text) if end < 0 else end + 1, ''))
    new_text = _apply(text, edits)
    if additions:
        root, entries, _ignored = _parse(new_text, where)
        column = root.start_mark.column if entries else 0
        block = newline.join(' ' * column + _render(key, value, column, newline) for key, value in additions)
        if entries:
            point = new_text.find('\n', _content_end(new_text, root))
            point = len(new_text) if point < 0 else point - new_text[point - 1:point].count('\r')
            new_text = new_text[:point] + newline + block + new_text[point:]
        else:
            new_text += ('' if not new_text or new_text.endswith('\n') else newline) + block + newline
    expected = dict(current)
    # A !vault value reads back as its envelope text.
    expected.update(_unvaulted(updates))
    for key in removals:
        expected.pop(key, None)
    if not same(_parse(new_text, where)[2], expected):
        raise TurnkeyError('%s: the edited variables did not read back as expected; nothing was written. '
                           'Edit this file with ansible-vault edit and report the problem' % where)
    return new_text


def _unvaulted(value):
    if isinstance(value, Vaulted):
        return str.__str__(value)
    if isinstance(value, dict):
        return {k: _unvaulted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unvaulted(v) for v in value]
    return value


def parse_values(text, where):
    """The variables of a decrypted vars file."""
    return _parse(text, where)[2]


def plain(value, where='values'):
    """Plain str, list, dict, int, float, bool, None for the YAML dumper.

    Values reach here as tagged or unsafe str subclasses, lazily decrypted vault strings
    (not str at all on ansible-core 2.16-2.18) and mapping or sequence views.
    """
    if value is None or type(value) in (bool, int, float):
        return value
    if isinstance(value, str):
        # str() of ansible-core 2.16-2.18's AnsibleUnsafeText is itself; this is an exact str.
        return str.__str__(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes):
        raise InputError('%s is binary data; give text' % where)
    if isinstance(value, Mapping):
        return {plain(str(k)): plain(v, '%s.%s' % (where, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, Sequence)) and not isinstance(value, str):
        return [plain(v, '%s[%d]' % (where, i)) for i, v in enumerate(value)]
    return str(value)


def same(a, b):
    """Equal values of equal types, recursively (YAML's ``yes`` is not ``1``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def _check_keys(keys, option):
    for key in keys:
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise InputError('%s: %r is not a valid variable name (letters, digits, underscores; not starting with a digit)'
                             % (option, key))


def update_vault_file(path, password, vault_id=None, values=None, generate=None, regenerate=(), remove=(),
                      create=False, mode=None, backup=False, check_mode=False, return_values=False, follow=False,
                      allow_shared_parent=False, vault_format=None):
    """Apply the changes; returns the result dict of the action plugin (values only if asked).

    ``password``: the password bytes, or a list of candidates (the playbook's vault secrets):
    the one that opens the file encrypts it again.  ``vault_format``: ``file`` or ``inline``
    converts the file to it; None keeps an existing file's (a new one is ``file``)."""
    _vault.require_libraries()
    vault_format = check_format(vault_format, 'format')
    passwords = [p for p in (password if isinstance(password, list) else [password]) if p]
    if not passwords:
        raise InputError('no vault password: give vault_password_file or vault_password, or run the playbook with the '
                         'vault-id of %s (--vault-id <label>@prompt, a file or a client script, or --ask-vault-pass)'
                         % path)
    values, generate = dict(values or {}), dict(generate or {})
    regenerate, remove = list(regenerate or ()), list(remove or ())
    path = os.path.abspath(os.path.expanduser(path))
    label = _vault.check_label(vault_id)
    _check_keys(values, 'values')
    _check_keys(generate, 'generate')
    _check_keys(regenerate, 'regenerate')
    _check_keys(remove, 'remove')
    both = sorted(set(values) & set(generate))
    if both:
        raise InputError('%s are both in values and in generate: give each key one source' % ', '.join(both))
    clash = sorted(set(remove) & (set(values) | set(generate)))
    if clash:
        raise InputError('%s are both set and removed' % ', '.join(clash))
    stray = sorted(set(regenerate) - set(generate))
    if stray:
        raise InputError('regenerate lists %s, which generate does not give a kind for' % ', '.join(stray))
    for key, kind in generate.items():
        try:
            parse_kind(kind)
        except InputError as exc:
            raise InputError('generate.%s: %s' % (key, exc.msg)) from None

    # A link planted at the path is refused (follow: true edits the file it points to, the
    # link stays); so is a directory others may write.  Concurrent writers of the file
    # take turns (a sidecar flock), so no update is lost.
    _atomic.parse_mode(mode, 0o600)
    with _atomic.Target(path, follow=follow, allow_shared_parent=allow_shared_parent) as target:
        if check_mode:
            return _update(path, target, passwords, label, values, generate, regenerate, remove, create, mode, backup,
                           check_mode, return_values, vault_format)
        with target.lock():
            return _update(path, target, passwords, label, values, generate, regenerate, remove, create, mode, backup,
                           check_mode, return_values, vault_format)


def _update(path, target, passwords, label, values, generate, regenerate, remove, create, mode, backup, check_mode,
            return_values, vault_format):
    data = target.read()
    created = data is None
    if created:
        if not create:
            raise InputError('%s does not exist; set create: true to create it' % path)
        doc = VaultDoc.empty(path, vault_format, passwords[0], label)
        current_label = None
    else:
        doc = VaultDoc.open(data, passwords, path)
        if doc.password is None:
            raise InputError('%s holds no encrypted value; encrypt it first (ansible-vault encrypt): vault_secret never '
                             'writes secrets in clear' % path)
        current_label = doc.label
    current = doc.values
    format_changed = not created and vault_format is not None and vault_format != doc.format

    stored = _inline_form if (vault_format or doc.format) == 'inline' else (lambda v: v)
    updates = {key: value for key, value in values.items() if key not in current or not same(current[key], stored(value))}
    generated = [key for key in generate if key not in current or key in regenerate]
    for key in generated:
        updates[key] = generate_value(generate[key])
    removals = [key for key in remove if key in current]
    touched = sorted(set(updates) | set(removals))
    new_label = label if label is not None else current_label
    content_changed = bool(touched) or created or new_label != current_label or format_changed
    # A mode (or an owner we do not trust) to change on a file whose content stays: the same
    # bytes are written again, so the file keeps its ciphertext.
    attributes_changed = not content_changed and target.write_if_changed(data, mode=mode, check_mode=True)[0]
    result = dict(changed=content_changed or attributes_changed, path=path, created=created,
                  format=vault_format or doc.format, changed_keys=touched, generated_keys=sorted(generated), removed_keys=removals)
    result['diff'] = dict(
        before_header=path, after_header=path,
        before=''.join('%s: %s\n' % (key, _redact.HIDDEN) for key in touched if key in current),
        after=''.join('%s: %s\n' % (key, _redact.CHANGED if key in current else _redact.NEW)
                      for key in touched if key not in removals))
    if return_values:
        result['secret_values'] = {key: updates[key] if key in updates else current.get(key)
                                   for key in list(values) + list(generate)}
        result['values'] = result['secret_values']  # deprecated name
    if not result['changed']:
        return result
    if attributes_changed:
        if not check_mode:
            target.write(data, mode=mode)
        return result
    if check_mode:
        return result
    # A new label: every inline value is sealed again under it.
    _text, envelope = doc.render(updates, removals, fmt=vault_format, label=new_label,
                                 every=new_label != current_label and not created)
    # The mode is set on the temp file before the data lands, as for the other writers.
    backup_file = target.write(envelope, mode=mode, backup=backup)
    if not created:
        result['backup_file'] = backup_file
    return result


# Vault vars files in either format -------------------------------------------------------
#
# ``file``: the whole file is one ansible-vault blob holding YAML.  ``inline``: plain YAML
# whose values are each an inline ``!vault |`` string (lists and mappings hold them as
# leaves), which AWX inventory sources, ansible-inventory and the stock loader read.  The
# rotation journal is one inline value holding YAML.  Only the keys that change are
# re-encrypted, so a value's ciphertext (and the git diff) stays when its plaintext does.

FORMATS = ('file', 'inline')
# Keys whose whole (structured) value is one inline blob.
WHOLE_KEYS = ('turnkey_rotation_journal',)


def check_format(value, option='format'):
    if value in (None, ''):
        return None
    value = str(value)
    if value not in FORMATS:
        raise InputError('%s must be one of %s, not %r' % (option, ', '.join(FORMATS), value[:20]))
    return value


class VaultDoc(object):
    """A vault vars file opened in memory: ``values`` decrypted, ``render()`` the new bytes."""

    def __init__(self, where, fmt, text, values, password=None, label=None):
        self.where, self.format, self.text, self.values = where, fmt, text, values
        self.password, self.label = password, label

    @classmethod
    def empty(cls, where, fmt=None, password=None, label=None):
        return cls(where, fmt or 'file', '---\n', {}, password, label)

    @classmethod
    def open(cls, data, passwords, where, need_encryption=True):
        """Decrypt ``data`` (bytes) with the first of ``passwords`` that opens it."""
        text, blobs = _vault.find_blobs(data, where, inline=False)
        if blobs:
            used = blobs[0].open(passwords)
            if used is None:
                raise InputError('%s: the vault password does not decrypt it (HMAC mismatch): wrong password or '
                                 'vault-id, or the file is damaged' % where)
            try:
                plain_text = blobs[0].plaintext.decode('utf-8')
            except UnicodeDecodeError:
                raise InputError('%s does not hold UTF-8 text once decrypted' % where) from None
            return cls(where, 'file', plain_text, _parse(plain_text, where)[2], passwords[used], blobs[0].label)
        try:
            text = data.decode('utf-8')
        except UnicodeDecodeError:
            raise InputError('%s is neither an ansible-vault encrypted file nor YAML text' % where) from None
        blobs = _vault.inline_blobs(text, where) if '!vault' in text else []
        current = _parse(text, where)[2]
        if not blobs and need_encryption and any(v not in (None, '') for v in current.values()):
            raise InputError('%s is not an ansible-vault encrypted file (nor inline !vault values): encrypt it '
                             'first (ansible-vault encrypt), secrets are never written in clear' % where)
        password, used = None, None
        for blob in blobs:
            used = blob.open(passwords, used or 0)
            if used is None:
                raise InputError('%s: the vault password does not decrypt this value (HMAC mismatch): wrong password '
                                 'or vault-id' % blob.where)
            password = passwords[used]
        opened = {blob.start: blob for blob in blobs}
        values = _inline_values(text, where, opened)
        return cls(where, 'inline', text, values, password, blobs[0].label if blobs else None)

    def changes(self, updates, removals):
        """``(updates, removals)`` reduced to what differs from the file."""
        stored = _inline_form if self.format == 'inline' else (lambda v: v)
        updates = {k: v for k, v in updates.items()
                   if k not in self.values or not same(self.values[k], v if k in WHOLE_KEYS else stored(v))}
        return updates, [k for k in removals if k in self.values and k not in updates]

    def render(self, updates, removals, fmt=None, password=None, label=None, every=False):
        """``(text, bytes)`` of the file with ``updates`` set and ``removals`` gone, in ``fmt``
        (default: the file's own)."""
        fmt = fmt or self.format
        password = password or self.password
        label = label if label is not None else self.label
        if password is None:
            raise InputError('no vault password to encrypt %s with: give a vault password (file) or run the playbook '
                             'with the vault-id of the environment' % self.where)
        if every:
            updates = {k: v for k, v in dict(self.values, **updates).items() if k not in removals}
            removals = [k for k in removals if k in self.values]
        else:
            updates, removals = self.changes(updates, removals)
        if fmt == 'file':
            if self.format == 'file':
                text = edit_text(self.text, self.where, updates, removals)
            else:
                full = dict(self.values)
                full.update(updates)
                text = edit_text(self.text, self.where, {k: full[k] for k in full if k not in removals}, removals)
            return text, _vault.seal(text.encode('utf-8'), password, label).encode('utf-8')
        source = self.text
        if self.format == 'inline':
            changed = updates
        else:
            # Converting: every key is written again, sealed, in its order.  The comments of an
            # encrypted file were encrypted too and may hold anything (an old password): they
            # are not carried into a file whose text is in clear.
            changed = dict(self.values)
            changed.update(updates)
            changed = {k: v for k, v in changed.items() if k not in removals}
            source, removals = '---\n', []
        sealed = {k: seal_value(v, password, label, whole=k in WHOLE_KEYS) for k, v in changed.items()}
        text = edit_text(source, self.where, sealed, removals) if (sealed or removals) else source
        return text, text.encode('utf-8')


def _inline_form(value):
    """``value`` as an inline file reads it back: a number leaf is a !vault string there
    (compared in that form, an int is not re-encrypted at every run)."""
    if isinstance(value, dict):
        return {k: _inline_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_inline_form(v) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    return str(value)


def seal_value(value, password, label, whole=False):
    """``value`` with every string leaf an inline vault envelope (``whole``: the value as one)."""
    if whole:
        return Vaulted(_vault.seal(yaml.safe_dump(plain(value), default_flow_style=False).encode('utf-8'),
                                   password, label))
    if isinstance(value, dict):
        return {k: seal_value(v, password, label) for k, v in value.items()}
    if isinstance(value, list):
        return [seal_value(v, password, label) for v in value]
    if value is None or isinstance(value, bool):
        return value
    return Vaulted(_vault.seal(str(value).encode('utf-8'), password, label))


def _inline_values(text, where, opened):
    """The variables of an inline vault file, each !vault value replaced by its plaintext."""
    root = _parse(text, where)[0]
    if root is None:
        return {}

    def build(node):
        if node.tag == '!vault':
            blob = opened.get(_vault_start(text, node))
            try:
                return blob.plaintext.decode('utf-8')
            except (AttributeError, UnicodeDecodeError):
                raise InputError('%s line %d: an inline vault value this code cannot read'
                                 % (where, node.start_mark.line + 1)) from None
        if isinstance(node, yaml.MappingNode):
            return {str(k.value): build(v) for k, v in node.value}
        if isinstance(node, yaml.SequenceNode):
            return [build(v) for v in node.value]
        return _scalar(node)

    values = {}
    for key, value in root.value:
        values[key.value] = build(value)
        if key.value in WHOLE_KEYS and isinstance(values[key.value], str):
            values[key.value] = yaml.safe_load(values[key.value])
    return values


def _vault_start(text, node):
    match = _vault._HEAD_RE.search(text, node.start_mark.index, node.end_mark.index)
    return match.start() if match else None


def _scalar(node):
    loader = _AnyTagLoader('')
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
