"""Read what docs/*.md tell a user to do, so tests follow the docs instead of retyping them.

A step is a fenced block right after an HTML comment ``<!-- MARKER: step N -->`` (invisible
on GitHub and Galaxy): ``first-env`` in docs/first-environment.md, ``installed`` in the
README; its text is run as documented. ``<!-- MARKER: step N, not run by the test: WHY -->``
marks a step the test cannot run as written, and says why.
"""

from __future__ import annotations

import os
import re

from harness import ROOT


def read(name):
    """docs/<name>, or <name> at the root when it has a slash or is the README."""
    path = name if name == 'README.md' or '/' in name else os.path.join('docs', name)
    with open(os.path.join(ROOT, path)) as handle:
        return handle.read()


def steps(name, marker='first-env'):
    """{N: (language, text)} of every marked block of ``name`` (as for read()), N from 1 without gaps."""
    pattern = re.compile(r'^<!-- %s: step (\d+)(?:, [^>]*)? -->\n```(\w*)\n(.*?)^```$' % re.escape(marker), re.M | re.S)
    found = {}
    for match in pattern.finditer(read(name)):
        number = int(match.group(1))
        assert number not in found, '%s: step %d is marked twice' % (name, number)
        found[number] = (match.group(2), match.group(3))
    assert found, '%s: no block marked <!-- %s: step N -->' % (name, marker)
    assert sorted(found) == list(range(1, len(found) + 1)), '%s: steps %s are not 1..N' % (name, sorted(found))
    return found


def table_after(name, heading_start):
    """Rows (lists of cells) of the first Markdown table after the line starting with ``heading_start``."""
    lines = read(name).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading_start))
    rows = []
    for line in lines[start + 1:]:
        if line.startswith('|'):
            rows.append([cell.strip() for cell in line.strip('|').split('|')])
        elif rows:
            break
    return rows[2:]  # without the header and its --- line


def code_names(cell):
    """The `backticked` names of a table cell."""
    return re.findall(r'`([^`]+)`', cell)
