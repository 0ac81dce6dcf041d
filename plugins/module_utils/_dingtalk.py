# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DingTalk custom-robot webhooks: signing, message bodies, sending with bounded retries.

The protocol (see docs/dingtalk.md): POST JSON to ``/robot/send?access_token=T&timestamp=MS&sign=S``
where ``S`` is ``urlencode(base64(HMAC-SHA256(secret, MS + "\\n" + secret)))``, encoded exactly
once.  DingTalk answers HTTP 200 with ``{"errcode": N, "errmsg": "..."}``; only errcode 0 is a
success.  The access token (in the URL) and the ``SEC...`` secret are both credentials: neither
appears in any message, result or exception raised here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import tempfile
import time
import traceback
import uuid
from contextlib import contextmanager
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError
from ansible_collections.turnkey.secrets.plugins.module_utils._redact import redact

# requests is imported when a message is sent, not with this file: the controller's kind
# registry reads the webhook checks below on every rotation step.
_LOADED = {}


def _requests():
    """The requests module, imported on first use; None when it is missing."""
    if 'module' not in _LOADED:
        try:
            import requests
        except ImportError:
            _LOADED.update(module=None, error=traceback.format_exc())
        else:
            _LOADED.update(module=requests, error=None)
    return _LOADED['module']


def import_error():
    """The traceback of importing requests, or None when it is there."""
    _requests()
    return _LOADED['error']


try:
    import fcntl
except ImportError:  # not POSIX: the rate limiter keeps its window in memory only
    fcntl = None

MSGTYPES = ('text', 'markdown', 'actionCard', 'link')
SECRET_RE = re.compile(r'\ASEC[0-9a-fA-F]{64}\Z')
MAX_SKEW = 3600
RATE_LIMIT = 20
RATE_WINDOW = 60.0
THROTTLED = (130101, 410100)
TOKEN_UNKNOWN = (300001, 300005, 400101)
VERIFY_TEXT = 'turnkey.secrets: DingTalk webhook verified (test message, no action needed)'
_LOOPBACK_NAMES = ('localhost', 'localhost.localdomain', 'ip6-localhost')


class DingTalkError(TurnkeyError):
    """DingTalk refused a message or could not be reached; ``details`` carry errcode/errmsg."""


# --------------------------------------------------------------------------- signing

def _timestamp(value):
    try:
        ts = int(str(value).strip())
    except (TypeError, ValueError):
        raise InputError('timestamp must be epoch milliseconds (an integer such as 1577262236757)') from None
    if ts <= 0:
        raise InputError('timestamp must be epoch milliseconds, a positive integer')
    return ts


def sign(secret, timestamp=None):
    """``{timestamp, sign, query}`` for a robot ``secret``: ``sign`` is the base64 HMAC,
    ``query`` the ``timestamp=...&sign=...`` suffix with the signature URL-encoded once."""
    if not isinstance(secret, str) or not secret:
        raise InputError('the DingTalk secret is empty: give the SEC... value from the robot security settings')
    ts = int(time.time() * 1000) if timestamp is None else _timestamp(timestamp)
    digest = hmac.new(secret.encode('utf-8'), ('%d\n%s' % (ts, secret)).encode('utf-8'), hashlib.sha256).digest()
    b64 = base64.b64encode(digest).decode('ascii')
    return {'timestamp': ts, 'sign': b64, 'query': 'timestamp=%d&sign=%s' % (ts, quote(b64, safe=''))}


def verify_callback(headers, app_secret, max_skew=MAX_SKEW, now=None):
    """True when ``headers`` (``timestamp``, ``sign``; any case) carry a valid DingTalk
    callback signature made with ``app_secret`` no more than ``max_skew`` seconds away."""
    if not isinstance(app_secret, str) or not app_secret:
        raise InputError('app_secret is empty: give the appSecret of the DingTalk application')
    try:
        max_skew = float(max_skew)
    except (TypeError, ValueError):
        raise InputError('max_skew must be a number of seconds') from None
    if max_skew < 0:
        raise InputError('max_skew must not be negative')
    found = {str(key).lower(): value for key, value in dict(headers or {}).items()}
    given, ts = found.get('sign'), found.get('timestamp')
    if isinstance(given, (list, tuple)):
        given = given[0] if given else None
    if isinstance(ts, (list, tuple)):
        ts = ts[0] if ts else None
    if given is None or ts is None:
        return False
    try:
        ts = int(str(ts).strip())
    except ValueError:
        return False
    now_ms = int((time.time() if now is None else now) * 1000)
    if ts <= 0 or abs(now_ms - ts) > max_skew * 1000:
        return False
    expected = sign(app_secret, ts)['sign'].encode('ascii')
    return hmac.compare_digest(expected, str(given).strip().encode('utf-8', 'surrogateescape'))


def check_secret(secret):
    if not isinstance(secret, str) or not SECRET_RE.match(secret.strip()):
        raise InputError('secret is not a DingTalk robot secret: expected "SEC" followed by 64 hexadecimal '
                         'characters, as shown under the robot\'s security settings ("Additional signature")')
    return secret.strip()


# --------------------------------------------------------------------------- webhook URL

def _is_loopback(host):
    host = (host or '').lower()
    return host in _LOOPBACK_NAMES or host == '::1' or re.match(r'\A127(\.\d{1,3}){3}\Z', host) is not None


def _display(parts):
    host = parts.hostname or ''
    if ':' in host:
        host = '[%s]' % host
    if parts.port:
        host += ':%d' % parts.port
    return urlunsplit((parts.scheme, host, parts.path or '/', '', ''))


class Webhook(object):
    """A robot endpoint: where to POST (``endpoint``, no credentials) and its ``token``."""

    def __init__(self, base, token, params):
        self._base = base
        self.token = token
        self._params = params
        self.endpoint = _display(base)

    def url(self, secret=None, timestamp=None):
        query = urlencode([('access_token', self.token)] + self._params)
        if secret:
            query += '&' + sign(secret, timestamp)['query']
        return urlunsplit((self._base.scheme, self._base.netloc, self._base.path or '/', query, ''))


def parse_webhook(url, api_url=None, require_https=False):
    """Check a webhook URL's shape; ``api_url`` replaces its scheme, host and path.

    Without ``api_url``, http is only accepted for loopback receivers (tests), and not at all
    with ``require_https``: the URL carries the access token.
    """
    parts = urlsplit(str(url or '').strip())
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise InputError('url is not an http(s) URL: give the robot webhook as copied from the group\'s robot '
                         'settings (https://oapi.dingtalk.com/robot/send?access_token=...)')
    query = parse_qsl(parts.query, keep_blank_values=True)
    tokens = [value for key, value in query if key == 'access_token']
    if len(tokens) != 1 or not tokens[0].strip():
        raise InputError('url must contain exactly one non-empty access_token parameter: copy the whole webhook '
                         'URL from the group\'s robot settings')
    # A pasted URL may hold an old signature: it is replaced on every send.
    params = [(key, value) for key, value in query if key not in ('access_token', 'timestamp', 'sign')]
    if api_url:
        base = urlsplit(str(api_url).strip())
        if base.scheme not in ('http', 'https') or not base.hostname:
            raise InputError('api_url must be an http(s) URL such as https://gateway.example.com/robot/send')
        if base.query or base.fragment:
            raise InputError('api_url must not have a query string or fragment: the access_token comes from url')
    else:
        base = parts
        if base.scheme != 'https':
            if require_https:
                raise InputError('url must use https (it carries the access_token); set api_url to verify through '
                                 'a private gateway or test receiver')
            if not _is_loopback(base.hostname):
                raise InputError('url uses http to a host that is not loopback: the access_token would travel in '
                                 'clear; use https (plain http is accepted for loopback test receivers only)')
    return Webhook(base, tokens[0].strip(), params)


# --------------------------------------------------------------------------- message bodies

def _need(value, what, msgtype):
    if value is None or not str(value).strip():
        raise InputError('msgtype=%s needs %s' % (msgtype, what))
    return str(value)


def build_message(msgtype='text', content=None, title=None, text=None, buttons=None, btn_orientation='vertical',
                  message_url=None, pic_url=None, at_mobiles=None, at_user_ids=None, at_all=False, msg_uuid=None):
    """The JSON body of one robot message, with a ``msgUuid`` (given or random) for de-duplication."""
    at_mobiles = [str(m) for m in at_mobiles or []]
    at_user_ids = [str(u) for u in at_user_ids or []]
    if msgtype == 'text':
        body = {'text': {'content': _need(content, 'content', msgtype)}}
    elif msgtype == 'markdown':
        text = _need(text, 'text', msgtype)
        # DingTalk only highlights and notifies the people named as @<mobile>/@<userid> in a markdown text.
        missing = [who for who in at_mobiles + at_user_ids if '@' + who not in text]
        if missing:
            text += '\n\n' + ' '.join('@' + who for who in missing)
        body = {'markdown': {'title': _need(title, 'title', msgtype), 'text': text}}
    elif msgtype == 'actionCard':
        card = {'title': _need(title, 'title', msgtype), 'text': _need(text, 'text', msgtype),
                'btnOrientation': '1' if btn_orientation == 'horizontal' else '0'}
        if not buttons:
            raise InputError('msgtype=actionCard needs buttons: a list of {title, url}')
        checked = []
        for index, button in enumerate(buttons):
            if not isinstance(button, dict) or not button.get('title') or not button.get('url'):
                raise InputError('buttons[%d] needs a title and a url' % index)
            checked.append({'title': str(button['title']), 'actionURL': str(button['url'])})
        if len(checked) == 1:
            card.update(singleTitle=checked[0]['title'], singleURL=checked[0]['actionURL'])
        else:
            card['btns'] = checked
        body = {'actionCard': card}
    elif msgtype == 'link':
        link = {'title': _need(title, 'title', msgtype), 'text': _need(text, 'text', msgtype),
                'messageUrl': _need(message_url, 'message_url', msgtype)}
        if pic_url:
            link['picUrl'] = str(pic_url)
        body = {'link': link}
    else:
        raise InputError('msgtype must be one of %s' % ', '.join(MSGTYPES))
    if at_mobiles or at_user_ids or at_all:
        if msgtype not in ('text', 'markdown'):
            raise InputError('at_mobiles, at_user_ids and at_all only work with msgtype text or markdown')
        body['at'] = {'atMobiles': at_mobiles, 'atUserIds': at_user_ids, 'isAtAll': bool(at_all)}
    body['msgtype'] = msgtype
    body['msgUuid'] = str(msg_uuid) if msg_uuid else uuid.uuid4().hex
    return body


# --------------------------------------------------------------------------- answers

def explain(errcode, errmsg):
    """An actionable sentence for a DingTalk errcode (never containing a credential)."""
    said = str(errmsg or '')[:200]
    low = said.lower()
    if errcode == 310000:
        if 'sign' in low:
            why = ('signature rejected: the secret is not the one in the robot\'s security settings '
                   '("Additional signature"), or the URL belongs to another robot')
        elif 'timestamp' in low:
            why = 'timestamp rejected: this machine\'s clock is more than one hour off DingTalk\'s; fix NTP'
        elif 'keyword' in low:
            why = ('message rejected: it contains none of the robot\'s custom keywords; put one in the content, '
                   'title or text')
        elif 'ip' in low or 'whitelist' in low:
            why = 'message rejected: this machine\'s public IP address is not in the robot\'s IP allow-list'
        else:
            why = 'message rejected by the robot\'s security settings (secret, keywords or IP allow-list)'
    elif errcode in TOKEN_UNKNOWN:
        why = ('the access_token in url is unknown: the robot was removed or regenerated, or the URL was copied '
               'incompletely; copy the webhook URL again from the group\'s robot settings')
    elif errcode in THROTTLED:
        why = ('DingTalk throttled this robot (more than %d messages a minute); it may stay throttled for up to '
               '10 minutes: send fewer messages, e.g. one summary instead of one alert per host' % RATE_LIMIT)
    elif errcode == 400102:
        why = 'the robot is disabled: enable it again in the group\'s robot settings'
    elif errcode == 400013:
        why = 'the group of this robot was dissolved: create a robot in another group'
    elif errcode in (40035, 300004, 400105):
        why = 'DingTalk rejected the message body as incomplete or of an unsupported type'
    elif 430101 <= (errcode or 0) <= 430104:
        why = 'DingTalk\'s content check rejected the message (unsafe link or text)'
    elif errcode == 460101:
        why = 'the message is too long (DingTalk accepts at most 20000 bytes)'
    else:
        why = 'DingTalk refused the message'
    return '%s (errcode %s, errmsg %r)' % (why, errcode, said)


# --------------------------------------------------------------------------- rate limit

class RateLimiter(object):
    """At most ``limit`` messages per ``window`` seconds per robot, shared by every process of this
    machine and user through a small lock-protected state file (in memory if that is impossible).

    The file is named after a truncated SHA-256 of the access token: a 256-bit random token
    cannot be recovered from it."""

    def __init__(self, token, limit=RATE_LIMIT, window=RATE_WINDOW, directory=None, clock=time.time, sleep=time.sleep):
        self.limit = limit
        self.window = window
        self.clock = clock
        self.sleep = sleep
        name = 'turnkey-dingtalk-%s-%d.rate' % (hashlib.sha256(token.encode('utf-8')).hexdigest()[:16], os.getuid())
        self.path = os.path.join(directory or tempfile.gettempdir(), name)
        self._memory = []

    @contextmanager
    def _stamps(self):
        fd = None
        if fcntl is not None:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, 'O_NOFOLLOW', 0), 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                if fd is not None:
                    os.close(fd)
                fd = None
        if fd is None:
            yield self._memory
            return
        try:
            raw = b''
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                raw += chunk
            try:
                stamps = [float(s) for s in json.loads(raw.decode('ascii') or '[]')]
            except (ValueError, TypeError, UnicodeDecodeError):
                stamps = []
            yield stamps
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(stamps).encode('ascii'))
        finally:
            os.close(fd)

    def acquire(self):
        """Wait until one more message fits in the window, and count it."""
        while True:
            with self._stamps() as stamps:
                now = self.clock()
                stamps[:] = [s for s in stamps if 0 <= now - s < self.window]
                if len(stamps) < self.limit:
                    stamps.append(now)
                    return
                wait = self.window - (now - min(stamps))
            self.sleep(max(wait, 0.05))


# --------------------------------------------------------------------------- sending

def _reason(exc):
    """A short cause for a transport error; the text of requests' exceptions holds the full URL."""
    if _requests() is not None and isinstance(exc, _requests().Timeout):
        return 'timed out'
    found = re.search(r'\[Errno -?\d+\][^\'"()\]]*', str(exc))
    return found.group(0).strip() if found else type(exc).__name__


class Client(object):
    """Sends messages to one robot: signs every attempt afresh, retries a bounded number of times
    (transport errors, HTTP 5xx/429, throttling) keeping the ``msgUuid`` so DingTalk can drop a
    duplicate, and never lets the token or secret into an error."""

    def __init__(self, webhook, secret=None, timeout=10.0, retries=2, retry_delay=1.0, throttle_delay=60.0,
                 session=None, sleep=time.sleep, limiter=None):
        if session is None and import_error():
            raise TurnkeyError('the Python library requests is required to talk to DingTalk: install it '
                               '(pip install requests) on the host running the task')
        if timeout <= 0 or retries < 0 or retry_delay < 0 or throttle_delay < 0:
            raise InputError('timeout must be positive; retries, retry_delay and throttle_delay must not be negative')
        self.webhook = webhook
        self.secret = secret
        self.timeout = timeout
        self.retries = int(retries)
        self.retry_delay = retry_delay
        self.throttle_delay = throttle_delay
        self.session = session or _requests().Session()
        self.sleep = sleep
        self.limiter = limiter

    def _secrets(self):
        return [self.webhook.token, self.secret]

    def _fail(self, msg, **details):
        secrets = self._secrets()
        details = {k: redact(v, secrets) if isinstance(v, str) else v for k, v in details.items()}
        return DingTalkError(redact(msg, secrets), **details)

    def send(self, body):
        """POST ``body``; returns ``{errcode, errmsg, msg_uuid, attempts}`` or raises DingTalkError."""
        body = dict(body)
        body.setdefault('msgUuid', uuid.uuid4().hex)
        data = json.dumps(body, ensure_ascii=False).encode('utf-8')
        where = 'POST %s' % self.webhook.endpoint
        attempt = 0
        while True:
            attempt += 1
            left = self.retries - attempt + 1
            if self.limiter is not None:
                self.limiter.acquire()
            delay = self.retry_delay * (2 ** (attempt - 1))
            errcode = errmsg = None
            url = self.webhook.url(self.secret)
            try:
                response = self.session.post(url, data=data, timeout=self.timeout,
                                             headers={'Content-Type': 'application/json; charset=utf-8'})
            except Exception as exc:  # pylint: disable=broad-except
                # requests' exceptions (and anything a proxy library raises) are all transport errors here.
                problem = '%s failed: %s (timeout %ss)' % (where, _reason(exc), self.timeout)
            else:
                status = response.status_code
                if status == 200:
                    try:
                        answer = response.json()
                        errcode = int(answer['errcode'])
                        errmsg = str(answer.get('errmsg', ''))
                    except (ValueError, TypeError, KeyError, AttributeError):
                        raise self._fail('%s answered HTTP 200 without DingTalk\'s {"errcode", "errmsg"} JSON: '
                                         'is url (or api_url) a DingTalk robot endpoint?' % where,
                                         attempts=attempt, msg_uuid=body['msgUuid']) from None
                    if errcode == 0:
                        return {'errcode': 0, 'errmsg': errmsg, 'msg_uuid': body['msgUuid'], 'attempts': attempt}
                    if errcode not in THROTTLED:
                        raise self._fail(explain(errcode, errmsg), errcode=errcode, errmsg=errmsg,
                                         attempts=attempt, msg_uuid=body['msgUuid'])
                    problem = explain(errcode, errmsg)
                    delay = self.throttle_delay
                elif status == 429 or status >= 500:
                    problem = '%s answered HTTP %d' % (where, status)
                else:
                    raise self._fail('%s answered HTTP %d (DingTalk always answers 200): check the path of url or '
                                     'api_url and any proxy in between' % (where, status),
                                     status=status, attempts=attempt, msg_uuid=body['msgUuid'])
            if left <= 0:
                details = dict(attempts=attempt, msg_uuid=body['msgUuid'])
                if errcode is not None:
                    details.update(errcode=errcode, errmsg=errmsg)
                raise self._fail('%s; gave up after %d attempt%s' % (problem, attempt, '' if attempt == 1 else 's'),
                                 **details)
            self.sleep(delay)


# --------------------------------------------------------------------------- the module

MESSAGE_KEYS = ('msgtype', 'content', 'title', 'text', 'buttons', 'btn_orientation', 'message_url', 'pic_url',
                'at_mobiles', 'at_user_ids', 'at_all', 'msg_uuid')


def tokens_in(url):
    """Every access_token value in ``url`` (for redaction; no validation)."""
    try:
        return [v for k, v in parse_qsl(urlsplit(str(url or '')).query) if k == 'access_token' and v]
    except ValueError:
        return []


def run(params, check_mode=False, diff=False, client_factory=Client, limiter_factory=RateLimiter):
    """The ``dingtalk_webhook`` module: validate, then send (``sent``) or send a test message and
    require errcode 0 (``verified``)."""
    state = params.get('state') or 'sent'
    webhook = parse_webhook(params.get('url'), params.get('api_url'), require_https=(state == 'verified'))
    secret = params.get('secret')
    if secret:
        secret = check_secret(secret)
    elif state == 'verified':
        raise InputError('state=verified needs secret (the SEC... value from the robot\'s security settings): '
                         'the robot must have signing enabled')
    items = params.get('messages')
    if items:
        bodies = [build_message(**{k: v for k, v in dict(item).items() if k in MESSAGE_KEYS and v is not None})
                  for item in items]
    else:
        single = {k: params.get(k) for k in MESSAGE_KEYS if params.get(k) is not None}
        if state == 'verified' and not any(single.get(k) for k in ('content', 'text')):
            single.update(msgtype='text', content=VERIFY_TEXT)
        bodies = [build_message(**single)]
    if state == 'verified' and len(bodies) != 1:
        raise InputError('state=verified sends exactly one test message: drop messages, or use state=sent')

    result = {'changed': False, 'endpoint': webhook.endpoint, 'sent': 0,
              'msg_uuids': [b['msgUuid'] for b in bodies], 'results': []}
    if diff and state == 'sent':
        # Placeholders: message texts may quote anything, the diff only says what would be posted.
        result['diff'] = {'before': '', 'after': ''.join('post a %s message (msgUuid %s) to %s\n' % (
            b['msgtype'], b['msgUuid'], webhook.endpoint) for b in bodies)}
    if check_mode:
        result['changed'] = state == 'sent'
        return result

    limiter = limiter_factory(webhook.token) if limiter_factory else None
    settings = {key: params[key] for key in ('timeout', 'retries', 'retry_delay', 'throttle_delay')
                if params.get(key) is not None}
    client = client_factory(webhook, secret, limiter=limiter, **settings)
    for index, body in enumerate(bodies):
        try:
            answer = client.send(body)
        except DingTalkError as exc:
            prefix = 'message %d of %d: ' % (index + 1, len(bodies)) if len(bodies) > 1 else ''
            if state == 'verified':
                prefix = 'webhook not verified: '
            exc.msg = prefix + exc.msg
            exc.details.update(sent=result['sent'], results=result['results'], endpoint=webhook.endpoint,
                               changed=state == 'sent' and result['sent'] > 0)
            raise
        result['results'].append(answer)
        result['sent'] += 1
    result.update(errcode=result['results'][-1]['errcode'], errmsg=result['results'][-1]['errmsg'],
                  attempts=sum(r['attempts'] for r in result['results']), verified=state == 'verified',
                  changed=state == 'sent')
    return result


# --------------------------------------------------------------------------- run summaries

_NAME_RE = re.compile(r'\A[\w.:/@-]{1,100}\Z')


def _clean(text, limit=200):
    return ' '.join(str(text).split())[:limit]


def summary(playbook, hosts, failures, rotated, dashboard_url=None, title_prefix='turnkey.secrets', msgtype='markdown'):
    """A message body summarising a playbook run, built from names and counters only.

    ``hosts``: name -> ``{ok, changed, failed, unreachable, skipped}``; ``failures``: list of
    ``{host, task}``; ``rotated``: names of rotated secrets (anything that does not look like a
    name is dropped, so a value slipped into the list by mistake is not posted)."""
    failed_hosts = sorted(h for h, s in hosts.items() if s.get('failures') or s.get('unreachable'))
    failed = bool(failed_hosts or failures)
    names = sorted({str(n) for n in rotated or [] if _NAME_RE.match(str(n))})
    dropped = len([n for n in rotated or [] if not _NAME_RE.match(str(n))])
    title = '%s: %s %s' % (title_prefix, playbook, 'FAILED on %d host%s' % (
        len(failed_hosts), '' if len(failed_hosts) == 1 else 's') if failed else 'succeeded')
    lines = ['### %s %s' % ('\u274c' if failed else '\u2705', _clean(title))]
    if rotated is not None:
        lines += ['', '**Rotated**: %s' % (', '.join(names) or 'nothing')]
    if dropped:
        lines.append('(%d rotated entr%s not shown: not a secret name)' % (dropped, 'y' if dropped == 1 else 'ies'))
    lines += ['', '**Hosts**:', '']
    for host in sorted(hosts):
        s = hosts[host]
        name = _clean(host, 80)
        lines.append('- %s: ok %d, changed %d, failed %d, unreachable %d' % (
            '**%s**' % name if host in failed_hosts else name, s.get('ok', 0), s.get('changed', 0), s.get('failures', 0), s.get('unreachable', 0)))
    if not hosts:
        lines.append('- no hosts')
    if failures:
        lines += ['', '**Failures**:', '']
        for item in failures[:20]:
            lines.append('- %s: %s' % (_clean(item.get('host'), 80), _clean(item.get('task') or 'unnamed task')))
        if len(failures) > 20:
            lines.append('- ... and %d more' % (len(failures) - 20))
    text = '\n'.join(lines)
    if msgtype == 'actionCard' and dashboard_url:
        return build_message('actionCard', title=_clean(title), text=text,
                             buttons=[{'title': 'Open the dashboard', 'url': dashboard_url}])
    if dashboard_url:
        text += '\n\n[Open the dashboard](%s)' % dashboard_url
    return build_message('markdown', title=_clean(title), text=text)
