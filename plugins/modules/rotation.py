# -*- coding: utf-8 -*-
# Copyright (c) turnkey.secrets contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: rotation
short_description: One step of the rotation engine behind rotate.yml and deploy.yml (internal)
version_added: 0.2.0
description:
  - The controller side of the C(turnkey.secrets.rotation) role. Each step reads the
    environment's encrypted vault and its rotation journal afresh, makes one journal
    transition in one atomic write, and returns what the next plays need.
  - Internal to the role and the playbooks; its options may change between releases.
    Use C(playbooks/rotate.yml) and C(playbooks/deploy.yml) instead.
  - V(plan) validates the whole catalogue (every kind's options), every consumer host's
    C(turnkey_env_files) and C(turnkey_podman_secrets), and new DingTalk pairs, before it
    takes the environment lock and before anything changes; it then stores the new
    values as pending in the journal.
  - Runs on the controller (action plugin); this file only documents it.
author: Turnkey Secrets Maintainers (@turnkey-secrets)
options:
  step:
    description: The step to run.
    type: str
    required: true
    choices: [recover, plan, git, promote, deployed, finish, vault_done, release, migrate]
  environment:
    description: Environment name, for messages and the lock.
    type: str
  vault_file:
    description: The environment's encrypted vault file (values and journal).
    type: path
  rotation_file:
    description: The environment's rotation dates (C(rotation.yml)).
    type: path
  lock_file:
    description: The environment lock.
    type: path
  vault_password_file:
    description:
      - Vault password file or client script; without it the vault secrets
        C(ansible-playbook) was given are used.
    type: path
  vault_format:
    description: Format of a vault file the engine creates (V(file) or V(inline)); an existing file keeps its own.
    type: str
  git:
    description: The V(git) step's write-back target, C(turnkey_git) (C(remote), C(branch), C(path)).
    type: dict
  git_stage:
    description: The V(git) step's stage, V(create) (pending values) or V(finish), for the commit message.
    type: str
  git_base:
    description: The V(git) step's accepted remote contents, path to sha256, as the V(plan) and first V(git) steps returned.
    type: list
    elements: dict
  vault_id:
    description: Vault-id label of the environment.
    type: str
  store:
    description:
      - The environment's C(turnkey_store). Empty or O(store.backend=vault_file) keeps values and journal in O(vault_file).
      - With O(store.backend=openbao), every value, the journal, the dates and the lock live in a KV version 2 mount of
        OpenBao or HashiCorp Vault; the token comes from E(VAULT_TOKEN), E(BAO_TOKEN) or a token file, never from
        an option. See docs/openbao.md for all keys (url or urls, mount, prefix, auth_method, token_file, role_id,
        secret_id_file, ca_cert, validate_certs, namespace, timeout, retry_seconds, lock_ttl).
    type: dict
    suboptions:
      backend:
        description: The store.
        type: str
        choices: [vault_file, openbao]
        default: vault_file
  catalogue:
    description: The environment's C(turnkey_secrets).
    type: dict
  consumers:
    description: Consumer entries per host, as returned by the V(plan) step.
    type: dict
  mode:
    description: V(rotate) replaces due values; V(deploy) applies the current ones and generates missing ones.
    type: str
    choices: [rotate, deploy]
    default: rotate
  force:
    description: Rotate every selected secret whatever its age.
    type: bool
    default: false
  break_lock:
    description: Break a lock held on another host (only when that run is known dead).
    type: bool
    default: false
  dingtalk_new:
    description: "New DingTalk pairs, C({<secret name>: {url, secret}})."
    type: dict
  dingtalk_new_url:
    description: The new webhook URL when the environment has one DingTalk robot.
    type: str
  dingtalk_new_secret:
    description: The new signing secret when the environment has one DingTalk robot.
    type: str
  consumer_group:
    description: Inventory group of the consumer hosts.
    type: str
    default: app
  names:
    description: With V(vault_done), the vault password secrets to date; with V(git), the secret names of the commit message.
    type: list
    elements: str
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: V(plan) reports what would rotate and checks the lock is free; nothing is written.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: The service and consumer modules show the diffs.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
    details: Runs on the controller.
'''

EXAMPLES = r'''
# Internal: see roles/rotation/tasks/begin.yml.
- name: Plan, validate, lock and create
  turnkey.secrets.rotation:
    step: plan
    environment: staging
    vault_file: "{{ inventory_dir }}/group_vars/all/vault.yml"
    rotation_file: "{{ inventory_dir }}/group_vars/all/rotation.yml"
    lock_file: "{{ inventory_dir }}/.rotate.lock"
    catalogue: "{{ turnkey_secrets }}"
  register: plan
  no_log: true
'''

RETURN = r'''
work:
  description: With V(plan), whether anything is due or in flight.
  returned: step plan
  type: bool
report:
  description: With V(plan), the plan in words (names and reasons, never values).
  returned: step plan
  type: str
batches:
  description: Service steps to run, per inventory group (values included; no_log).
  returned: steps plan and deployed
  type: dict
hosts:
  description:
    - With V(plan), the inventory hosts the later plays have work for (C(services), C(retire);
      empty without work); the plays of C(rotate.yml) target only these and the controller.
  returned: step plan
  type: dict
promoted:
  description: Secrets whose new value became current.
  returned: step promote
  type: list
  elements: str
dated:
  description: Secrets dated in rotation.yml and removed from the journal (not C(finished), which ansible-core reserves for async results).
  returned: step finish
  type: list
  elements: str
waiting:
  description: Consumer hosts that still need the current values.
  returned: steps deployed and finish
  type: list
  elements: str
'''
