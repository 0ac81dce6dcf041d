# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: audit_scan
short_description: Find secrets where they must not be, in a project tree, its git history, an inventory and on hosts
version_added: 0.1.0
description:
  - Read-only compliance checks behind C(playbooks/audit.yml) and the C(turnkey.secrets.audit) role.
  - In the project tree (O(path)) and, with O(git_history), in every commit of its git history, finds DingTalk
    robot secrets (C(SEC) + 64 hex), webhook URLs with an C(access_token), private keys, URLs with embedded
    passwords and hardcoded credentials (C(password = "..."), C(DB_PASSWORD=...)); secret files tracked by git
    (C(.env), C(.htpasswd), C(*.gpg), ...) now or in the past; and whether C(.gitignore) ignores such files.
  - In the inventory (O(inventory)), finds variables named like credentials (C(*password*), C(*secret*),
    C(*token*), C(*key*)) with plaintext values, vault files that are not encrypted, and vault blobs (whole files
    or inline C(!vault) values) encrypted with another vault-id label than O(vault_id).
  - Vault password files inside the tree or the inventory are reported, and every vault password file found or
    listed in O(vault_password_files) must be mode 0600 or narrower.
  - Secrets past their C(max_age_days) in O(rotation) (C(turnkey_rotation)) are reported as overdue.
  - On a host, O(files) checks the mode (at most), owner and group of its secret files.
  - A finding names the rule, severity, file, line or commit, and a redacted excerpt that never contains any part
    of the secret value. The module never fails because of findings; the role decides what fails the play.
author: Turnkey Secrets Maintainers (@turnkey-secrets)
options:
  path:
    description:
      - Project tree to scan. Defaults to the first O(inventory) directory.
      - When it lies in a git work tree and O(git_toplevel=true), the whole work tree is scanned, listing files with
        C(git ls-files) (tracked and untracked files, not ignored ones); otherwise every file under it is read.
      - Without O(path) and O(inventory) no tree is scanned (host checks only).
    type: path
  git_toplevel:
    description: Widen O(path) to the top of the git work tree holding it; git checks need the top of a work tree.
    type: bool
    default: true
  git_history:
    description:
      - Also scan every line added by any commit on any ref (C(git log --all -p)) and report secret files that
        were ever committed. Secrets still present in the tree are reported once, for the tree.
    type: bool
    default: false
  inventory:
    description:
      - Inventory directories (or inventory files, meaning their directory) checked for plaintext secrets, vault
        files that are not encrypted and wrong vault-id labels. Usually C(ansible_inventory_sources).
      - Sources that are not paths on this host (such as C(host1,host2,)) are skipped with a warning.
    type: list
    elements: path
    default: []
  vault_id:
    description:
      - The vault-id label every vault blob of O(inventory) must carry (C(turnkey_vault_id) or the environment
        name). Empty to skip the label check.
    type: str
  vault_password_files:
    description:
      - Vault password files outside the tree to check for a mode of 0600 or narrower (such as
        C(~/.vault_pass_production)). Missing files are skipped.
    type: list
    elements: path
    default: []
  rotation:
    description:
      - The rotation table C(turnkey_rotation) (secret name to C(rotated_at), C(max_age_days)); secrets past their
        age are reported as C(secret-overdue), those without C(rotated_at) as C(secret-never-rotated).
    type: dict
  rotation_path:
    description: File the rotation table comes from, used as the path of rotation findings.
    type: path
  audit_log:
    description:
      - The environment's audit log (JSON lines that C(rotate.yml) and C(deploy.yml) append, see
        C(docs/rotation-runbook.md)). Secrets of O(rotation) that no logged run rotated within their
        C(max_age_days) are C(rotation-not-logged) (only once the log reaches back that far), failed rotations
        no success followed C(rotation-failed), a log readable by others C(audit-log-mode). A missing log is not checked.
      - With O(report), the action plugin appends this audit's own line to it (not in check mode).
    type: path
  files:
    description:
      - Secret files on the host this module runs on. Missing files are reported (C(secret-file-missing)) unless
        the path is a glob pattern.
    type: list
    elements: dict
    default: []
    suboptions:
      backups:
        description:
          - Also check the backups of the file - those this collection and C(backup=true) of ansible modules write
            (C(PATH.PID.DATE~)) and C(PATH~), C(PATH.bak), C(PATH.old), C(PATH.orig), C(PATH.save). A backup may
            be as wide as O(files[].mode) or 0600 (the collection writes backups 0600), with the same owner and group.
        type: bool
        default: false
      encrypted_backups:
        description:
          - The file is backed up encrypted (C(backup_encrypt) of M(turnkey.secrets.env_file)), so every plaintext
            backup beside it (the names of O(files[].backups)) is a finding, C(plaintext-backup).
          - Set for each C(turnkey_env_files) entry with C(backup_encrypt) when O(catalogue=true).
        type: bool
        default: false
        version_added: 0.3.0
      source:
        description: Where the file is declared (such as V(turnkey_secrets.dashboard_password)), named in findings.
        type: str
      path:
        description: Path or glob pattern of the file(s).
        type: path
        required: true
      mode:
        description:
          - The widest mode allowed, as an octal string such as V('0640'); bits beyond it are a finding
            (C(critical) when others get access, C(high) for group access). Quote it in YAML.
        type: raw
        default: '0600'
      owner:
        description: Expected owner (name or uid).
        type: str
      group:
        description: Expected group (name or gid).
        type: str
  allow:
    description:
      - Accepted findings. A finding matching an entry is still reported, marked C(allowed) with the reason, and
        never counts towards failure. Matching uses shell-style patterns.
    type: list
    elements: dict
    default: []
    suboptions:
      rule:
        description: Rule id or pattern (such as V(vault-password-in-tree) or V(*)).
        type: str
      path:
        description: Path pattern, relative to the tree root for files inside it, else absolute.
        type: str
      host:
        description: Host pattern (findings of O(files) carry the host name given in O(host)).
        type: str
      reason:
        description: Why it is accepted; shown in the report.
        type: str
  host:
    description: Name recorded in every finding, normally C(inventory_hostname).
    type: str
  catalogue:
    description:
      - Also check the files the environment already declares for this host, read on the controller (by the action
        plugin) from its variables, with their backups (see O(files[].backups)) - the file of every
        C(turnkey_secrets) entry of a kind that has one (C(htpasswd) - O(files[].path), O(files[].mode),
        O(files[].owner), O(files[].group) from the entry, the kind's default mode else) when the host is in the
        kind's group (C(web)), and every C(turnkey_env_files) entry (default mode 0600) when the host is in
        O(consumer_group).
      - When neither this nor O(files), O(path), O(inventory) or O(report) gives anything to check, the task is
        skipped without connecting to the host.
    type: bool
    default: false
  consumer_group:
    description: Group whose hosts the rotation deploys C(turnkey_env_files) to (see O(catalogue)).
    type: str
    default: app
  report:
    description:
      - Build the whole audit's report - this scan's findings and those of O(host_results), reviewed findings of
        O(baseline) marked allowed - and return it as RV(report), the lines to print as RV(lines) and
        RV(allowed_lines), and with O(report_format=sarif) as RV(sarif).
    type: bool
    default: false
  host_results:
    description:
      - With O(report), the registered results of this module on each host (host name to result). A host whose
        result has no findings and was not skipped (unreachable, or its check failed) is listed in
        C(unaudited_hosts) of RV(report).
    type: dict
    default: {}
  fail_on:
    description: With O(report), the lowest severity that makes C(passed) of RV(report) false when not allowed.
    type: str
    choices: [critical, high, medium, low, never]
    default: critical
  environment:
    description: With O(report), the environment's name, recorded in the report.
    type: str
  baseline:
    description:
      - With O(report), a baseline file (JSON, as RV(baseline)) listing reviewed findings by fingerprint; those
        still found are marked allowed (C(allow_reason) C(baseline - <reason>)). A missing file is an empty baseline.
    type: path
  write_baseline:
    description:
      - With O(report), accept every finding not allowed otherwise and return the new baseline as RV(baseline)
        (reasons of entries kept from O(baseline)); the role writes it to O(baseline). Nothing is written by the
        module.
    type: bool
    default: false
  report_format:
    description: With O(report), also return the report as a SARIF 2.1.0 log (RV(sarif)).
    type: str
    choices: [json, sarif]
    default: json
  report_path:
    description: With O(report), where the report will be written, named in its summary line.
    type: str
  exclude:
    description:
      - Extra shell-style patterns of paths (or path components) not to scan, added to the built-in
        C(.git), C(.venv), C(venv), C(node_modules), C(.tox), C(__pycache__), C(.collections) and tool caches.
    type: list
    elements: str
    default: []
  secret_file_patterns:
    description: Names of files that hold secrets and must never be committed.
    type: list
    elements: str
    default: ['.env', '.env.*', '*.env', '.htpasswd', 'htpasswd', '*.htpasswd', '*.gpg']
  vault_password_patterns:
    description: Names of vault password files.
    type: list
    elements: str
    default: ['.vault_pass*', '.vault-pass*', '.vault_password*', 'vault_pass', 'vault_pass.txt', 'vault-pass.txt',
              '*.vault_pass']
  gitignore_required:
    description:
      - Example file names C(.gitignore) must ignore, checked with C(git check-ignore) at the top level and in a
        sub-directory.
    type: list
    elements: str
    default: ['.env', '.env.production', '.htpasswd', 'backup.gpg', '.vault_pass', '.vault_pass_production']
  max_file_size:
    description: Files larger than this many bytes are not read (binary files never are).
    type: int
    default: 1048576
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
    details: The action plugin reads O(catalogue) from the host's variables on the controller.
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Rules and severities - C(dingtalk-secret), C(access-token-url), C(private-key), C(secret-file-committed),
    C(secret-file-in-history), C(inventory-clear-secret), C(vault-not-encrypted), C(vault-inline-plaintext) are critical;
    C(vault-password-in-tree) and C(vault-password-mode) are critical (committed, or readable by every user)
    or high; C(secret-file-mode) is critical when others get access, else high; C(password-assignment),
    C(url-credentials), C(gitignore-missing), C(vault-wrong-label), C(secret-file-owner), C(secret-overdue),
    C(literal-secret-in-task) are high; C(secret-never-rotated) is medium; C(plaintext-backup) is high; C(secret-file-missing) is low;
    C(vault-password-in-history) (a vault password file committed once and removed since) is critical.
  - This collection's own C(tests/), C(molecule/) and C(inventory/demo/) are left out of the tree wherever a copy
    of it lies there (its checkout, or vendored under C(collections/ansible_collections/turnkey/secrets)); the
    demo is audited when it is one of O(inventory).
  - C(literal-secret-in-task) flags a literal (non-templated) value of a secret option (C(password),
    C(login_password), C(secret), C(token), the C(data) of M(turnkey.secrets.podman_secret), the values of
    M(turnkey.secrets.env_file) named like secrets, a URL with C(access_token=) ...) in a task of a playbook
    or role of the tree, with its file and line. ansible-core prints the source lines of a failing task, so
    such a value leaks whatever C(no_log) says. It replaces the C(password-assignment) finding of that line.
  - Credential assignments are found by heuristics. Values shorter than 6 characters or with whitespace,
    templating (C({{ }}), C(${})), environment lookups, paths, variable names and common placeholders are
    not reported.
'''

EXAMPLES = r'''
- name: Audit the repository holding the inventory, with its git history
  turnkey.secrets.audit_scan:
    inventory: "{{ ansible_inventory_sources }}"
    vault_id: production
    git_history: true
    rotation: "{{ turnkey_rotation }}"
    allow:
      - path: inventory/demo/.vault_pass_demo
        rule: vault-password-in-tree
        reason: demo-only password, documented in inventory/demo/README.md
  delegate_to: localhost
  run_once: true
  register: audit

- name: Check the secret files of a host
  turnkey.secrets.audit_scan:
    host: "{{ inventory_hostname }}"
    files:
      - {path: /opt/dashboard/.env, mode: '0640', owner: root, group: dashboard}
      - {path: /etc/nginx/.htpasswd, mode: '0640', owner: root}
      - {path: '/opt/dashboard/.env.*', mode: '0600'}
  register: host_audit

- name: Fail on critical findings
  ansible.builtin.assert:
    that: audit.summary.critical == 0
    fail_msg: "{{ audit.findings | rejectattr('allowed') | map(attribute='text') | list }}"
'''

RETURN = r'''
findings:
  description: Every finding, most severe first. None holds any part of a secret value.
  returned: always
  type: list
  elements: dict
  contains:
    rule:
      description: Rule id (see the notes).
      type: str
      sample: dingtalk-secret
    severity:
      description: One of C(critical), C(high), C(medium), C(low), C(info).
      type: str
      sample: critical
    path:
      description: File, relative to the tree root when inside it; the rotation file for rotation findings.
      type: str
      sample: app/settings.py
    line:
      description: Line number, when known.
      type: int
      sample: 12
    commit:
      description: Commit that added the line or file, for findings from the git history.
      type: str
    host:
      description: The O(host) name.
      type: str
    excerpt:
      description: Redacted excerpt, such as C(SEC…) or C(DB_PASSWORD=…).
      type: str
      sample: SEC…
    message:
      description: What is wrong and how to fix it.
      type: str
    allowed:
      description: Whether an O(allow) entry (or, in RV(report), the baseline) accepts it.
      type: bool
    fingerprint:
      description:
        - Stable id of the finding - a digest of its rule, path, host, commit and what tells it apart in the file
          (the variable name or the redacted excerpt), never of a value nor of the line number, so it survives lines
          moving. Baselines and SARIF C(partialFingerprints) use it.
      type: str
    allow_reason:
      description: The reason of the matching O(allow) entry.
      type: str
      returned: when allowed
    text:
      description: The finding as one line of a readable report.
      type: str
      sample: "CRITICAL dingtalk-secret app/settings.py:12: DingTalk robot signing secret (SEC + 64 hex) in clear [SEC…]"
summary:
  description: Number of findings per severity (allowed ones not counted), and the number of allowed ones.
  returned: always
  type: dict
  sample: {critical: 1, high: 2, medium: 0, low: 0, info: 0, allowed: 1}
scanned:
  description: How much was read.
  returned: always
  type: dict
  sample: {files: 120, commits: 35, inventory_files: 4, host_files: 2}
root:
  description: The tree that was scanned (the git top level when O(git_toplevel) widened it).
  returned: always
  type: str
  sample: /srv/ops
host:
  description: The O(host) name.
  returned: always
  type: str
not_scanned:
  description: Directories of this collection's own tests, molecule scenarios and demo inventory left out of the tree.
  returned: always
  type: list
  elements: str
  sample: [collections/ansible_collections/turnkey/secrets/tests]
report:
  description:
    - The whole audit (O(report=true)) - C(environment), C(tree), C(fail_on), C(passed), C(failing) (findings at or
      above O(fail_on) not allowed), C(summary), C(scanned), C(not_scanned), C(unaudited_hosts) and C(findings)
      (allowed ones included).
  returned: when O(report=true)
  type: dict
lines:
  description: The report as text - findings not allowed, hosts not audited and a summary line.
  returned: when O(report=true)
  type: list
  elements: str
allowed_lines:
  description: The allowed findings as text (the role prints them at C(-v)).
  returned: when O(report=true)
  type: list
  elements: str
sarif:
  description: RV(report) as a SARIF 2.1.0 log; allowed findings are results with a C(suppressions) entry.
  returned: when O(report=true) and O(report_format=sarif)
  type: dict
baseline:
  description: The baseline accepting every finding not allowed by O(allow) (O(write_baseline=true)).
  returned: when O(report=true) and O(write_baseline=true)
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.turnkey.secrets.plugins.module_utils import _audit
from ansible_collections.turnkey.secrets.plugins.module_utils._common import run_module


def work(module):
    result = _audit.audit(module.params)
    for warning in result.pop('warnings_list'):
        module.warn(warning)
    result['changed'] = False
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path'),
            git_toplevel=dict(type='bool', default=True),
            git_history=dict(type='bool', default=False),
            inventory=dict(type='list', elements='path', default=[]),
            vault_id=dict(type='str'),
            vault_password_files=dict(type='list', elements='path', default=[], no_log=False),
            rotation=dict(type='dict'),
            rotation_path=dict(type='path'),
            audit_log=dict(type='path'),
            files=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='path', required=True),
                mode=dict(type='raw', default='0600'),
                owner=dict(type='str'),
                group=dict(type='str'),
                backups=dict(type='bool', default=False),
                encrypted_backups=dict(type='bool', default=False),
                source=dict(type='str'),
            )),
            allow=dict(type='list', elements='dict', default=[], options=dict(
                rule=dict(type='str'),
                path=dict(type='str'),
                host=dict(type='str'),
                reason=dict(type='str'),
            )),
            host=dict(type='str'),
            exclude=dict(type='list', elements='str', default=[]),
            secret_file_patterns=dict(type='list', elements='str', default=list(_audit.DEFAULT_SECRET_FILES), no_log=False),
            vault_password_patterns=dict(type='list', elements='str', default=list(_audit.DEFAULT_VAULT_PASSWORD_FILES),
                                         no_log=False),
            gitignore_required=dict(type='list', elements='str', default=list(_audit.DEFAULT_GITIGNORE_REQUIRED)),
            max_file_size=dict(type='int', default=1048576),
            catalogue=dict(type='bool', default=False),
            consumer_group=dict(type='str', default='app'),
            report=dict(type='bool', default=False),
            host_results=dict(type='dict', default={}),
            fail_on=dict(type='str', default='critical', choices=['critical', 'high', 'medium', 'low', 'never']),
            environment=dict(type='str'),
            baseline=dict(type='path'),
            write_baseline=dict(type='bool', default=False),
            report_format=dict(type='str', default='json', choices=['json', 'sarif']),
            report_path=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    run_module(module, work)


if __name__ == '__main__':
    main()
