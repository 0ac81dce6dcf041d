# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write-back of an environment's vault file and rotation.yml to git.

AWX (and any throwaway checkout) loses what a job writes: the rotation commits its two
files and pushes them, right after the create step (the pending values are in git
before any service changes) and after finish.  The push goes from a private temporary
clone of the remote, never from the checkout the run uses (it may be read-only, on
another revision, or hold other changes): only these two files are ever committed, and
only in the form they have on disk (the vault encrypted, rotation.yml names and dates).

A remote whose copy of a file is neither what this run started from nor what it wants
to push was changed by someone else meanwhile: the push stops with a conflict instead of
overwriting it.  A remote that moved on in other files is fine (the commit goes on top).
Credentials come from the environment only (GIT_SSH_COMMAND, GIT_ASKPASS, a credential
helper, an AWX Source Control credential): a URL holding a password or token is refused,
it would be in the argv of git and in messages.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError

URL_CREDENTIALS_RE = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*:[^/@]*@')
# A token alone as the user name (https://<token>@github.com/..., as GitHub and others
# accept) is a credential too: http(s) URLs take none at all.
HTTP_USERINFO_RE = re.compile(r'^https?://[^/@]*@', re.IGNORECASE)
BRANCH_RE = re.compile(r'^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]+$')
ATTEMPTS = 3
TIMEOUT = 120


def check(spec):
    """``{remote, branch, path}`` of ``turnkey_git``, checked; None when write-back is off."""
    if not spec:
        return None
    if not isinstance(spec, dict):
        raise InputError('turnkey_git must be a mapping {remote: <url>, branch: <name>}')
    unknown = sorted(set(spec) - {'remote', 'branch', 'path', 'author_name', 'author_email'})
    if unknown:
        raise InputError('turnkey_git: unknown keys %s (remote, branch, path, author_name, author_email)'
                         % ', '.join(unknown))
    remote, branch = str(spec.get('remote') or ''), str(spec.get('branch') or '')
    if not remote or not branch:
        raise InputError('turnkey_git needs both remote and branch')
    if URL_CREDENTIALS_RE.match(remote) or HTTP_USERINFO_RE.match(remote):
        raise InputError('turnkey_git.remote holds a password or token: give credentials through the environment '
                         '(GIT_ASKPASS, a credential helper, GIT_SSH_COMMAND or an AWX Source Control credential), '
                         'never in the URL')
    if remote.startswith('-') or not BRANCH_RE.match(branch):
        raise InputError('turnkey_git: %r is not a usable remote and branch' % branch[:60])
    path = spec.get('path')
    if path is not None and (os.path.isabs(str(path)) or '..' in str(path).split('/')):
        raise InputError('turnkey_git.path is a path inside the repository (relative, no ..)')
    return {'remote': remote, 'branch': branch, 'path': None if path is None else str(path),
            'author_name': str(spec.get('author_name') or 'turnkey.secrets rotation'),
            'author_email': str(spec.get('author_email') or 'turnkey-secrets@localhost')}


def digest(path):
    try:
        with open(path, 'rb') as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def _env():
    env = dict(os.environ)
    # Never wait for a person typing a password: AWX jobs have no terminal.
    env.update(GIT_TERMINAL_PROMPT='0', GIT_ASKPASS=env.get('GIT_ASKPASS') or 'true', LC_ALL='C')
    env.setdefault('GIT_SSH_COMMAND', 'ssh -o BatchMode=yes')
    return env


def _git(args, cwd=None, check_rc=True):
    try:
        proc = subprocess.run(['git'] + args, cwd=cwd, env=_env(), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=TIMEOUT, check=False)
    except FileNotFoundError:
        raise InputError('turnkey_git is set but git is not installed on the controller (or in the execution '
                         'environment)') from None
    except subprocess.TimeoutExpired:
        raise TurnkeyError('git %s did not finish in %d s (remote unreachable?)' % (args[0], TIMEOUT)) from None
    if check_rc and proc.returncode:
        raise TurnkeyError('git %s failed: %s' % (args[0], _said(proc)))
    return proc


def _said(proc):
    text = ' '.join((proc.stderr or proc.stdout or '').split())
    # What git and the remote's hooks said; a URL's user part is never repeated.
    return re.sub(r'://[^/\s@]*@', '://', text)[-600:] or 'exit code %d' % proc.returncode


def repo_path(spec, inventory_dir):
    """The inventory directory's path inside the repository."""
    if spec['path'] is not None:
        return spec['path'].strip('/') or '.'
    proc = _git(['rev-parse', '--show-toplevel'], cwd=inventory_dir, check_rc=False)
    if proc.returncode == 0 and proc.stdout.strip():
        top = os.path.realpath(proc.stdout.strip())
        relative = os.path.relpath(os.path.realpath(inventory_dir), top)
        return '.' if relative == '.' else relative
    return '.'


def write_back(spec, inventory_dir, files, accepted, message):
    """Commit ``files`` (absolute paths below ``inventory_dir``) to the remote branch and push.

    ``accepted``: {path: set of sha256} a remote copy may have (what this run started from or
    pushed before; its own new content is always accepted).  Returns ``{'pushed': bool,
    'commit': sha, 'digests': {path: sha256}}``.
    """
    inside = repo_path(spec, inventory_dir)
    ours = {path: digest(path) for path in files}
    last = None
    for _attempt in range(ATTEMPTS):
        work = tempfile.mkdtemp(prefix='turnkey-git-')
        try:
            clone = os.path.join(work, 'repo')
            proc = _git(['clone', '--quiet', '--no-tags', '--single-branch', '--branch', spec['branch'], '--',
                         spec['remote'], clone], check_rc=False)
            if proc.returncode:
                raise TurnkeyError('git write-back: cannot clone branch %s of %s: %s; nothing was pushed'
                                   % (spec['branch'], _remote_shown(spec['remote']), _said(proc)))
            relative = []
            for path in files:
                rel = os.path.normpath(os.path.join(inside, os.path.relpath(path, inventory_dir)))
                target = _inside(clone, rel, spec['branch'])
                theirs = digest(target)
                if theirs is not None and theirs != ours[path] and theirs not in accepted.get(path, ()):
                    raise TurnkeyError('git write-back: %s on branch %s changed since this run read it (someone else '
                                       'rotated or edited it): conflict, nothing was pushed and no service was changed '
                                       'by this step. Run again from a checkout of the current branch'
                                       % (rel, spec['branch']))
                if ours[path] is None:
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copyfile(path, target)
                relative.append(rel)
            if not relative:
                return {'pushed': False, 'commit': None, 'digests': ours}
            _git(['add', '--'] + relative, cwd=clone)
            if _git(['diff', '--cached', '--quiet'], cwd=clone, check_rc=False).returncode == 0:
                head = _git(['rev-parse', 'HEAD'], cwd=clone).stdout.strip()
                return {'pushed': False, 'commit': head, 'digests': ours}
            _git(['-c', 'user.name=' + spec['author_name'], '-c', 'user.email=' + spec['author_email'],
                  '-c', 'commit.gpgsign=false', 'commit', '--quiet', '--no-verify', '-m', message, '--'] + relative,
                 cwd=clone)
            head = _git(['rev-parse', 'HEAD'], cwd=clone).stdout.strip()
            push = _git(['push', '--quiet', '--porcelain', 'origin', 'HEAD:refs/heads/' + spec['branch']], cwd=clone,
                        check_rc=False)
            if push.returncode == 0:
                return {'pushed': True, 'commit': head, 'digests': ours}
            last = _said(push)
            # Only a remote that moved on meanwhile is worth another try (fetch first /
            # non-fast-forward); a hook or permission refusal is final.
            if not re.search(r'non-fast-forward|fetch first|\[rejected\].*\(stale|cannot lock ref', push.stdout + push.stderr):
                break
        finally:
            shutil.rmtree(work, ignore_errors=True)
    raise TurnkeyError('git write-back: push to branch %s of %s failed: %s'
                       % (spec['branch'], _remote_shown(spec['remote']), last))


def _inside(clone, rel, branch):
    """``clone/rel``, refused when it leaves the clone: a path with .., or a symbolic link
    the branch holds on the way (it would make the copy write wherever the link points)."""
    if os.path.isabs(rel) or rel == '..' or rel.startswith('..' + os.sep):
        raise InputError('git write-back: %s is outside the repository (the vault file and rotation.yml must be in '
                         'the inventory directory, or set turnkey_git.path); nothing was pushed' % rel)
    current = clone
    for part in rel.split(os.sep):
        current = os.path.join(current, part)
        if os.path.islink(current):
            raise TurnkeyError('git write-back: %s on branch %s is a symbolic link (in %s): refused, the copy would '
                               'be written where it points; nothing was pushed' % (rel, branch, os.path.relpath(current, clone)))
    return current


def _remote_shown(remote):
    return re.sub(r'://[^/\s@]*@', '://', remote)
