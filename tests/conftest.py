"""Make ``ansible_collections.turnkey.secrets`` importable for every test."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, '.collections')
link = os.path.join(COLLECTIONS, 'ansible_collections', 'turnkey', 'secrets')
if not os.path.exists(link):
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(os.path.relpath(ROOT, os.path.dirname(link)), link)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
