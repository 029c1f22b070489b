"""``python -m uki``: a ukify-compatible ``build`` and an ``inspect`` verb.

``build`` takes ukify's flags with ukify's meaning: ``--cmdline TEXT`` has its runs of whitespace
collapsed to single spaces while ``--cmdline @FILE`` is copied verbatim; ``--os-release``,
``--sbat`` and ``--section NAME:`` take ``TEXT`` or ``@FILE``; several ``--initrd`` are padded to
4 bytes and concatenated; ``.uname`` is detected from the kernel unless ``--uname`` is given.
Unlike ukify nothing is taken from the build host: without ``--os-release`` there is no ``.osrel``
(ukify would copy the host's /etc/os-release), and the stub defaults to ukify's path only for x64.
``--secureboot-private-key``/``--secureboot-certificate`` sign the UKI like ``sbsign``, but
deterministically (no signingTime).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from uki.authenticode import sign_pe
from uki.builder import build_uki
from uki.errors import SectionError, SigningError, UkiError
from uki.inspection import format_text, inspect_pe

log = logging.getLogger(__name__)

DEFAULT_STUB = Path("/usr/lib/systemd/boot/efi/linuxx64.efi.stub")  # ukify's default on x86-64
EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class Verb(StrEnum):
    BUILD = "build"
    INSPECT = "inspect"


class InputError(UkiError):
    """A file named on the command line cannot be read or parsed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildOptions:
    linux: Path
    initrds: tuple[Path, ...]
    cmdline: str | None
    os_release: str | None
    uname: str | None
    stub: Path
    sbat: tuple[str, ...]
    sections: tuple[str, ...]
    secureboot_private_key: Path | None
    secureboot_certificate: Path | None
    secureboot_hash: Literal["sha256", "sha384"]
    output: Path
    devicetree: Path | None = None
    devicetree_auto: tuple[Path, ...] = ()
    splash: Path | None = None
    pcrpkey: Path | None = None
    microcode: Path | None = None


def read_input(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {what} {str(path)!r}: {e.strerror or e}") from e


def optional_file(path: Path | None, what: str) -> bytes | None:
    return None if path is None else read_input(path, what)


def text_or_file(value: str, what: str) -> bytes:
    """ukify's ``TEXT|@PATH``: the file's bytes after ``@``, else the text as UTF-8."""
    if value.startswith("@"):
        return read_input(Path(value[1:]), what)
    return value.encode("utf-8")


def cmdline_bytes(value: str | None) -> bytes | None:
    """``--cmdline``: a file verbatim; a text with whitespace runs collapsed; empty text = no section."""
    if value is None:
        return None
    if value.startswith("@"):
        return read_input(Path(value[1:]), "--cmdline file")
    collapsed = " ".join(value.split())
    return collapsed.encode("utf-8") if collapsed else None


def parse_section(spec: str) -> tuple[str, bytes]:
    """``--section NAME:TEXT|@PATH`` (exactly one ``:``, as ukify)."""
    parts = spec.split(":")
    if len(parts) != 2:
        raise SectionError(f"cannot parse section spec {spec!r}: want NAME:TEXT or NAME:@PATH")
    name, contents = parts
    return name, text_or_file(contents, f"--section {name} file")


def load_signing_key(key_path: Path, cert_path: Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key_pem = read_input(key_path, "--secureboot-private-key")
    cert_pem = read_input(cert_path, "--secureboot-certificate")
    try:
        key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as e:
        raise SigningError(f"cannot load private key {str(key_path)!r}: {e}") from e
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningError(f"{str(key_path)!r} is not an RSA private key")
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as e:
        try:
            cert = x509.load_der_x509_certificate(cert_pem)
        except ValueError:
            raise SigningError(f"cannot load certificate {str(cert_path)!r}: {e}") from e
    return key, cert


def write_output(path: Path, data: bytes) -> None:
    """Write atomically: a temporary file in the same directory, then rename."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as e:
        raise InputError(f"cannot write --output {str(path)!r}: {e.strerror or e}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_build(opts: BuildOptions) -> None:
    stub = read_input(opts.stub, "--stub")
    linux = read_input(opts.linux, "--linux")
    initrds = [read_input(p, "--initrd") for p in opts.initrds]
    if opts.os_release is None:
        log.warning("no --os-release: the UKI gets no .osrel (ukify would copy the build host's)")
    os_release = None
    if opts.os_release is not None and opts.os_release != "":
        os_release = text_or_file(opts.os_release, "--os-release file")
    uki = build_uki(
        stub=stub,
        linux=linux,
        initrds=initrds,
        cmdline=cmdline_bytes(opts.cmdline),
        os_release=os_release,
        uname=opts.uname,
        sbat=[text_or_file(s, "--sbat file") for s in opts.sbat] or None,
        sections=[parse_section(s) for s in opts.sections],
        devicetree=optional_file(opts.devicetree, "--devicetree"),
        devicetree_auto=[read_input(p, "--devicetree-auto") for p in opts.devicetree_auto],
        splash=optional_file(opts.splash, "--splash"),
        pcrpkey=optional_file(opts.pcrpkey, "--pcrpkey"),
        microcode=optional_file(opts.microcode, "--microcode"),
    )
    if opts.secureboot_private_key is not None and opts.secureboot_certificate is not None:
        key, cert = load_signing_key(opts.secureboot_private_key, opts.secureboot_certificate)
        uki = sign_pe(uki, private_key=key, certificate=cert, algorithm=opts.secureboot_hash)
    write_output(opts.output, uki)
    log.info("wrote %s %s", "signed" if opts.secureboot_private_key else "unsigned", opts.output)


def run_inspect(path: Path, *, as_json: bool) -> str:
    info = inspect_pe(read_input(path, "file"), what=str(path))
    if as_json:
        return json.dumps(info.to_json(), sort_keys=True, indent=2) + "\n"
    return format_text(info)


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m uki", description="Build and inspect Unified Kernel Images.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    verbs = parser.add_subparsers(dest="verb", required=True)

    build = verbs.add_parser(Verb.BUILD, help="build a UKI (ukify-compatible flags)")
    build.add_argument("--linux", type=Path, required=True, metavar="LINUX", help="kernel image [.linux]")
    build.add_argument("--initrd", type=Path, action="append", default=[], metavar="INITRD", help="[.initrd]")
    build.add_argument("--cmdline", metavar="TEXT|@PATH", help="kernel command line [.cmdline]")
    build.add_argument("--os-release", metavar="TEXT|@PATH", help="os-release [.osrel]")
    build.add_argument("--devicetree", type=Path, metavar="PATH", help="Device Tree file [.dtb]")
    build.add_argument(
        "--devicetree-auto", type=Path, action="append", default=[], metavar="PATH", help="[.dtbauto], repeatable"
    )
    build.add_argument("--splash", type=Path, metavar="BMP", help="splash image [.splash]")
    build.add_argument("--pcrpkey", type=Path, metavar="KEY", help="public key to seal secrets to [.pcrpkey]")
    build.add_argument("--microcode", type=Path, metavar="UCODE", help="microcode file [.ucode]")
    build.add_argument("--uname", metavar="VERSION", help='"uname -r" [.uname]; detected from the kernel if unset')
    build.add_argument("--stub", type=Path, default=DEFAULT_STUB, help=f"systemd-stub (default {DEFAULT_STUB})")
    build.add_argument("--sbat", action="append", default=[], metavar="TEXT|@PATH", help="SBAT policy [.sbat]")
    build.add_argument(
        "--section", dest="sections", action="append", default=[], metavar="NAME:TEXT|@PATH", help="extra section"
    )
    build.add_argument("--secureboot-private-key", type=Path, metavar="KEY", help="PEM RSA key to sign with")
    build.add_argument("--secureboot-certificate", type=Path, metavar="CERT", help="PEM certificate to sign with")
    build.add_argument(
        "--secureboot-hash", choices=("sha256", "sha384"), default="sha256", help="Authenticode hash (sha256)"
    )
    build.add_argument("--output", type=Path, metavar="OUTPUT", help="output file (default LINUX.unsigned.efi)")

    inspect = verbs.add_parser(Verb.INSPECT, help="describe a UKI or any PE image")
    inspect.add_argument("file", type=Path, metavar="FILE")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    return parser


def build_options(ns: argparse.Namespace) -> BuildOptions:
    key, cert = ns.secureboot_private_key, ns.secureboot_certificate
    if (key is None) != (cert is None):
        raise SigningError("--secureboot-private-key and --secureboot-certificate must be given together")
    output = ns.output
    if output is None:  # ukify's default name, in the current directory
        output = Path(ns.linux.name + (".efi" if key else ".unsigned.efi"))
    return BuildOptions(
        linux=ns.linux,
        initrds=tuple(ns.initrd),
        cmdline=ns.cmdline,
        os_release=ns.os_release,
        uname=ns.uname,
        stub=ns.stub,
        sbat=tuple(ns.sbat),
        sections=tuple(ns.sections),
        secureboot_private_key=key,
        secureboot_certificate=cert,
        secureboot_hash=ns.secureboot_hash,
        output=output,
        devicetree=ns.devicetree,
        devicetree_auto=tuple(ns.devicetree_auto),
        splash=ns.splash,
        pcrpkey=ns.pcrpkey,
        microcode=ns.microcode,
    )


def main(argv: Sequence[str] | None = None) -> int:
    ns = create_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if ns.debug else logging.INFO, format="%(levelname)s: %(message)s", stream=sys.stderr
    )
    try:
        if ns.verb == Verb.BUILD:
            run_build(build_options(ns))
        else:
            sys.stdout.write(run_inspect(ns.file, as_json=ns.json))
    except UkiError as e:
        if ns.debug:
            raise
        sys.stderr.write(f"uki: error: {e}\n")
        return EXIT_BAD_INPUT
    except OSError as e:
        if ns.debug:
            raise
        sys.stderr.write(f"uki: error: {e}\n")
        return EXIT_FAILED
    return 0
