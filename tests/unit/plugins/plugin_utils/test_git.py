# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Git write-back: credentials in the remote URL, and a branch that would make the copy
leave the temporary clone (local bare repositories, no network)."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess

import pytest

from ansible_collections.turnkey.secrets.plugins.module_utils._errors import InputError, TurnkeyError
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _git

pytestmark = pytest.mark.skipif(shutil.which('git') is None, reason='git is not installed')


def _run(*args, cwd=None):
    subprocess.run(['git', '-c', 'user.name=t', '-c', 'user.email=t@t'] + list(args), cwd=cwd, check=True,
                   capture_output=True)


@pytest.mark.parametrize('remote', ['https://%s@github.com/o/r.git', 'https://user:%s@host/r.git',
                                    'HTTP://%s@host/r.git'])
def test_credentials_in_the_url_refused(remote):
    token = 'ghp_' + secrets.token_hex(12)
    with pytest.raises(InputError) as exc:
        _git.check({'remote': remote % token, 'branch': 'main'})
    assert token not in exc.value.msg


def test_ssh_user_allowed():
    assert _git.check({'remote': 'ssh://git@host/r.git', 'branch': 'main'})['remote'] == 'ssh://git@host/r.git'
    assert _git.check({'remote': 'git@host:r.git', 'branch': 'main'})


@pytest.fixture
def env(tmp_path):
    remote = tmp_path / 'remote.git'
    _run('init', '-q', '--bare', '-b', 'main', str(remote))
    seed = tmp_path / 'seed'
    _run('clone', '-q', str(remote), str(seed))
    _run('checkout', '-q', '-b', 'main', cwd=seed)
    local = tmp_path / 'local' / 'inv' / 'group_vars' / 'all'
    local.mkdir(parents=True)
    (local / 'vault.yml').write_text('$ANSIBLE_VAULT;1.1;AES256\n00\n')
    (local / 'rotation.yml').write_text('turnkey_rotation: {}\n')
    return {'remote': str(remote), 'seed': seed, 'inventory': str(tmp_path / 'local' / 'inv'),
            'files': [str(local / 'vault.yml'), str(local / 'rotation.yml')], 'outside': tmp_path / 'outside'}


def _push_link(env, link, target):
    path = env['seed'] / link
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, str(path))
    _run('add', '-A', cwd=env['seed'])
    _run('commit', '-qm', 'link', cwd=env['seed'])
    _run('push', '-q', 'origin', 'main', cwd=env['seed'])


@pytest.mark.parametrize('link', ['inv/group_vars/all', 'inv/group_vars/all/vault.yml'])
def test_a_link_on_the_branch_is_refused_and_nothing_written_outside(env, link):
    env['outside'].mkdir()
    target = env['outside'] if link.endswith('all') else env['outside'] / 'planted'
    _push_link(env, link, str(target))
    spec = _git.check({'remote': env['remote'], 'branch': 'main', 'path': 'inv'})
    with pytest.raises(TurnkeyError) as exc:
        _git.write_back(spec, env['inventory'], env['files'], {}, 'test')
    assert 'symbolic link' in exc.value.msg
    assert os.listdir(str(env['outside'])) == []


def test_a_file_outside_the_inventory_is_refused(env, tmp_path):
    (env['seed'] / 'README').write_text('x\n')
    _run('add', '-A', cwd=env['seed'])
    _run('commit', '-qm', 'first', cwd=env['seed'])
    _run('push', '-q', 'origin', 'main', cwd=env['seed'])
    elsewhere = tmp_path / 'elsewhere' / 'rotation.yml'
    elsewhere.parent.mkdir()
    elsewhere.write_text('turnkey_rotation: {}\n')
    spec = _git.check({'remote': env['remote'], 'branch': 'main', 'path': 'inv'})
    with pytest.raises(InputError) as exc:
        _git.write_back(spec, env['inventory'], [env['files'][0], str(elsewhere)], {}, 'test')
    assert 'outside the repository' in exc.value.msg


def test_push_lands(env):
    (env['seed'] / 'README').write_text('x\n')
    _run('add', '-A', cwd=env['seed'])
    _run('commit', '-qm', 'first', cwd=env['seed'])
    _run('push', '-q', 'origin', 'main', cwd=env['seed'])
    spec = _git.check({'remote': env['remote'], 'branch': 'main', 'path': 'inv'})
    out = _git.write_back(spec, env['inventory'], env['files'], {}, 'test')
    assert out['pushed'] is True
    again = _git.write_back(spec, env['inventory'], env['files'], {}, 'test')
    assert again['pushed'] is False


def _log(env):
    return subprocess.run(['git', 'log', '--format=%s', 'main'], cwd=env['remote'], check=True, capture_output=True,
                          text=True).stdout.splitlines()


def _commit_on_remote(env, name, text, message):
    path = env['seed'] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    _run('add', '-A', cwd=env['seed'])
    _run('commit', '-qm', message, cwd=env['seed'])
    _run('push', '-q', 'origin', 'main', cwd=env['seed'])


def test_a_remote_that_moved_on_in_other_files_gets_the_commit_on_top(env):
    """Someone pushed to the branch between the run's checkout and its push: both commits stay."""
    _commit_on_remote(env, 'inv/group_vars/all/rotation.yml', 'turnkey_rotation: {}\n', 'first')
    started = {env['files'][1]: {_git.digest(env['files'][1])}}
    _commit_on_remote(env, 'inv/hosts.yml', 'all: {}\n', 'someone else: hosts')
    spec = _git.check({'remote': env['remote'], 'branch': 'main', 'path': 'inv'})
    out = _git.write_back(spec, env['inventory'], env['files'], started, 'turnkey.secrets: t: rotating a')
    assert out['pushed'] is True
    assert _log(env) == ['turnkey.secrets: t: rotating a', 'someone else: hosts', 'first']
    show = subprocess.run(['git', 'show', '--name-only', '--format=', 'main'], cwd=env['remote'], check=True,
                          capture_output=True, text=True).stdout.split()
    assert show == ['inv/group_vars/all/vault.yml']
    tree = subprocess.run(['git', 'ls-tree', '-r', '--name-only', 'main'], cwd=env['remote'], check=True,
                          capture_output=True, text=True).stdout.split()
    assert 'inv/hosts.yml' in tree


def test_a_conflicting_change_to_the_vault_file_stops_the_push(env):
    """vault.yml on the branch is neither what the run read nor what it pushes: nothing is pushed."""
    original = '$ANSIBLE_VAULT;1.1;AES256\n11\n'
    _commit_on_remote(env, 'inv/group_vars/all/vault.yml', original, 'first')
    started = {env['files'][0]: {hashlib.sha256(original.encode()).hexdigest()}}
    _commit_on_remote(env, 'inv/group_vars/all/vault.yml', '$ANSIBLE_VAULT;1.1;AES256\n22\n', 'someone else rotated')
    head = _log(env)
    spec = _git.check({'remote': env['remote'], 'branch': 'main', 'path': 'inv'})
    with pytest.raises(TurnkeyError) as exc:
        _git.write_back(spec, env['inventory'], env['files'], started, 'turnkey.secrets: t: rotating a')
    assert 'inv/group_vars/all/vault.yml on branch main changed since this run read it' in exc.value.msg
    assert 'conflict, nothing was pushed' in exc.value.msg
    assert _log(env) == head


def test_a_remote_that_moves_on_during_the_push_is_retried_on_top(env, tmp_path):
    """Another push lands between the clone and the push (a pre-receive hook makes it, once):
    the rejected push is retried from a new clone, on top of the other commit."""
    _commit_on_remote(env, 'inv/hosts.yml', 'all: {}\n', 'first')
    other = tmp_path / 'other'
    _run('clone', '-q', env['remote'], str(other))
    (other / 'README').write_text('meanwhile\n')
    _run('add', '-A', cwd=other)
    _run('commit', '-qm', 'someone else, meanwhile', cwd=other)
    hook = os.path.join(env['remote'], 'hooks', 'pre-receive')
    marker = tmp_path / 'raced'
    # The nested push runs this hook too: the marker lets it (and later pushes) through.
    with open(hook, 'w') as handle:
        handle.write('#!/bin/sh\n[ -e %s ] && exit 0\ntouch %s\n'
                     'unset GIT_DIR GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES\n'
                     'git -C %s push -q origin HEAD:main >/dev/null 2>&1\nexit 0\n' % (marker, marker, other))
    os.chmod(hook, 0o755)
    spec = _git.check({'remote': env['remote'], 'branch': 'main', 'path': 'inv'})
    out = _git.write_back(spec, env['inventory'], env['files'], {}, 'turnkey.secrets: t: rotating a')
    assert marker.exists()
    assert out['pushed'] is True
    assert _log(env) == ['turnkey.secrets: t: rotating a', 'someone else, meanwhile', 'first']
