"""Tiny Debian archives built by the tests: Packages stanzas, a Release signed with a throwaway
OpenPGP key, and a local HTTP server to serve them (the real urllib transport talks to it)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import lzma
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pysequoia import SignatureMode, Tsk, sign

from debfetch.keyring import Keyring
from debfetch.packages import BinaryPackage


def stanza(name: str, version: str = "1.0", *, arch: str = "amd64", **fields: str) -> dict[str, str]:
    """A Packages stanza; keyword names use ``_`` for ``-`` (``pre_depends=`` → ``Pre-Depends``)."""
    out = {"Package": name, "Version": version, "Architecture": arch}
    for key, value in fields.items():
        out["-".join(part.capitalize() for part in key.split("_"))] = value
    return out


def deb_bytes(name: str, version: str) -> bytes:
    """Stand-in content for a .deb file (fetch never parses it; only size and sha256 matter)."""
    return f"!<arch>\n{name} {version}\n".encode() * 8


def packages_text(stanzas: Sequence[Mapping[str, str]], debs: Mapping[str, bytes] | None = None) -> str:
    """Render stanzas; Filename/Size/SHA256 are filled from ``debs`` or made up."""
    blocks = []
    for st in stanzas:
        st = dict(st)
        name, version = st["Package"], st["Version"]
        filename = st.setdefault("Filename", f"pool/main/{name[0]}/{name}/{name}_{version}_{st['Architecture']}.deb")
        data = (debs or {}).get(filename, deb_bytes(name, version))
        st.setdefault("Size", str(len(data)))
        st.setdefault("SHA256", hashlib.sha256(data).hexdigest())
        st.setdefault("Description", f"test package {name}\n long text\n .\n more")
        blocks.append("".join(f"{k}: {v}\n" for k, v in st.items()))
    return "\n".join(blocks)


def binary_packages(stanzas: Sequence[Mapping[str, str]], *, suite: str = "trixie") -> list[BinaryPackage]:
    from debfetch.packages import parse_packages

    return list(parse_packages(packages_text(stanzas), archive="debian", suite=suite, component="main",
                               where="test"))


@functools.cache
def throwaway_key() -> Tsk:
    return Tsk.generate("debfetch test archive <test@example.invalid>")


def throwaway_keyring(tsk: Tsk | None = None) -> Keyring:
    """A keyring that trusts the throwaway key's signing subkey."""
    tsk = tsk or throwaway_key()
    cert = tsk.extract_certificate()
    probe = sign(tsk.signer(), b"probe\n", mode=SignatureMode.CLEAR)
    from pysequoia import verify

    signing = {str(s.signing_key) for s in verify(bytes=probe, store=lambda _ids: [cert]).valid_sigs}
    return Keyring(certs=(cert,), pinned=frozenset(signing))


def clearsign(text: bytes, tsk: Tsk | None = None) -> bytes:
    return sign((tsk or throwaway_key()).signer(), text, mode=SignatureMode.CLEAR)


@dataclass(frozen=True)
class MiniArchive:
    root: Path
    suite: str
    packages_xz: Path
    inrelease: Path

    def deb_path(self, filename: str) -> Path:
        return self.root / filename


def write_archive(root: Path, stanzas: Sequence[Mapping[str, str]], *, suite: str = "trixie",
                  codename: str | None = None, extra_release: str = "", tsk: Tsk | None = None,
                  components: str = "main") -> MiniArchive:
    """Write pool files, ``dists/<suite>/main/binary-amd64/Packages.xz`` (also by-hash) and a
    clearsigned InRelease under ``root``."""
    debs: dict[str, bytes] = {}
    for st in stanzas:
        fn = st.get("Filename") or f"pool/main/{st['Package'][0]}/{st['Package']}/" \
                                    f"{st['Package']}_{st['Version']}_{st['Architecture']}.deb"
        debs[fn] = deb_bytes(st["Package"], st["Version"])
        (root / fn).parent.mkdir(parents=True, exist_ok=True)
        (root / fn).write_bytes(debs[fn])
    text = packages_text(stanzas, debs).encode()
    xz = lzma.compress(text, check=lzma.CHECK_CRC32)
    dist = root / "dists" / suite
    comp = dist / "main" / "binary-amd64"
    comp.mkdir(parents=True, exist_ok=True)
    (comp / "Packages.xz").write_bytes(xz)
    sha = hashlib.sha256(xz).hexdigest()
    (comp / "by-hash" / "SHA256").mkdir(parents=True, exist_ok=True)
    (comp / "by-hash" / "SHA256" / sha).write_bytes(xz)
    plain_sha = hashlib.sha256(text).hexdigest()
    release = (
        f"Origin: Test\nSuite: {suite}\nCodename: {codename or suite}\nDate: Sat, 21 Nov 2026 09:15:44 UTC\n"
        f"Acquire-By-Hash: yes\nArchitectures: all amd64\nComponents: {components}\n{extra_release}"
        f"SHA256:\n {sha} {len(xz)} main/binary-amd64/Packages.xz\n"
        f" {plain_sha} {len(text)} main/binary-amd64/Packages\n"
    )
    (dist / "Release").write_text(release)
    (dist / "InRelease").write_bytes(clearsign(release.encode(), tsk))
    return MiniArchive(root=root, suite=suite, packages_xz=comp / "Packages.xz", inrelease=dist / "InRelease")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` over HTTP on 127.0.0.1; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Flip one byte of a file (the middle one by default)."""
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x01
    path.write_bytes(bytes(data))
