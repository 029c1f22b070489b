"""``pam-auth-update --package`` on a fresh install: /etc/pam.d/common-* from libpam-runtime's
templates and the ``/usr/share/pam-configs`` profiles (spec debian-and-rootfs.md §4, PAM row).

A port of the parts of libpam-runtime's ``pam-auth-update`` (trixie) that a first install runs:
- profiles are parsed as ``parse_pam_profile`` does (``Field: value`` plus continuation lines with
  their outer whitespace stripped; ``Session-noninteractive*`` copied from ``Session*`` unless
  ``Session-Interactive-Only: yes``);
- enabled = every profile with ``Default: yes``, sorted by Priority descending, then name descending;
- ``create_from_template``: the template's "Primary" and "Additional" blocks are filled with the
  lines of the enabled profiles of that type, the first module of each block using its
  ``<Type>-Initial`` lines; ``success=end`` becomes the number of lines still to come (minus one in
  the Additional block); with no Primary module a stock ``[default=1] pam_permit.so`` line keeps the
  stack intact. ``merge_one_line`` rejoins the options with single spaces after the module path
  (which leaves a trailing space on a line without options, as the real tool does).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .tree import Kind, Tree

TYPES = ("auth", "account", "password", "session", "session-noninteractive")
PRIMARY_MARK = '# here are the per-package modules (the "Primary" block)'
FALLBACK_MARK = "# here's the fallback if no module succeeds"
ADDITIONAL_MARK = '# and here are more per-package modules (the "Additional" block)'
END_MARK = "# end of pam-auth-update config"
_FIELD = re.compile(r"^(\S+):\s+(.*?)\s*$", re.S)
_LINE = re.compile(r"^((\[[^]]+\]|\w+)\s+\S+)\s*(.*)")
_INVALID_MODULES = ("pam_tally",)


def parse_profile(text: str) -> dict[str, str]:
    profile: dict[str, str] = {}
    field = ""
    for raw in text.splitlines(keepends=True):
        m = _FIELD.match(raw)
        if m:
            field = m.group(1).removesuffix("-Final")
            profile[field] = m.group(2)
            continue
        line = raw.strip()
        if line:
            profile[field] = profile.get(field, "") + "\n" + line
        if any(bad in profile.get(field, "") for bad in _INVALID_MODULES):
            profile["disabled"] = "1"
        profile[field] = profile.get(field, "").lstrip("\n \t")
    if profile.get("Session-Interactive-Only") != "yes":
        for suffix in ("-Type", "", "-Initial"):
            if f"Session{suffix}" in profile:
                profile[f"Session-noninteractive{suffix}"] = profile[f"Session{suffix}"]
    return profile


def enabled_profiles(profiles: Mapping[str, dict[str, str]]) -> list[str]:
    names = [n for n, p in profiles.items() if p.get("Default") == "yes" and "disabled" not in p]
    # perl: sort { $b->{Priority} <=> $a->{Priority} || $b cmp $a }
    return sorted(names, key=lambda n: (-int(profiles[n].get("Priority", "0") or 0), _Desc(n)))


class _Desc(str):
    """A string that sorts in reverse (perl's ``$b cmp $a`` as the tie-break)."""

    __slots__ = ()

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)


def _merge_one_line(line: str, count: int) -> str:
    m = _LINE.match(line)
    if m is None:
        return line + "\n"
    modline = m.group(1).replace("end", str(count))
    opts = m.group(3).split()
    return modline + " " + " ".join(opts) + "\n"


def render(template: str, profiles: Mapping[str, dict[str, str]], enabled: list[str], pam_type: str) -> str:
    uctype = pam_type[0].upper() + pam_type[1:]
    short = pam_type.removesuffix("-noninteractive")
    out: list[str] = []
    state = 0
    for line in template.splitlines(keepends=True):
        if state == 1:
            if line.startswith(FALLBACK_MARK):
                out.append(line)
                state += 1
            continue
        if state == 3:
            if line.startswith(END_MARK):
                out.append(line)
                state += 1
            continue
        out.append(line)
        if state == 0 and line.startswith(PRIMARY_MARK):
            block = "Primary"
        elif state == 2 and line.startswith(ADDITIONAL_MARK):
            block = "Additional"
        else:
            continue
        mods = [m for m in enabled if profiles[m].get(f"{uctype}-Type") == block]

        def lines_of(pos: int, mod: str) -> list[str]:
            initial = profiles[mod].get(f"{uctype}-Initial")
            text = initial if pos == 0 and initial else profiles[mod].get(uctype, "")
            return [ln for ln in re.split(r"\n+", text) if ln]

        count = sum(len(lines_of(i, m)) for i, m in enumerate(mods))
        if block == "Additional":
            count -= 1
        if block == "Primary" and count == 0:
            out.append(f"{short}\t[default=1]\t\t\tpam_permit.so\n")
        for i, mod in enumerate(mods):
            for ln in lines_of(i, mod):
                out.append(f"{short}\t{_merge_one_line(ln, count)}")
                count -= 1
        state += 1
    return "".join(out)


def pam_auth_update(tree: Tree, *, epoch: int) -> list[str]:
    """Write /etc/pam.d/common-* when libpam-runtime is in the image; return the files written."""
    written: list[str] = []
    profiles = {}
    for name in tree.listdir("usr/share/pam-configs"):
        entry = tree.get(f"usr/share/pam-configs/{name}")
        if entry is not None and entry.kind is Kind.FILE:
            profiles[name] = parse_profile(entry.data.decode("utf-8", "replace"))
    enabled = enabled_profiles(profiles)
    for pam_type in TYPES:
        template = tree.get(f"usr/share/pam/common-{pam_type}")
        dest = f"etc/pam.d/common-{pam_type}"
        if template is None or dest in tree:
            continue
        tree.write(dest, render(template.data.decode(), profiles, enabled, pam_type).encode(), mtime=epoch)
        written.append(dest)
    return written
