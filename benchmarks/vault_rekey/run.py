"""Rekey a tree of 50 vault files and 200 inline values: time against the PBKDF2 floor and the CLI.

Every blob has its own salt, so a rekey cannot do better than one PBKDF2 derivation
(10000 x SHA-256, what ansible-vault uses) to open each blob and one to seal it.  This
measures, in the same run and on the same machine:

* the floor: 2 x (number of blobs) derivations, one after the other (and spread over the
  cores, for reference);
* turnkey.secrets.vault_rekey's engine on the tree (best of --repeat runs), then the whole
  task inside ansible-playbook;
* the peer way for inline values: ``ansible-vault encrypt_string`` once per value (timed on
  --sample values, scaled to all of them; decrypting them first is not even counted),
  and ``ansible-vault rekey`` for the whole files.

Prints the ratios; exits 1 if the engine is slower than --max-floor-ratio x the serial floor.

    python benchmarks/vault_rekey/run.py [--files 50] [--inline 200] [--repeat 3] [--sample 5]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, 'tests', 'integration'), os.path.join(ROOT, '.collections')]

from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC  # noqa: E402
from harness import ansible_env, new_secret, run_playbook  # noqa: E402

from ansible_collections.turnkey.secrets.plugins.module_utils import _vault  # noqa: E402
from ansible_collections.turnkey.secrets.plugins.plugin_utils import _vault_tree  # noqa: E402

BIN = os.path.dirname(sys.executable)
PER_FILE = 20


def build(root, password, files, inline):
    """``files`` whole vault files and ``inline`` values in YAML files of 20, made by VaultLib."""
    lib, secret = VaultLib(), VaultSecret(password.encode())
    for i in range(files):
        write(os.path.join(root, 'whole', 'host_vars', 'host%03d.yml' % i),
              lib.encrypt(('vault_password: %s\n' % new_secret()).encode(), secret, vault_id='bench').decode())
    for start in range(0, inline, PER_FILE):
        lines = ['---', '# %d inline values' % PER_FILE]
        for i in range(start, min(start + PER_FILE, inline)):
            envelope = lib.encrypt(new_secret().encode(), secret, vault_id='bench').decode()
            lines.append('vault_key_%03d: !vault |' % i)
            lines += ['  ' + line for line in envelope.rstrip().split('\n')]
            lines.append('plain_%03d: value  # comment' % i)
        write(os.path.join(root, 'inline', 'group_vars', 'group%02d.yml' % (start // PER_FILE)), '\n'.join(lines) + '\n')


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text)


def derive(salt):
    return PBKDF2HMAC(algorithm=hashes.SHA256(), length=80, salt=salt, iterations=_vault.ITERATIONS).derive(b'benchmark')


def floor(count, repeat):
    salts = [os.urandom(32) for dummy in range(count)]
    serial = best(repeat, lambda: [derive(salt) for salt in salts])
    spread = best(repeat, lambda: _vault.parallel(derive, salts))
    return serial, spread


def best(repeat, function):
    times = []
    for _dummy in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--files', type=int, default=50)
    parser.add_argument('--inline', type=int, default=200)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--sample', type=int, default=5)
    parser.add_argument('--max-floor-ratio', type=float, default=1.25)
    args = parser.parse_args()
    blobs = args.files + args.inline
    passwords = [new_secret(), new_secret()]
    with tempfile.TemporaryDirectory(prefix='turnkey-bench.') as tmp:
        tree = os.path.join(tmp, 'tree')
        build(tree, passwords[0], args.files, args.inline)
        pw_files = []
        for i, password in enumerate(passwords):
            pw_files.append(os.path.join(tmp, 'pass%d' % i))
            write(pw_files[-1], password + '\n')

        serial, spread = floor(2 * blobs, args.repeat)

        # Rekey back and forth so every run does the full work.
        direction = [0]

        def ours():
            old, new = passwords[direction[0]].encode(), passwords[1 - direction[0]].encode()
            result = _vault_tree.rekey_tree([tree], [old], new)
            assert (result['files_rekeyed'], result['inline_rekeyed']) == (args.files, args.inline), result
            direction[0] = 1 - direction[0]
        engine = best(args.repeat, ours)

        # The same through ansible-playbook, timed inside the play (start-up left out).
        task = {'name': 'rekey', 'turnkey.secrets.vault_rekey': {
            'paths': [tree], 'old_vault_password_file': pw_files[direction[0]],
            'new_vault_password_file': pw_files[1 - direction[0]]}}
        stamp = [{'name': name, 'ansible.builtin.set_fact': {name: "{{ now(utc=true, fmt='%s.%f') }}"}} for name in ('t0', 't1')]
        played = run_playbook(os.path.join(tmp, 'play'), tasks=[stamp[0], task, stamp[1]], verbosity=0, diff=False)
        assert played.task('rekey')['changed']
        direction[0] = 1 - direction[0]
        t0 = float(played.task('t0')['result']['ansible_facts']['t0'])
        t1 = float(played.task('t1')['result']['ansible_facts']['t1'])
        in_play = t1 - t0

        # Peer: ansible-vault encrypt_string once per inline value, and rekey for whole files.
        env = ansible_env()
        per_value = best(1, lambda: [subprocess.run(
            [os.path.join(BIN, 'ansible-vault'), 'encrypt_string', '--vault-id', 'bench@' + pw_files[direction[0]],
             '--stdin-name', 'vault_key'], input=new_secret().encode(), env=env, capture_output=True, check=True)
            for dummy in range(args.sample)]) / args.sample
        whole_files = sorted(os.path.join(root, name) for root, _dirs, names in os.walk(os.path.join(tree, 'whole')) for name in names)
        rekey_cli = best(1, lambda: subprocess.run(
            [os.path.join(BIN, 'ansible-vault'), 'rekey', '--vault-id', 'bench@' + pw_files[direction[0]],
             '--new-vault-id', 'bench@' + pw_files[1 - direction[0]]] + whole_files, env=env, capture_output=True, check=True))
        peer = per_value * args.inline + rekey_cli

    print('tree: %d whole files + %d inline values = %d blobs; %d cores' % (args.files, args.inline, blobs, _vault.workers()))
    print('floor, %d PBKDF2 derivations one after the other: %.2f s (spread over the cores: %.2f s)' % (2 * blobs, serial, spread))
    print('vault_rekey engine (best of %d):                  %.2f s' % (args.repeat, engine))
    print('vault_rekey task inside ansible-playbook:         %.2f s' % in_play)
    print('peer: encrypt_string x %d (%.2f s each, %d sampled) + ansible-vault rekey of %d files (%.2f s): %.1f s'
          % (args.inline, per_value, args.sample, args.files, rekey_cli, peer))
    ratio = engine / serial
    print('ratio to the floor: %.2f (target <= %.2f); to the floor spread over the cores: %.2f'
          % (ratio, args.max_floor_ratio, engine / spread))
    print('peer / vault_rekey: %.0fx (engine), %.0fx (task in a play)' % (peer / engine, peer / in_play))
    return 0 if ratio <= args.max_floor_ratio else 1


if __name__ == '__main__':
    sys.exit(main())
