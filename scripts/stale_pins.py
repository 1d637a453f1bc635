#!/usr/bin/env python3
"""Prints each pinned requirement (NAME[EXTRAS]==VERSION) that this Python's environment does not
meet: the distribution is missing or at another version, or a dependency of a named extra is
missing. scripts/lib.sh installs what it prints.

usage: stale_pins.py REQUIREMENT...
"""
import re
import sys
from importlib import metadata


def met(req):
    m = re.fullmatch(r"([A-Za-z0-9._-]+)(?:\[([^\]]+)\])?==(\S+)", req)
    if not m:
        sys.exit(f"stale_pins.py: not NAME[EXTRAS]==VERSION: {req}")
    name, extras, version = m.group(1), [e for e in (m.group(2) or "").split(",") if e], m.group(3)
    try:
        if metadata.version(name) != version:
            return False
        for dep in metadata.requires(name) or []:
            if any(re.search(rf"extra\s*==\s*[\"']{re.escape(e)}[\"']", dep) for e in extras):
                metadata.version(re.match(r"[A-Za-z0-9._-]+", dep).group(0))
    except metadata.PackageNotFoundError:
        return False
    return True


for req in sys.argv[1:]:
    if not met(req):
        print(req)
