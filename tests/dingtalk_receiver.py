"""A local stand-in for DingTalk's custom-robot endpoint that enforces DingTalk's rules.

In tests (``tests/`` is on ``sys.path`` through its conftest)::

    from dingtalk_receiver import DingTalkReceiver
    with DingTalkReceiver(token=token, secret=secret) as receiver:   # a free loopback port
        ...  post to receiver.url (has ?access_token=token) or use receiver.api_url
        assert receiver.messages[-1]['msgtype'] == 'markdown'

API: ``url`` (webhook URL with the token), ``api_url`` (the endpoint without query),
``messages`` (JSON bodies accepted, duplicates by ``msgUuid`` dropped), ``answers``
(``(errcode, errmsg)`` per request), ``reset()``; settable ``token``, ``secret`` (None: robot
without signing), ``keyword`` (None: no keyword check), ``rate_limit`` (messages a minute),
``throttle_seconds`` (how long a robot stays throttled, DingTalk: 600), ``max_skew`` (seconds),
``delay`` (seconds to wait before answering); ``throttle_next(n)`` answers 130101 to the next
``n`` requests, ``delay_next(seconds, n)`` delays only the next ``n`` answers.

As a script (foreground, or ``--background`` with ``--pidfile``), printing/recording each
accepted message as a JSON line::

    python tests/dingtalk_receiver.py --port N --token T --secret S [--keyword K] [--record FILE]

Rules, as DingTalk applies them: every answer to ``POST /robot/send`` is HTTP 200 with
``{"errcode", "errmsg"}``; unknown ``access_token`` -> 300001; with a secret, a ``timestamp``
more than ``max_skew`` away -> 310000 "invalid timestamp", a wrong ``sign`` (the query string is
decoded once, so a raw ``+`` or a double encoding fails) -> 310000 "sign not match"; a keyword
absent from the message -> 310000 "keywords not in content"; more than ``rate_limit`` messages
in 60 s -> 130101 and throttled for ``throttle_seconds``; malformed bodies -> 40035.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

OK = (0, 'ok')
TOKEN_UNKNOWN = (300001, 'token is not exist')
SIGN_MISMATCH = (310000, 'sign not match, more: [https://open.dingtalk.com/document/robots/customize-robot-security-settings]')
BAD_TIMESTAMP = (310000, 'invalid timestamp')
NO_KEYWORD = (310000, 'keywords not in content')
TOO_FAST = (130101, 'send too fast, exceed 20 times per minute')
BAD_BODY = (40035, 'missing parameter json')
BAD_CONTENT_TYPE = (43004, 'invalid HTTP HEADER Content-Type')

_REQUIRED = {
    'text': (('text', 'content'),),
    'markdown': (('markdown', 'title'), ('markdown', 'text')),
    'actionCard': (('actionCard', 'title'), ('actionCard', 'text')),
    'link': (('link', 'title'), ('link', 'text'), ('link', 'messageUrl')),
    'feedCard': (('feedCard', 'links'),),
}


def expected_sign(secret, timestamp):
    digest = hmac.new(secret.encode(), ('%s\n%s' % (timestamp, secret)).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _strings(obj):
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return [obj] if isinstance(obj, str) else []


class DingTalkReceiver(object):
    def __init__(self, token, secret=None, keyword=None, rate_limit=20, throttle_seconds=600, max_skew=3600,
                 host='127.0.0.1', port=0, record=None):
        self.token = token
        self.secret = secret
        self.keyword = keyword
        self.rate_limit = rate_limit
        self.throttle_seconds = throttle_seconds
        self.max_skew = max_skew
        self.delay = 0.0
        self.record = record
        self.echo = False
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = None
        self.reset()

    # -- public API
    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def api_url(self):
        return 'http://127.0.0.1:%d/robot/send' % self.port

    @property
    def url(self):
        return '%s?access_token=%s' % (self.api_url, self.token)

    def reset(self):
        with self._lock:
            self.messages = []
            self.answers = []
            self.requests = 0
            self._sent_at = []
            self._seen = set()
            self._throttled_until = 0.0
            self._throttle_next = 0
            self._delays = []

    def throttle_next(self, count=1):
        with self._lock:
            self._throttle_next += count

    def delay_next(self, seconds, count=1):
        with self._lock:
            self._delays += [seconds] * count

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- the rules
    def judge(self, query, content_type, raw):
        """``(errcode, errmsg)`` for one request, recording it when accepted."""
        params = parse_qs(query, keep_blank_values=True)
        first = {key: values[0] for key, values in params.items()}
        if first.get('access_token') != self.token:
            return TOKEN_UNKNOWN
        if self.secret is not None:
            ts, given = first.get('timestamp'), first.get('sign')
            if not ts or given is None:
                return SIGN_MISMATCH
            try:
                skew = abs(time.time() * 1000 - int(ts))
            except ValueError:
                return BAD_TIMESTAMP
            if skew > self.max_skew * 1000:
                return BAD_TIMESTAMP
            if not hmac.compare_digest(expected_sign(self.secret, ts).encode(), given.encode('utf-8', 'replace')):
                return SIGN_MISMATCH
        if 'application/json' not in (content_type or ''):
            return BAD_CONTENT_TYPE
        try:
            body = json.loads(raw.decode('utf-8'))
            required = _REQUIRED[body['msgtype']]
            for section, key in required:
                if body[section][key] in (None, '', []):
                    return BAD_BODY
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return BAD_BODY
        if body['msgtype'] == 'actionCard':
            card = body['actionCard']
            if not (card.get('singleTitle') and card.get('singleURL')) and not card.get('btns'):
                return BAD_BODY
        if self.keyword and not any(self.keyword in s for s in _strings(body[body['msgtype']])):
            return NO_KEYWORD
        with self._lock:
            now = time.monotonic()
            uid = body.get('msgUuid')
            if uid and uid in self._seen:
                return OK  # a retry of a message already delivered: answer ok, deliver nothing
            if self._throttle_next:
                self._throttle_next -= 1
                return TOO_FAST
            if now < self._throttled_until:
                return TOO_FAST
            self._sent_at = [t for t in self._sent_at if now - t < 60]
            if len(self._sent_at) >= self.rate_limit:
                self._throttled_until = now + self.throttle_seconds
                return TOO_FAST
            self._sent_at.append(now)
            if uid:
                self._seen.add(uid)
            self.messages.append(body)
        if self.record:
            with open(self.record, 'a') as handle:
                handle.write(json.dumps(body) + '\n')
        if self.echo:
            print(json.dumps(body, ensure_ascii=False), flush=True)
        return OK

    def _handler_class(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                parts = urlsplit(self.path)
                length = int(self.headers.get('Content-Length') or 0)
                raw = self.rfile.read(length)
                if parts.path != '/robot/send':
                    self.send_error(404)
                    return
                with receiver._lock:
                    receiver.requests += 1
                    delay = receiver._delays.pop(0) if receiver._delays else receiver.delay
                errcode, errmsg = receiver.judge(parts.query, self.headers.get('Content-Type'), raw)
                with receiver._lock:
                    receiver.answers.append((errcode, errmsg))
                if delay:
                    time.sleep(delay)
                out = json.dumps({'errcode': errcode, 'errmsg': errmsg}).encode()
                try:
                    self.send_response(200)
                    self.send_header('Content-Type', 'application/json;charset=utf-8')
                    self.send_header('Content-Length', str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    pass  # the client gave up waiting (timeout tests)

            def log_message(self, *args):
                pass

        return Handler


def _read(path):
    with open(path) as handle:
        return handle.read().strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description='Local DingTalk custom-robot endpoint enforcing DingTalk\'s rules.')
    parser.add_argument('--port', type=int, default=0, help='0: a free port (see --port-file)')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--token', help='access_token to accept')
    parser.add_argument('--token-file', help='read the token from this file instead')
    parser.add_argument('--secret', help='robot secret (SEC...); omit for a robot without signing')
    parser.add_argument('--secret-file', help='read the secret from this file instead')
    parser.add_argument('--keyword', help='custom keyword every message must contain')
    parser.add_argument('--rate-limit', type=int, default=20)
    parser.add_argument('--record', help='append every accepted message to this file as a JSON line')
    parser.add_argument('--port-file', help='write the port listened on to this file')
    parser.add_argument('--pidfile', help='write the process id to this file')
    parser.add_argument('--background', action='store_true', help='detach and run in the background')
    args = parser.parse_args(argv)
    token = _read(args.token_file) if args.token_file else args.token
    secret = _read(args.secret_file) if args.secret_file else args.secret
    if not token:
        parser.error('give --token or --token-file')
    receiver = DingTalkReceiver(token, secret, args.keyword, rate_limit=args.rate_limit, host=args.host,
                                port=args.port, record=args.record)
    ready = None
    if args.background:
        ready, done = os.pipe()
        if os.fork():
            # The parent returns once the child has written its files, so the caller can read them.
            os.close(done)
            os.read(ready, 1)
            os._exit(0)
        os.close(ready)
        ready = done
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
    else:
        receiver.echo = True
    if args.pidfile:
        with open(args.pidfile, 'w') as handle:
            handle.write('%d\n' % os.getpid())
    if args.port_file:
        with open(args.port_file + '.tmp', 'w') as handle:
            handle.write('%d\n' % receiver.port)
        os.replace(args.port_file + '.tmp', args.port_file)
    if ready is not None:
        os.write(ready, b'1')
        os.close(ready)
    if not args.background:
        print('listening on http://%s:%d/robot/send' % (args.host, receiver.port), flush=True)
    try:
        receiver._server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
