"""Drop-in parity: containers.podman's own podman_secret integration target, run against ours.

The target (from the ansible 12 sdist, see upstream.py) runs with only the module names
``containers.podman.podman_secret`` / ``podman_secret_info`` replaced by ours; its
``podman_container`` tasks stay containers.podman's.  It runs against a podman with its
own storage (the target's ``test_executable``), so its fixed names (``mysecret``,
``showmysecret``) touch nothing else on the machine, and its ``alpine:3.7`` image is a
few host binaries imported there (no registry is reachable).

One assertion differs, on purpose: on podman older than 4.7 the target expects
``force: true`` with the same data to report ``changed`` (containers.podman cannot read the
stored value there, so it recreates the secret every run).  Ours verifies the data against
its digest label and leaves an identical secret alone, which is what the target itself
asserts on podman 4.7 and later; that one assertion is swapped for the 4.7 one.
"""

import os
import shutil
import stat
import subprocess
import tempfile

import upstream
from harness import ROOT, ansible_env

TARGET = 'containers/podman/tests/integration/targets/podman_secret'
FORCE_BEFORE_470 = '          - forced2 is changed\n      when: not podman_version_gt470'
FORCE_AT_470 = '          - forced2 is not changed\n      when: not podman_version_gt470'


def _isolated_podman(base):
    """An executable running podman with storage under ``base``, and its alpine:3.7 image."""
    wrapper = os.path.join(base, 'podman')
    with open(wrapper, 'w') as handle:
        handle.write('#!/bin/sh\nexec podman --root %s/s --runroot %s/r "$@"\n' % (base, base))
    os.chmod(wrapper, stat.S_IRWXU)
    rootfs = os.path.join(base, 'rootfs')
    for rel in ('bin', 'lib/x86_64-linux-gnu', 'lib64', 'tmp', 'run', 'proc', 'sys', 'dev', 'etc'):
        os.makedirs(os.path.join(rootfs, rel))
    for src, rel in (('/usr/bin/dash', 'bin/sh'), ('/usr/bin/cat', 'bin/cat'), ('/usr/bin/sleep', 'bin/sleep'),
                     ('/lib/x86_64-linux-gnu/libc.so.6', 'lib/x86_64-linux-gnu/libc.so.6'),
                     ('/lib64/ld-linux-x86-64.so.2', 'lib64/ld-linux-x86-64.so.2')):
        shutil.copy(src, os.path.join(rootfs, rel))
    tar = subprocess.run(['tar', '-C', rootfs, '-c', '.'], capture_output=True, check=True).stdout
    subprocess.run([wrapper, 'import', '-q', '-', 'localhost/alpine:3.7'], input=tar, env=ansible_env(),
                   capture_output=True, check=True)
    return wrapper


def test_containers_podman_podman_secret_target_passes_against_ours(tmp_path):
    collections = upstream.extract(str(tmp_path / 'upstream'), TARGET, 'containers/podman/plugins',
                                   'containers/podman/meta')
    with open(os.path.join(collections, TARGET, 'tasks', 'main.yml')) as handle:
        original = handle.read()
    tasks = upstream.retarget(original, 'containers.podman', ['podman_secret', 'podman_secret_info'])
    assert tasks.count('turnkey.secrets.podman_secret:') >= 20 and 'containers.podman.podman_secret' not in tasks
    assert tasks.count(FORCE_BEFORE_470) == 1, 'the target changed upstream: review the swapped assertion'
    tasks = tasks.replace(FORCE_BEFORE_470, FORCE_AT_470)
    role = tmp_path / 'podman_secret_target'
    (role / 'tasks').mkdir(parents=True)
    (role / 'tasks' / 'main.yml').write_text(tasks)
    # podman refuses a runroot path longer than 50 characters: not under pytest's tmp_path.
    base = tempfile.mkdtemp(prefix='tkpm', dir='/tmp')
    wrapper = _isolated_podman(base)
    playbook = tmp_path / 'play.yml'
    playbook.write_text('- hosts: localhost\n  gather_facts: false\n  roles: [{role: %s}]\n' % role)
    env = ansible_env({'ANSIBLE_COLLECTIONS_PATH': os.path.join(ROOT, '.collections') + os.pathsep
                       + os.path.dirname(collections)})
    env.pop('ANSIBLE_CALLBACKS_ENABLED', None)
    try:
        proc = subprocess.run(['ansible-playbook', '-i', 'localhost,', '-c', 'local', '-e',
                               'ansible_python_interpreter=' + env['PATH'].split(os.pathsep)[0] + '/python',
                               '-e', 'test_executable=' + wrapper, str(playbook)],
                              env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
        assert 'failed=0' in proc.stdout
    finally:
        subprocess.run([wrapper, 'rm', '-af', '-t', '0'], env=ansible_env(), capture_output=True, check=False)
        subprocess.run([wrapper, 'system', 'reset', '-f'], env=ansible_env(), capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)
