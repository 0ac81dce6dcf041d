# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KEY=VALUE lines of a dotenv file, changed in place.

Other lines, comments and order are kept byte for byte; a managed line is rewritten
only when its parsed value differs from the wanted one, so quoting chosen by a person
survives.  Values are written in the form every common reader (python-dotenv,
django-environ, docker compose, systemd ``EnvironmentFile``, ``set -a; . FILE``)
reads back identically:

* plain when made only of ``A-Z a-z 0-9 _ . / : @ + , = % -``;
* ``'single quoted'`` otherwise, when the value holds no ``'`` and no ``\\``;
* ``"double quoted"`` otherwise, with ``\\``, ``"``, ``$`` and a backquote escaped
  by a backslash.

No message from here contains a value: only key names and line numbers.
"""

from __future__ import annotations

import json
import re

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError
from ansible_collections.turnkey.secrets.plugins.module_utils._redact import CHANGED, HIDDEN, NEW, UNCHANGED

KEY_RE = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\Z')
# Keys other tools accept in files we only read past (python-dotenv allows dots and dashes).
_FILE_KEY_RE = re.compile(r'[A-Za-z_][A-Za-z0-9_.-]*\Z')
_ASSIGN_RE = re.compile(r'(?P<lead>[ \t]*(?:export[ \t]+)?)(?P<key>[^=\s]+)[ \t]*=[ \t]*(?P<raw>.*)\Z')
_PLAIN_RE = re.compile(r'[A-Za-z0-9_./:@+,=%-]+\Z')
_FORBIDDEN = ('\n', '\r', '\x00')
_DQ_ESCAPES = {'n': '\n', 't': '\t', 'r': '\r'}
LIST_FORMATS = ('comma', 'json')


class Line(object):
    __slots__ = ('text', 'key', 'value', 'lead', 'rest')

    def __init__(self, text, key=None, value=None, lead='', rest=''):
        self.text = text
        self.key = key
        self.value = value
        self.lead = lead
        self.rest = rest


def _rest_is_comment(rest):
    rest = rest.lstrip(' \t')
    return rest == '' or rest.startswith('#')


def parse_value(raw):
    """``(value, rest)`` of the text after ``=`` (``rest``: an inline comment and the
    whitespace before it); None when it does not parse on one line."""
    if raw.startswith("'"):
        end = raw.find("'", 1)
        if end < 0 or not _rest_is_comment(raw[end + 1:]):
            return None
        return raw[1:end], raw[end + 1:]
    if raw.startswith('"'):
        out = []
        i = 1
        while i < len(raw):
            char = raw[i]
            if char == '\\' and i + 1 < len(raw):
                nxt = raw[i + 1]
                out.append(_DQ_ESCAPES.get(nxt, nxt))
                i += 2
                continue
            if char == '"':
                return (''.join(out), raw[i + 1:]) if _rest_is_comment(raw[i + 1:]) else None
            out.append(char)
            i += 1
        return None
    # Unquoted: an inline comment starts at a '#' preceded by whitespace.
    match = re.search(r'[ \t]#', raw)
    value = raw[:match.start()] if match else raw
    stripped = value.rstrip(' \t')
    return stripped, raw[len(stripped):]


def parse(text, path='the file'):
    """Lines of a dotenv file; InputError naming the first line that does not parse."""
    lines = []
    for number, line in enumerate(text.split('\n'), 1):
        stripped = line.rstrip('\r').strip(' \t')
        if stripped == '' or stripped.startswith('#'):
            lines.append(Line(line))
            continue
        match = _ASSIGN_RE.match(line.rstrip('\r'))
        parsed = parse_value(match.group('raw')) if match else None
        if match is None or not _FILE_KEY_RE.match(match.group('key')) or parsed is None:
            raise InputError(
                'line %d of %s does not parse as KEY=VALUE (one line per value, quotes closed on the same line); '
                'fix or remove that line, nothing was changed' % (number, path))
        lines.append(Line(line, match.group('key'), parsed[0], match.group('lead'), parsed[1].rstrip('\r')))
    return lines


def render_value(value):
    """The text after ``=`` that every dotenv reader parses back to ``value``."""
    if value == '' or _PLAIN_RE.match(value):
        return value
    if "'" not in value and '\\' not in value:
        return "'%s'" % value
    escaped = value.replace('\\', '\\\\').replace('"', '\\"').replace('$', '\\$').replace('`', '\\`')
    return '"%s"' % escaped


def _scalar(key, value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise InputError('values.%s must be a string or a list of strings' % key)
    if any(char in value for char in _FORBIDDEN):
        raise InputError('values.%s contains a line break or NUL character, which a dotenv file cannot hold on one line; '
                         'encode the value (e.g. base64) first' % key)
    return value


def encode(key, value, list_format='comma'):
    """``(text, wanted)``: the string to write and the parsed form to compare against."""
    if isinstance(value, (list, tuple)):
        items = [_scalar(key, item) for item in value]
        if list_format == 'json':
            return json.dumps(items, separators=(',', ':')), items
        if any(',' in item for item in items):
            raise InputError('an element of values.%s contains a comma, which list_format=comma cannot represent; '
                             'use list_format: json' % key)
        text = ','.join(items)
        return text, text
    if value is None:
        raise InputError('values.%s is null; give a string, or list the key in remove to delete it' % key)
    text = _scalar(key, value)
    return text, text


def _same(current, wanted):
    if isinstance(wanted, list):
        try:
            return json.loads(current) == wanted
        except ValueError:
            return False
    return current == wanted


def update(text, values=None, remove=(), exclusive=False, list_format='comma', path='the file'):
    """Apply the wanted state to ``text``.

    Returns ``(new_text, report)`` where ``report`` has the key names ``added``,
    ``updated`` and ``removed``, and ``diff`` (before/after with placeholders).
    """
    values = values or {}
    if list_format not in LIST_FORMATS:
        raise InputError('list_format must be one of %s' % ', '.join(LIST_FORMATS))
    bad = sorted(str(k) for k in list(values) + list(remove or ()) if not KEY_RE.match(str(k)))
    if bad:
        raise InputError('invalid key name(s) %s: use letters, digits and _, not starting with a digit' % ', '.join(bad))
    both = sorted(set(values) & set(remove or ()))
    if both:
        raise InputError('key(s) %s are both in values and in remove; keep each in one of them' % ', '.join(both))
    wanted = {}
    for key, value in values.items():
        wanted[key] = encode(key, value, list_format)

    lines = parse(text, path) if text else []
    trailing_newline = not text or text.endswith('\n')
    if lines and trailing_newline:
        lines.pop()  # the empty string after the final newline
    last = {}
    for index, line in enumerate(lines):
        if line.key is not None:
            last[line.key] = index
    drop = set(remove or ())
    if exclusive:
        drop |= {key for key in last if key not in wanted}
    drop &= set(last)

    added, updated = [], []
    for key, (rendered, parsed) in wanted.items():
        index = last.get(key)
        if index is None:
            lines.append(Line('%s=%s' % (key, render_value(rendered)), key, rendered))
            added.append(key)
        elif not _same(lines[index].value, parsed):
            old = lines[index]
            text = '%s%s=%s%s' % (old.lead, key, render_value(rendered), old.rest)
            lines[index] = Line(text, key, rendered, old.lead, old.rest)
            updated.append(key)
    kept = [line for line in lines if line.key not in drop]
    new_text = '\n'.join(line.text for line in kept)
    if kept and (trailing_newline or added):
        new_text += '\n'

    removed = sorted(drop)
    before_keys = list(dict.fromkeys(line.key for line in lines if line.key is not None and line.key not in added))
    after_keys = list(dict.fromkeys(line.key for line in kept if line.key is not None))
    before = ['%s=%s' % (k, HIDDEN if k in updated or k in drop else UNCHANGED) for k in before_keys]
    after = ['%s=%s' % (k, NEW if k in added else CHANGED if k in updated else UNCHANGED) for k in after_keys]
    report = {
        'added': added,
        'updated': updated,
        'removed': removed,
        'diff': {'before': '\n'.join(before) + '\n' if before else '',
                 'after': '\n'.join(after) + '\n' if after else ''},
    }
    return new_text, report


def values_of(text, path='the file'):
    """{key: value} as a dotenv reader sees it (the last assignment of a key wins)."""
    return dict((line.key, line.value) for line in parse(text, path) if line.key is not None)
