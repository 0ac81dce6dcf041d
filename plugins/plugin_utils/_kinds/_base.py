# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a secret kind declares; every kind is one file in this package (see __init__.py).

The engine (``_engine.py``) only ever asks a kind these questions, so a kind's rotation
is read in one place: its file here and its task file
``roles/rotation/tasks/kinds/<name>.yml`` (which calls the service role's
``tasks_from: set|test|rollback|retire``).
"""

from __future__ import annotations

from ansible_collections.turnkey.secrets.plugins.module_utils._generate import generate as generate_value

# Options every kind accepts besides its own.  Option specs carry ``description`` (and may
# carry ``example``) for docs/catalogue.md and the rotation role's argument spec, which
# scripts/catalogue_docs.py renders from these files; spec() leaves both out.
COMMON_OPTIONS = {
    'kind': {'type': 'str', 'required': True, 'description': 'The kind of the secret (this section).'},
    'max_age_days': {'type': 'int', 'description': 'Days after which the secret is due; default: the kind\'s.'},
}
GENERATE_OPTION = {'generate': {'type': 'str', 'example': 'urlsafe:48',
                                'description': 'How a new value is generated, as turnkey.secrets.generate takes it '
                                               '(password:N, urlsafe:N, hex:N, base64:N, django_secret_key, fernet_key); default: the kind\'s.'}}
DOC_KEYS = ('description', 'example')


class Kind(object):
    name = ''
    # Run tags that select the kind (besides "all").
    tags = ()
    # Inventory group whose hosts run the kind's service steps; 'controller' runs them
    # once on the controller; None: the kind has no service (consumers only).
    group = None
    # The service steps its task file implements, among set, test, rollback, retire.  A kind
    # with set has rollback (a no-op where set's change is harmless): a failed test is
    # then undone on every host before the pending value is dropped.
    steps = ()
    # Kind of generated values (turnkey.secrets.generate); None: a person supplies them.
    generate = None
    max_age_days = 180
    # What must exist before the first deploy (docs/catalogue.md).
    prerequisites = ''
    # Options of its catalogue entries (ArgumentSpecValidator format plus DOC_KEYS), besides
    # COMMON_OPTIONS.
    options = {}
    # Options handed to the service modules through module_defaults, and their action group.
    connection = ()
    module_group = None
    # The module whose documentation describes the connection options.
    documented_by = None
    # Options that may differ between secrets one service call handles together (htpasswd:
    # the users of one file, one module call and one bcrypt pool instead of a task each);
    # None: every secret is its own call.  Secrets of a batch are set, tested and rolled
    # back together.
    batch_apart = None
    # Secrets of this kind that name one object (htpasswd: one file) must differ in
    # batch_apart (one password per user) and agree on shared_options (one mode per file),
    # or two calls would undo each other on every run.
    shared_by = None
    shared_options = ()

    def steps_of(self, options):
        """The service steps of an entry (its options may add some: fernet_key's columns)."""
        return self.steps

    def group_of(self, options):
        """The inventory group whose hosts run the entry's service steps."""
        return self.group

    def spec(self):
        spec = dict(COMMON_OPTIONS)
        if self.generate:
            spec.update(GENERATE_OPTION)
        spec.update(self.options)
        return {key: {k: v for k, v in opt.items() if k not in DOC_KEYS} for key, opt in spec.items()}

    def documented_options(self):
        """Every option with its doc keys, own options last (the order docs show)."""
        spec = dict(COMMON_OPTIONS)
        if self.generate:
            spec.update(GENERATE_OPTION)
        spec.update(self.options)
        return spec

    def keys(self, name):
        """Vault variables holding the current value, the one the rotation replaces first."""
        return ('vault_%s' % name,)

    def kept_keys(self, name):
        """Vault variables of old values the kind keeps valid (lists, empty at first)."""
        return ()

    def check(self, name, options, supplied):
        """Problems of an entry beyond its option types (messages without values)."""
        return []

    def new_values(self, name, options, current, supplied):
        """The values the create step stores as pending: {key: value}; None when a person
        has to supply them and has not yet."""
        kind = options.get('generate') or self.generate
        return {key: generate_value(kind) for key in self.keys(name)}

    def promote(self, name, options, current, new):
        """Vault variables written when the new values become current."""
        return dict(new)

    def retired(self, name, options, current):
        """Vault variables written once the retire step succeeded everywhere (fernet_key:
        the old-key list trimmed); consumers of them get the new values in the same run."""
        return {}

    def record(self, name, options, current, new):
        """What the kind's task file needs for its steps (values included; never logged)."""
        key = self.keys(name)[0]
        return {'new': new.get(key), 'old': current.get(key)}


def keep_previous(current, old_key, list_key, new_value, keep):
    """``list_key`` after a promotion: the old current value first, trimmed to ``keep``
    (None: every one kept)."""
    old = current.get(old_key)
    previous = [old] if old and old != new_value else []
    kept = previous + [v for v in (current.get(list_key) or []) if v != new_value]
    return kept if keep is None else kept[:keep]
