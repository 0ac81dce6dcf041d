# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
name: dingtalk
type: notification
short_description: Post one summary of each playbook run to a DingTalk group
version_added: 0.1.0
author: Turnkey Secrets Maintainers (@turnkey-secrets)
description:
  - At the end of a playbook run, posts one signed message to a DingTalk custom robot - per host the
    ok, changed, failed and unreachable counts, the names of the secrets rotated, and each failed task
    by host and task name - as markdown or as an actionCard with a dashboard button.
  - It never posts secret values or task output; only task names, host names, counters and the secret
    names that roles report with C(ansible.builtin.set_stats) under the key C(turnkey_rotated) (a list of
    names; C(turnkey.secrets.rotation) does this).
  - The webhook comes from O(webhook_url) and O(secret) (environment or ansible.cfg) or, when those are
    not set, from the variables named by O(webhook_url_var) and O(secret_var) (for example the vault of the
    inventory), read as they apply to C(localhost).
  - A failure to notify (no webhook configured, DingTalk unreachable or refusing) is a warning; it never
    fails the play.
  - Enable it with C(callbacks_enabled = turnkey.secrets.dingtalk) in ansible.cfg or
    C(ANSIBLE_CALLBACKS_ENABLED=turnkey.secrets.dingtalk).
requirements:
  - requests
  - enable in configuration
options:
  webhook_url:
    description: The robot's webhook URL, holding its C(access_token).
    type: str
    env:
      - name: TURNKEY_DINGTALK_WEBHOOK_URL
      - name: DINGTALK_WEBHOOK_URL
    ini:
      - section: callback_turnkey_dingtalk
        key: webhook_url
  secret:
    description: The robot's signing secret (C(SEC) and 64 hexadecimal characters); unsigned when empty.
    type: str
    env:
      - name: TURNKEY_DINGTALK_SECRET
      - name: DINGTALK_SECRET
    ini:
      - section: callback_turnkey_dingtalk
        key: secret
  webhook_url_var:
    description: Variable holding the webhook URL when O(webhook_url) is not set.
    type: str
    default: vault_dingtalk_webhook_url
    env:
      - name: TURNKEY_DINGTALK_WEBHOOK_URL_VAR
    ini:
      - section: callback_turnkey_dingtalk
        key: webhook_url_var
  secret_var:
    description: Variable holding the secret when O(webhook_url) is not set.
    type: str
    default: vault_dingtalk_secret
    env:
      - name: TURNKEY_DINGTALK_SECRET_VAR
    ini:
      - section: callback_turnkey_dingtalk
        key: secret_var
  api_url:
    description: Replaces the scheme, host and path of the webhook URL (private gateway, test receiver).
    type: str
    env:
      - name: TURNKEY_DINGTALK_API_URL
    ini:
      - section: callback_turnkey_dingtalk
        key: api_url
  dashboard_url:
    description: A link added to the summary (a button with O(msgtype=actionCard)).
    type: str
    env:
      - name: TURNKEY_DINGTALK_DASHBOARD_URL
      - name: DASHBOARD_PUBLIC_URL
    ini:
      - section: callback_turnkey_dingtalk
        key: dashboard_url
  msgtype:
    description: Message type of the summary.
    type: str
    choices: [markdown, actionCard]
    default: markdown
    env:
      - name: TURNKEY_DINGTALK_MSGTYPE
    ini:
      - section: callback_turnkey_dingtalk
        key: msgtype
  notify_on:
    description:
      - V(changes) posts only when something happened - a task changed something (or would have, in check
        mode), a secret was reported rotated, a host failed or was unreachable - so a scheduled run with
        nothing due stays quiet; failures that were ignored or rescued do not count.
      - V(always) posts after every run, V(failures) only when a host failed or was unreachable.
    type: str
    choices: [always, changes, failures]
    default: changes
    env:
      - name: TURNKEY_DINGTALK_NOTIFY_ON
    ini:
      - section: callback_turnkey_dingtalk
        key: notify_on
  title:
    description: Prefix of the summary title, for example the environment name.
    type: str
    default: turnkey.secrets
    env:
      - name: TURNKEY_DINGTALK_TITLE
    ini:
      - section: callback_turnkey_dingtalk
        key: title
  timeout:
    description: Seconds to wait for each attempt.
    type: float
    default: 10
    env:
      - name: TURNKEY_DINGTALK_TIMEOUT
    ini:
      - section: callback_turnkey_dingtalk
        key: timeout
  retries:
    description: Further attempts after a transport error or throttling (30 seconds apart when throttled).
    type: int
    default: 1
    env:
      - name: TURNKEY_DINGTALK_RETRIES
    ini:
      - section: callback_turnkey_dingtalk
        key: retries
'''

import os  # noqa: E402 - after the documentation, as in every plugin

from ansible.plugins.callback import CallbackBase  # noqa: E402 - after the documentation, as in every plugin

from ansible_collections.turnkey.secrets.plugins.module_utils import _dingtalk  # noqa: E402 - after the documentation, as in every plugin
from ansible_collections.turnkey.secrets.plugins.module_utils._redact import redact  # noqa: E402 - after the documentation, as in every plugin


def _attr(result, name):
    # ansible-core 2.19 renamed TaskResult._host/_task to host/task; keep 2.16 working.
    return getattr(result, name, None) or getattr(result, '_' + name)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'notification'
    CALLBACK_NAME = 'turnkey.secrets.dingtalk'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._playbook = 'playbook'
        self._failures = []
        self._from_vars = None
        self._vars_tried = False

    def v2_playbook_on_start(self, playbook):
        self._playbook = os.path.basename(getattr(playbook, '_file_name', None) or 'playbook')

    def v2_playbook_on_play_start(self, play):
        if self._vars_tried or self.get_option('webhook_url'):
            return
        try:
            self._from_vars = self._read_vars(play)
            self._vars_tried = self._from_vars is not None
        except Exception as exc:  # pylint: disable=broad-except
            # Reading the variables is best effort: the play must not notice.
            self._vars_tried = True
            self._display.vvv('turnkey.secrets.dingtalk: could not read the webhook variables (%s)' % type(exc).__name__)

    def _read_vars(self, play):
        from ansible.template import Templar

        manager = play.get_variable_manager()
        inventory = getattr(manager, '_inventory', None)
        host = inventory.get_host('localhost') if inventory is not None else None
        variables = manager.get_vars(play=play, host=host, include_hostvars=False)
        url_var, secret_var = self.get_option('webhook_url_var'), self.get_option('secret_var')
        if url_var not in variables:
            return None
        templar = Templar(loader=getattr(manager, '_loader', None) or play._loader, variables=variables)
        url = str(templar.template(variables[url_var]))
        secret = variables.get(secret_var)
        return url, (str(templar.template(secret)) if secret else None)

    def _record_failure(self, result, ignore_errors=False):
        if not ignore_errors:
            task = _attr(result, 'task')
            self._failures.append({'host': _attr(result, 'host').get_name(), 'task': task.get_name() if task else None})

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record_failure(result, ignore_errors)

    def v2_runner_on_unreachable(self, result):
        self._record_failure(result)

    def v2_playbook_on_stats(self, stats):
        hosts = {host: stats.summarize(host) for host in sorted(stats.processed)}
        counted = [h for h, s in hosts.items() if s.get('failures') or s.get('unreachable')]
        custom = getattr(stats, 'custom', None) or {}
        rotated = None
        for scope in custom.values():
            if isinstance(scope, dict) and 'turnkey_rotated' in scope:
                names = scope['turnkey_rotated']
                rotated = (rotated or []) + (list(names) if isinstance(names, (list, tuple)) else [names])
        notify_on = self.get_option('notify_on')
        happened = {'always': True, 'failures': bool(counted),
                    'changes': bool(counted or rotated or any(s.get('changed') for s in hosts.values()))}[notify_on]
        if not happened:
            self._display.v('turnkey.secrets.dingtalk: nothing %s in this run, no summary posted (notify_on=%s)'
                            % ('failed' if notify_on == 'failures' else 'changed or failed', notify_on))
            return
        url, secret = self.get_option('webhook_url'), self.get_option('secret')
        if not url and self._from_vars:
            url, secret = self._from_vars
        if not url:
            self._display.warning('turnkey.secrets.dingtalk: no webhook configured (TURNKEY_DINGTALK_WEBHOOK_URL, '
                                  'ansible.cfg [callback_turnkey_dingtalk] or the variable %s); no run summary posted'
                                  % self.get_option('webhook_url_var'))
            return
        # A rescued failure does not fail its host: report only those that did.
        failures = [f for f in self._failures if f['host'] in counted]
        try:
            webhook = _dingtalk.parse_webhook(url, self.get_option('api_url'))
            if secret:
                secret = _dingtalk.check_secret(secret)
            body = _dingtalk.summary(self._playbook, hosts, failures, rotated,
                                     dashboard_url=self.get_option('dashboard_url'),
                                     title_prefix=self.get_option('title'), msgtype=self.get_option('msgtype'))
            client = _dingtalk.Client(webhook, secret, timeout=float(self.get_option('timeout')),
                                      retries=int(self.get_option('retries')), retry_delay=1.0, throttle_delay=30.0,
                                      limiter=_dingtalk.RateLimiter(webhook.token))
            answer = client.send(body)
        except Exception as exc:  # pylint: disable=broad-except
            msg = getattr(exc, 'msg', None) or 'unexpected %s' % type(exc).__name__
            self._display.warning('turnkey.secrets.dingtalk: the run summary was not posted: %s'
                                  % redact(msg, [url, secret] + _dingtalk.tokens_in(url)))
            return
        self._display.vvv('turnkey.secrets.dingtalk: run summary posted to %s (msgUuid %s)'
                          % (webhook.endpoint, answer['msg_uuid']))
