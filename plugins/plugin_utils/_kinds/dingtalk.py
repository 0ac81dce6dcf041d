# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dingtalk: a DingTalk robot's webhook URL and signing secret.

Only a person can regenerate them (group settings, robot), so they are never generated:
the new pair comes from ``dingtalk_new: {<name>: {url, secret}}`` (or, when one robot is
due, ``dingtalk_new_url`` / ``dingtalk_new_secret``).  Test sends a signed message from
the controller with the new pair; nothing to set or roll back on a service.
"""

from __future__ import annotations

from ansible_collections.turnkey.secrets.plugins.module_utils import _dingtalk
from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError
from ansible_collections.turnkey.secrets.plugins.plugin_utils._kinds._base import Kind


class DingTalk(Kind):
    name = 'dingtalk'
    tags = ('dingtalk',)
    group = 'controller'
    steps = ('test',)
    generate = None
    max_age_days = 90
    prerequisites = ('A custom robot with a signing secret (加签) in the DingTalk group; a person regenerates it '
                     'and passes the new pair (dingtalk_new: {<name>: {url, secret}}) to the run.')
    options = {'api_url': {'type': 'str', 'description': 'Another API base URL than oapi.dingtalk.com '
                                                         '(a proxy or a test receiver).'}}

    def keys(self, name):
        return ('vault_%s_webhook_url' % name, 'vault_%s_secret' % name)

    def check(self, name, options, supplied):
        if supplied is None:
            return []
        problems = []
        if not isinstance(supplied, dict) or set(supplied) != {'url', 'secret'}:
            return ['the new pair must be a mapping with url and secret']
        try:
            _dingtalk.parse_webhook(supplied['url'], api_url=options.get('api_url'))
        except InputError as exc:
            problems.append('new ' + exc.msg)
        try:
            _dingtalk.check_secret(supplied['secret'])
        except InputError as exc:
            problems.append('new ' + exc.msg)
        return problems

    def new_values(self, name, options, current, supplied):
        if supplied is None:
            return None
        url_key, secret_key = self.keys(name)
        return {url_key: str(supplied['url']).strip(), secret_key: str(supplied['secret']).strip()}

    def record(self, name, options, current, new):
        url_key, secret_key = self.keys(name)
        return {'url': new.get(url_key), 'secret': new.get(secret_key), 'api_url': options.get('api_url')}
