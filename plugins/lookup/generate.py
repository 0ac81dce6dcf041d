# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
name: generate
short_description: Generate new secret values (Django keys, Fernet keys, random bytes, passwords)
version_added: 0.1.0
author: Turnkey Secrets Maintainers (@turnkey-secrets)
description:
  - Returns one new random value per term, drawn with Python's C(secrets) module.
  - Replaces the usual shell one-liners (C(get_random_secret_key()), C(Fernet.generate_key()),
    C(openssl rand -base64 32)).
  - A value is generated anew at every evaluation; store it (for example with
    M(turnkey.secrets.vault_secret)) rather than templating the lookup twice.
options:
  _terms:
    description:
      - Kinds of value, one per result.
      - V(django_secret_key) - 50 characters from Django's alphabet
        C(abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)), as C(get_random_secret_key()).
      - V(fernet_key) - 32 random bytes in URL-safe base64 (44 characters), as C(Fernet.generate_key()).
      - V(base64:N) - N random bytes in standard base64, as C(openssl rand -base64 N).
      - V(urlsafe:N) - N random bytes in URL-safe base64 without padding, as C(secrets.token_urlsafe(N)).
      - V(hex:N) - N random bytes as 2N hexadecimal digits, as C(openssl rand -hex N).
      - V(password:N) or V(password:N:CLASSES) - N characters from the union of the comma-separated
        classes V(upper), V(lower), V(digit), V(symbol) (default V(upper,lower,digit)), with at
        least one character of each class.
      - Without C(:N) the length is 32 bytes (V(base64), V(urlsafe), V(hex)) or 24 characters (V(password)).
    type: list
    elements: str
    required: true
  classes:
    description:
      - Character classes for V(password) kinds, instead of writing them in the kind.
    type: list
    elements: str
    choices: [upper, lower, digit, symbol]
  symbols:
    description:
      - The characters of the V(symbol) class. The default C(!%*+,-.:=@^_~) avoids quotes,
        backslash, space, C($), backtick, C(#), C(&), C(/) and C(?).
    type: str
notes:
  - Use the result with C(no_log) and store it encrypted; never print it.
seealso:
  - module: turnkey.secrets.vault_secret
'''

EXAMPLES = r'''
- name: Store a new Django key and a Redis password in the vault as pending values
  turnkey.secrets.vault_secret:
    path: inventory/production/group_vars/all/vault.yml
    vault_password_file: ~/.vault_pass_production
    vault_id: production
    values:
      vault_secret_key_pending: "{{ lookup('turnkey.secrets.generate', 'django_secret_key') }}"
      vault_redis_password_pending: "{{ lookup('turnkey.secrets.generate', 'base64:32') }}"

- name: A 24-character password with symbols
  ansible.builtin.set_fact:
    dashboard_password: "{{ lookup('turnkey.secrets.generate', 'password:24', classes=['upper', 'lower', 'digit', 'symbol']) }}"
  no_log: true

- name: Several values at once
  ansible.builtin.set_fact:
    new_keys: "{{ query('turnkey.secrets.generate', 'fernet_key', 'fernet_key', 'hex:16') }}"
  no_log: true
'''

RETURN = r'''
_raw:
  description: One new value per term.
  type: list
  elements: str
'''

from ansible.errors import AnsibleLookupError  # noqa: E402 - documentation comes first
from ansible.plugins.lookup import LookupBase  # noqa: E402

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError  # noqa: E402
from ansible_collections.turnkey.secrets.plugins.module_utils._generate import generate  # noqa: E402


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        classes = self.get_option('classes')
        symbols = self.get_option('symbols')
        try:
            return [generate(str(term), classes=classes, symbols=symbols) for term in terms]
        except InputError as exc:
            raise AnsibleLookupError(exc.msg) from None
