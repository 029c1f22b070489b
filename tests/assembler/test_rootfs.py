from __future__ import annotations

import pytest

from assembler.accounts import configure_accounts
from assembler.alternatives import apply_alternatives, parse_script
from assembler.deb import read_deb
from assembler.errors import TreeError
from assembler.recipe import User
from assembler.rootfs import unpack
from assembler.tree import Kind, Tree
from assembler.units import add_wants, enable, mask

from .debmaker import make_deb


def _pkg(name: str, files: list[dict[str, object]], **kw: object) -> object:
    return read_deb(make_deb(name, files=files, **kw))  # type: ignore[arg-type]


def test_merged_usr_canonicalisation() -> None:
    a = _pkg("a", [{"name": "./bin/", "type": "dir"}, {"name": "./bin/tool", "data": b"T", "mode": 0o755},
                   {"name": "./bin/up", "type": "symlink", "target": "../usr/lib/x"},
                   {"name": "./lib", "type": "symlink", "target": "usr/lib"}])
    tree = unpack([a])  # type: ignore[list-item]
    assert tree["usr/bin/tool"].data == b"T"
    assert tree["bin"].kind is Kind.SYMLINK and tree["bin"].target == "usr/bin"
    assert tree["lib"].target == "usr/lib" and tree["sbin"].target == "usr/sbin"
    # bin/up -> ../usr/lib/x must still reach usr/lib/x from its new home usr/bin
    assert tree["usr/bin/up"].target == "../lib/x"


def test_collisions_and_replaces() -> None:
    one = _pkg("one", [{"name": "./usr/bin/x", "data": b"1"}])
    two = _pkg("two", [{"name": "./usr/bin/x", "data": b"2"}])
    with pytest.raises(TreeError, match="shipped by both one and two"):
        unpack([one, two])  # type: ignore[list-item]
    two_r = _pkg("two", [{"name": "./usr/bin/x", "data": b"2"}], control={"Replaces": "one (<< 2)"})
    assert unpack([one, two_r])["usr/bin/x"].data == b"2"  # type: ignore[list-item]
    two_old = _pkg("two", [{"name": "./usr/bin/x", "data": b"2"}], control={"Replaces": "one (<< 1.0)"})
    with pytest.raises(TreeError, match="shipped by both"):  # one is 1.0: the versioned Replaces does not apply
        unpack([one, two_old])  # type: ignore[list-item]
    same = _pkg("two", [{"name": "./usr/bin/x", "data": b"1"}])
    with pytest.raises(TreeError, match="shipped by both"):  # dpkg refuses identical files too
        unpack([one, same])  # type: ignore[list-item]
    ma = {"Multi-Arch": "same"}
    one_ma = _pkg("one", [{"name": "./usr/share/x", "data": b"1"}], control=ma)
    two_ma = _pkg("two", [{"name": "./usr/share/x", "data": b"1"}], control=ma)
    assert unpack([one_ma, two_ma])["usr/share/x"].data == b"1"  # type: ignore[list-item]


def test_dep17_file_loss_is_refused() -> None:
    p = _pkg("p", [{"name": "./bin/x", "data": b"1"}, {"name": "./usr/bin/x", "data": b"2"}])
    with pytest.raises(TreeError, match="same file under merged /usr"):
        unpack([p])  # type: ignore[list-item]
    a = _pkg("a", [{"name": "./bin/y", "data": b"1"}])
    b = _pkg("b", [{"name": "./usr/bin/y", "data": b"1"}])
    with pytest.raises(TreeError, match=r"/bin/y \(a\) and /usr/bin/y \(b\)"):
        unpack([a, b])  # type: ignore[list-item]


def _base_tree() -> Tree:
    base = _pkg("base-passwd", [
        {"name": "./usr/share/base-passwd/passwd.master",
         "data": b"root:*:0:0:root:/root:/bin/bash\nnobody:*:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
        {"name": "./usr/share/base-passwd/group.master",
         "data": b"root:*:0:\nshadow:*:42:\nutmp:*:43:\nnogroup:*:65534:\n"},
        {"name": "./usr/lib/sysusers.d/basic.conf", "data": b"g adm 4 -\n"},
        {"name": "./usr/lib/sysusers.d/systemd-network.conf",
         "data": b"u! systemd-network - \"systemd Network Management\"\n"},
        {"name": "./usr/lib/sysusers.d/systemd-journal.conf", "data": b"g systemd-journal -\n"},
        {"name": "./usr/lib/sysusers.d/zz.conf", "data": b"m systemd-network adm\n"},
    ])
    return unpack([base])  # type: ignore[list-item]


def test_accounts_are_deterministic() -> None:
    tree = _base_tree()
    acc = configure_accounts(tree, users=[User(name="searcher", uid=1000, shell="/usr/bin/searchersh")], groups=[],
                             epoch=0)
    passwd = tree["etc/passwd"].data.decode().splitlines()
    assert passwd[0] == "root:x:0:0:root:/root:/bin/bash"
    # systemd-journal.conf sorts before systemd-network.conf: gid 999 goes to the journal group,
    # then systemd-network takes 998 for both uid and gid.
    assert acc.gids["systemd-journal"] == 999
    assert acc.uids["systemd-network"] == 998 and acc.gids["systemd-network"] == 998
    assert "searcher:x:1000:1000::/home/searcher:/usr/bin/searchersh" in passwd
    assert tree["etc/shadow"].mode == 0o640 and tree["etc/shadow"].group == "shadow"
    assert "adm:x:4:systemd-network" in tree["etc/group"].data.decode()
    assert tree["home/searcher"].mode == 0o700 and tree["home/searcher"].user == "searcher"
    assert [int(line.split(":")[2]) for line in passwd] == sorted(int(line.split(":")[2]) for line in passwd)


def test_alternatives_highest_priority_and_missing_slaves() -> None:
    tree = Tree()
    tree.write("usr/bin/mawk", b"m", mode=0o755)
    tree.write("usr/bin/gawk", b"g", mode=0o755)
    script = ("update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5 \\\n"
              "  --slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/mawk.1.gz\n")
    cands = parse_script(script, "mawk") + parse_script(
        "update-alternatives --install /usr/bin/awk awk /usr/bin/gawk 10\n", "gawk")
    chosen = apply_alternatives(tree, cands, epoch=0)
    assert chosen == {"awk": "/usr/bin/gawk"}
    assert tree["usr/bin/awk"].target == "/etc/alternatives/awk"
    assert tree["etc/alternatives/awk"].target == "/usr/bin/gawk"
    assert "usr/share/man/man1/awk.1.gz" not in tree  # slave target missing: skipped


def test_units_enable_mask_wants() -> None:
    tree = Tree()
    tree.write("usr/lib/systemd/system/systemd-networkd.service",
               b"[Unit]\nDescription=n\n[Install]\nWantedBy=multi-user.target\nAlias=dbus-org.freedesktop.network1.service\n"
               b"Also=systemd-networkd.socket\n")
    tree.write("usr/lib/systemd/system/systemd-networkd.socket", b"[Install]\nWantedBy=sockets.target\n")
    tree.write("usr/lib/systemd/system/chrony.service", b"[Service]\nExecStart=/usr/sbin/chronyd\n")
    enable(tree, ["systemd-networkd.service"], epoch=0)
    assert tree["etc/systemd/system/multi-user.target.wants/systemd-networkd.service"].target == \
        "/usr/lib/systemd/system/systemd-networkd.service"
    assert tree["etc/systemd/system/dbus-org.freedesktop.network1.service"].kind is Kind.SYMLINK
    assert "etc/systemd/system/sockets.target.wants/systemd-networkd.socket" in tree
    add_wants(tree, "minimal.target", ["chrony.service"], epoch=0)
    assert "etc/systemd/system/minimal.target.wants/chrony.service" in tree
    mask(tree, ["systemd-firstboot.service"], epoch=0)
    assert tree["etc/systemd/system/systemd-firstboot.service"].target == "/dev/null"


def test_mask_unlisted_keeps_the_keep_list() -> None:
    from assembler.tree import Entry
    from assembler.units import mask_unlisted

    tree = Tree()
    for name, pkg in (("systemd-journald.service", "systemd"), ("systemd-logind.service", "systemd"),
                      ("getty@.service", "systemd"), ("udev.service", "udev"), ("basic.target", "systemd"),
                      ("-.slice", "systemd")):
        tree.set(f"usr/lib/systemd/system/{name}", Entry(kind=Kind.FILE, mode=0o644, data=b"[Unit]\n", package=pkg))
    masked = mask_unlisted(tree, ["systemd"], ["systemd-journald*", "basic.target"], epoch=0)
    assert masked == ["getty@.service", "systemd-logind.service"]
    assert tree["etc/systemd/system/getty@.service"].target == "/dev/null"
    assert "etc/systemd/system/udev.service" not in tree  # another package
    assert "etc/systemd/system/-.slice" not in tree  # slices are never masked
