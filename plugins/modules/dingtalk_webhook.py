#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: dingtalk_webhook
short_description: Send signed messages to a DingTalk custom robot, or verify its webhook and secret
version_added: 0.1.0
author: Turnkey Secrets Maintainers (@turnkey-secrets)
description:
  - With O(state=sent), posts one message, or every message of O(messages) in one task, to a DingTalk
    group through a custom robot, signing each request with the robot's C(SEC...) secret (HMAC-SHA256 of
    C(timestamp + "\n" + secret), base64, URL-encoded once, with a fresh millisecond timestamp per attempt).
  - With O(state=verified), checks the shape of the webhook URL (https, one C(access_token)) and of the
    secret (C(SEC) and 64 hexadecimal characters), then sends a test message and succeeds only if DingTalk
    answers errcode 0. Use it before storing a new robot URL and secret in the vault.
  - DingTalk answers HTTP 200 to everything; success is errcode 0. Other errcodes fail the task with a message
    naming the cause (wrong secret or clock, unknown token, missing keyword, IP allow-list, throttling).
  - Each message carries a C(msgUuid) kept across retries, so a retry after a lost answer is not a duplicate.
    Retries are bounded; throttling (errcode 130101, more than 20 messages a minute) waits O(throttle_delay)
    before the next attempt. Messages sent from this machine to one robot are spaced to at most 20 a minute.
  - Neither the access token nor the secret appears in results, errors or logs.
  - The role C(turnkey.secrets.dingtalk) wraps it for verification and alerts from other roles.
options:
  url:
    description:
      - The robot's webhook URL, holding its C(access_token), as copied from the group's robot settings.
      - Any C(timestamp) and C(sign) in it are replaced.
      - Must use https; http is accepted with O(state=sent) for loopback addresses only (test receivers).
    type: str
    required: true
  secret:
    description:
      - The robot's signing secret, C(SEC) followed by 64 hexadecimal characters.
      - Required with O(state=verified). Without it, messages are sent unsigned (robots secured by keywords
        or an IP allow-list only).
    type: str
  api_url:
    description:
      - Replaces the scheme, host and path of O(url), keeping its C(access_token); for private gateways
        and test receivers. Must not have a query string. Any http(s) URL is accepted.
    type: str
  state:
    description:
      - V(sent) posts the message(s); V(verified) validates O(url) and O(secret) and posts one test message.
    type: str
    choices: [sent, verified]
    default: sent
  msgtype:
    description:
      - Message type. V(text) needs O(content); V(markdown) needs O(title) and O(text); V(actionCard) needs
        O(title), O(text) and O(buttons); V(link) needs O(title), O(text) and O(message_url).
      - With O(state=verified) and neither O(content) nor O(text), a short text test message is sent.
    type: str
    choices: [text, markdown, actionCard, link]
    default: text
  content:
    description: Text of a V(text) message.
    type: str
  title:
    description: Title of a V(markdown), V(actionCard) or V(link) message (shown in notifications).
    type: str
  text:
    description: Body of a V(markdown), V(actionCard) (markdown) or V(link) message.
    type: str
  buttons:
    description:
      - Buttons of an V(actionCard) message. One button makes the whole card a link; several are shown
        separately.
    type: list
    elements: dict
    suboptions:
      title:
        description: Button label.
        type: str
        required: true
      url:
        description: URL the button opens.
        type: str
        required: true
  btn_orientation:
    description: How several buttons of an V(actionCard) are laid out.
    type: str
    choices: [vertical, horizontal]
    default: vertical
  message_url:
    description: URL a V(link) message opens.
    type: str
  pic_url:
    description: Picture of a V(link) message.
    type: str
  at_mobiles:
    description:
      - Mobile numbers of group members to mention (V(text) and V(markdown) only). For V(markdown), C(@mobile)
        is appended to O(text) when missing, as DingTalk only notifies people named in the text.
    type: list
    elements: str
  at_user_ids:
    description: DingTalk user IDs to mention (V(text) and V(markdown) only).
    type: list
    elements: str
  at_all:
    description: Mention everyone in the group (V(text) and V(markdown) only).
    type: bool
    default: false
  msg_uuid:
    description:
      - De-duplication key sent as C(msgUuid). Random per message when omitted; give a stable value to make a
        re-run of the same task not post the message twice.
    type: str
  messages:
    description:
      - Several messages to send in one task, in order, instead of the top-level message options.
      - Each item takes the message options above.
    type: list
    elements: dict
    suboptions:
      msgtype:
        description: Message type, see O(msgtype).
        type: str
        choices: [text, markdown, actionCard, link]
        default: text
      content:
        description: See O(content).
        type: str
      title:
        description: See O(title).
        type: str
      text:
        description: See O(text).
        type: str
      buttons:
        description: See O(buttons).
        type: list
        elements: dict
        suboptions:
          title:
            description: Button label.
            type: str
            required: true
          url:
            description: URL the button opens.
            type: str
            required: true
      btn_orientation:
        description: See O(btn_orientation).
        type: str
        choices: [vertical, horizontal]
        default: vertical
      message_url:
        description: See O(message_url).
        type: str
      pic_url:
        description: See O(pic_url).
        type: str
      at_mobiles:
        description: See O(at_mobiles).
        type: list
        elements: str
      at_user_ids:
        description: See O(at_user_ids).
        type: list
        elements: str
      at_all:
        description: See O(at_all).
        type: bool
        default: false
      msg_uuid:
        description: See O(msg_uuid).
        type: str
  timeout:
    description: Seconds to wait for each attempt's connection and answer.
    type: float
    default: 10
  retries:
    description:
      - Further attempts after a transport error, an HTTP 429 or 5xx answer, or throttling (errcode 130101
        or 410100). Other errcodes are not retried.
      - The task ends within about (O(retries) + 1) x O(timeout) plus the delays.
    type: int
    default: 2
  retry_delay:
    description: Seconds before the first retry after a transport error; doubled for each further one.
    type: float
    default: 1
  throttle_delay:
    description:
      - Seconds to wait before retrying a message DingTalk throttled. DingTalk may keep a throttled robot
        silent for up to 10 minutes.
    type: float
    default: 60
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Validates every option and builds the messages without sending anything.
  diff_mode:
    support: partial
    details: With O(state=sent), says which message types would be posted where; never message texts or credentials.
  platform:
    platforms: posix
notes:
  - Run it where DingTalk (or O(api_url)) is reachable, usually with C(delegate_to=localhost).
  - A robot with custom keywords only accepts messages containing one of them, test messages included.
  - O(state=verified) cannot tell whether signing is enabled on the robot; DingTalk ignores the signature of
    a robot without it.
seealso:
  - plugin: turnkey.secrets.dingtalk
    plugin_type: callback
  - plugin: turnkey.secrets.dingtalk_sign
    plugin_type: filter
requirements:
  - requests
'''

EXAMPLES = r'''
- name: Verify a new robot before it goes into the vault (the seed's "Test Connection")
  turnkey.secrets.dingtalk_webhook:
    url: "{{ dingtalk_new_url }}"
    secret: "{{ dingtalk_new_secret }}"
    state: verified
  delegate_to: localhost
  run_once: true

- name: Send a signed markdown alert
  turnkey.secrets.dingtalk_webhook:
    url: "{{ vault_dingtalk_webhook_url }}"
    secret: "{{ vault_dingtalk_secret }}"
    msgtype: markdown
    title: Risk limit breached
    text: |
      ### Risk limit breached
      Exposure on **BTC-PERP** is above the limit.
    at_mobiles: ["13800000000"]
  delegate_to: localhost

- name: Ask on-call to act, with two buttons
  turnkey.secrets.dingtalk_webhook:
    url: "{{ vault_dingtalk_webhook_url }}"
    secret: "{{ vault_dingtalk_secret }}"
    msgtype: actionCard
    title: Rotation due
    text: The DingTalk robot secret is 90 days old.
    buttons:
      - {title: Runbook, url: "https://wiki.example.com/rotation"}
      - {title: Dashboard, url: "https://dashboard.example.com/"}
  delegate_to: localhost

- name: Several messages in one task (spaced to DingTalk's 20 a minute)
  turnkey.secrets.dingtalk_webhook:
    url: "{{ vault_dingtalk_webhook_url }}"
    secret: "{{ vault_dingtalk_secret }}"
    messages:
      - content: "db01: backup finished"
      - msgtype: link
        title: Nightly report
        text: Open the report
        message_url: https://reports.example.com/nightly
  delegate_to: localhost
'''

RETURN = r'''
endpoint:
  description: Where the messages went, without the access token.
  returned: always
  type: str
  sample: https://oapi.dingtalk.com/robot/send
errcode:
  description: DingTalk's errcode for the last message (0 on success). Also returned on failure when DingTalk answered.
  returned: when a message was sent, or DingTalk refused one
  type: int
  sample: 0
errmsg:
  description: DingTalk's errmsg for the last message.
  returned: when a message was sent, or DingTalk refused one
  type: str
  sample: ok
sent:
  description: Number of messages DingTalk accepted.
  returned: always
  type: int
  sample: 1
attempts:
  description: Requests made in total, retries included.
  returned: when messages were sent
  type: int
  sample: 1
verified:
  description: Whether O(state=verified) succeeded.
  returned: when messages were sent
  type: bool
msg_uuids:
  description: The C(msgUuid) of each message, in order.
  returned: always
  type: list
  elements: str
  sample: [1c9e6bb7a1d34c9c8b1f2f3e4d5c6b7a]
results:
  description: Per message, DingTalk's answer.
  returned: always
  type: list
  elements: dict
  contains:
    errcode:
      description: DingTalk's errcode.
      type: int
    errmsg:
      description: DingTalk's errmsg.
      type: str
    msg_uuid:
      description: The message's C(msgUuid).
      type: str
    attempts:
      description: Requests made for this message.
      type: int
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.turnkey.secrets.plugins.module_utils import _dingtalk
from ansible_collections.turnkey.secrets.plugins.module_utils._common import run_module

BUTTON = dict(title=dict(type='str', required=True), url=dict(type='str', required=True))
MESSAGE = dict(
    msgtype=dict(type='str', choices=list(_dingtalk.MSGTYPES), default='text'),
    content=dict(type='str'),
    title=dict(type='str'),
    text=dict(type='str'),
    buttons=dict(type='list', elements='dict', options=BUTTON),
    btn_orientation=dict(type='str', choices=['vertical', 'horizontal'], default='vertical'),
    message_url=dict(type='str'),
    pic_url=dict(type='str'),
    at_mobiles=dict(type='list', elements='str'),
    at_user_ids=dict(type='list', elements='str'),
    at_all=dict(type='bool', default=False),
    msg_uuid=dict(type='str'),
)


def main():
    argument_spec = dict(
        url=dict(type='str', required=True, no_log=True),
        secret=dict(type='str', no_log=True),
        api_url=dict(type='str'),
        state=dict(type='str', choices=['sent', 'verified'], default='sent'),
        messages=dict(type='list', elements='dict', options=MESSAGE),
        timeout=dict(type='float', default=10),
        retries=dict(type='int', default=2),
        retry_delay=dict(type='float', default=1),
        throttle_delay=dict(type='float', default=60),
    )
    argument_spec.update(MESSAGE)
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[('messages', key) for key in ('content', 'title', 'text', 'buttons', 'message_url',
                                                          'pic_url', 'at_mobiles', 'at_user_ids', 'msg_uuid')],
        supports_check_mode=True,
    )
    error = _dingtalk.import_error()
    if error:
        module.fail_json(msg=missing_required_lib('requests'), exception=error)
    run_module(module, lambda mod: _dingtalk.run(mod.params, check_mode=mod.check_mode, diff=mod._diff),
               extra_secrets=_dingtalk.tokens_in(module.params['url']))


if __name__ == '__main__':
    main()
