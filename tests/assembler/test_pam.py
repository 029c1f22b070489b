"""pam-auth-update's fresh-install output, on the real trixie template shapes."""

from __future__ import annotations

from assembler.pam import enabled_profiles, parse_profile, render

TEMPLATE = """#
# /etc/pam.d/common-auth - authentication settings common to all services
# here are the per-package modules (the "Primary" block)
$auth_primary
# here's the fallback if no module succeeds
auth\trequisite\t\t\tpam_deny.so
auth\trequired\t\t\tpam_permit.so
# and here are more per-package modules (the "Additional" block)
$auth_additional
# end of pam-auth-update config
"""

UNIX = """Name: Unix authentication
Default: yes
Priority: 256
Auth-Type: Primary
Auth:
\t[success=end default=ignore]\tpam_unix.so nullok try_first_pass
Auth-Initial:
\t[success=end default=ignore]\tpam_unix.so nullok
Session-Type: Additional
Session:
\trequired\tpam_unix.so
"""

SSS = """Name: SSS
Default: yes
Priority: 128
Auth-Type: Primary
Auth:
\t[success=end new_authtok_reqd=done default=ignore]\tpam_sss.so use_first_pass
"""

MKHOME = """Name: Create home directory on login
Default: no
Priority: 0
Session-Type: Additional
Session-Interactive-Only: yes
Session:
\toptional\t\t\tpam_mkhomedir.so
"""


def test_jumps_initial_lines_and_order() -> None:
    profiles = {"unix": parse_profile(UNIX), "sss": parse_profile(SSS), "mkhomedir": parse_profile(MKHOME)}
    enabled = enabled_profiles(profiles)
    assert enabled == ["unix", "sss"]  # by priority; mkhomedir is Default: no
    lines = [ln for ln in render(TEMPLATE, profiles, enabled, "auth").splitlines() if ln.startswith("auth")]
    assert lines == [
        "auth\t[success=2 default=ignore]\tpam_unix.so nullok",  # the first module uses Auth-Initial
        "auth\t[success=1 new_authtok_reqd=done default=ignore]\tpam_sss.so use_first_pass",
        "auth\trequisite\t\t\tpam_deny.so",
        "auth\trequired\t\t\tpam_permit.so",
    ]


def test_no_primary_module_keeps_the_stack() -> None:
    profiles = {"mkhomedir": parse_profile(MKHOME)}
    out = render(TEMPLATE, profiles, enabled_profiles(profiles), "auth")
    assert "auth\t[default=1]\t\t\tpam_permit.so\n" in out
    assert "$auth_primary" not in out and "$auth_additional" not in out


def test_noninteractive_session_and_trailing_space() -> None:
    profiles = {"unix": parse_profile(UNIX), "mkhomedir": parse_profile(MKHOME.replace("Default: no", "Default: yes"))}
    template = TEMPLATE.replace("auth", "session")
    enabled = enabled_profiles(profiles)
    interactive = render(template, profiles, enabled, "session")
    assert "session\trequired\tpam_unix.so \n" in interactive  # merge_one_line's trailing space
    assert "pam_mkhomedir.so" in interactive
    assert "pam_mkhomedir.so" not in render(template, profiles, enabled, "session-noninteractive")
