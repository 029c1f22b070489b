#!/usr/bin/env python3
"""Boot a UKI (or a raw GPT disk with an ESP) under QEMU + OVMF, software emulation only.

    python scripts/boot.py build/bob/bob.efi                 # watch it boot, stop at BOB-DONE
    python scripts/boot.py build/bob/bob.raw --disk --tpm    # from the ESP, with a swtpm vTPM

The same harness is used by the boot tests (``tests/e2e``): :func:`boot` runs QEMU under a hard
timeout (KVM is never used: on these machines it crashes OVMF and hangs, see specs/testbed.md),
copies the serial console to a log, and returns as soon as the marker line appears or QEMU exits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
DEFAULT_MARKER = "BOB-DONE"


@dataclass(frozen=True)
class BootResult:
    found: bool  # the marker appeared
    seconds: float  # from QEMU start to the marker (or to the end)
    console: str  # everything QEMU's serial console printed
    exit_code: int | None  # QEMU's exit code, None if we stopped it

    def lines(self, prefix: str) -> list[str]:
        """Console lines containing ``prefix``, from the prefix on: terminal control sequences
        (systemd's and agetty's) can land on the same line before it."""
        out = []
        for line in self.console.splitlines():
            at = line.find(prefix)
            if at >= 0:
                out.append(line[at:].strip())
        return out


@contextlib.contextmanager
def swtpm(workdir: Path, banks: str = "sha256,sha384") -> Iterator[Path]:
    """A TPM 2.0 emulator with the given PCR banks; yields its control socket."""
    state = workdir / "tpm"
    state.mkdir()
    subprocess.run(["swtpm_setup", "--tpm2", "--tpmstate", str(state), "--pcr-banks", banks, "--overwrite"],
                   check=True, capture_output=True)
    sock = workdir / "swtpm.sock"
    proc = subprocess.Popen(["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}",
                             "--ctrl", f"type=unixio,path={sock}", "--terminate"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        yield sock
    finally:
        proc.kill()
        proc.wait()


def qemu_command(image: Path, workdir: Path, *, disk: bool, memory: int, net: bool, tpm_socket: Path | None,
                 extra: Sequence[str] = ()) -> list[str]:
    vars_copy = workdir / "vars.fd"
    shutil.copyfile(OVMF_VARS, vars_copy)
    cmd = ["qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-m", str(memory), "-smp", "1",
           "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
           "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
           "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"]
    if disk:
        cmd += ["-drive", f"if=none,id=disk0,format=raw,readonly=on,file={image}",
                "-device", "virtio-blk-pci,drive=disk0,bootindex=0"]
    else:
        cmd += ["-kernel", str(image)]
    if net:
        cmd += ["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,romfile="]
    if tpm_socket is not None:
        cmd += ["-chardev", f"socket,id=chrtpm,path={tpm_socket}", "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
                "-device", "tpm-tis,tpmdev=tpm0"]
    return cmd + list(extra)


def boot(image: Path, *, marker: str = DEFAULT_MARKER, timeout: float = 300, disk: bool = False,
         memory: int = 2048, net: bool = True, tpm: bool = False, echo: bool = False,
         extra: Sequence[str] = (), log_path: Path | None = None) -> BootResult:
    """Boot ``image`` and wait for ``marker`` on the serial console (or QEMU's exit, or the timeout)."""
    for tool in ("qemu-system-x86_64", *(["swtpm", "swtpm_setup"] if tpm else [])):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (scripts/setup --test-tools installs it)")
    with tempfile.TemporaryDirectory(prefix="boot-") as tmp:
        workdir = Path(tmp)
        with contextlib.ExitStack() as stack:
            sock = stack.enter_context(swtpm(workdir)) if tpm else None
            cmd = qemu_command(image, workdir, disk=disk, memory=memory, net=net, tpm_socket=sock, extra=extra)
            # `timeout` is the outer guard even if this process dies; -k kills a QEMU that ignores TERM.
            proc = subprocess.Popen(["timeout", "-k", "5", str(int(timeout) + 5), *cmd], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
            start = time.monotonic()
            chunks: list[str] = []
            found = threading.Event()
            when: list[float] = []

            def reader() -> None:
                assert proc.stdout is not None
                buf = ""
                for raw in iter(lambda: proc.stdout.readline(), b""):  # type: ignore[union-attr]
                    line = raw.decode("utf-8", "replace")
                    chunks.append(line)
                    if echo:
                        sys.stdout.write(line)
                        sys.stdout.flush()
                    buf = line
                    if marker in buf and not found.is_set():
                        when.append(time.monotonic() - start)
                        found.set()

            t = threading.Thread(target=reader, daemon=True)
            t.start()
            found.wait(timeout)
            exit_code = proc.poll()
            if exit_code is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            t.join(5)
        console = "".join(chunks)
        if log_path is not None:
            log_path.write_text(console)
        return BootResult(found=found.is_set(), seconds=when[0] if when else time.monotonic() - start,
                          console=console, exit_code=exit_code)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", type=Path, help="a UKI (.efi) or, with --disk, a raw GPT disk image")
    p.add_argument("--disk", action="store_true", help="boot IMAGE as a virtio disk through OVMF's boot manager")
    p.add_argument("--marker", default=DEFAULT_MARKER, help=f"console text that ends the run ({DEFAULT_MARKER})")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--memory", type=int, default=2048, help="MiB")
    p.add_argument("--no-net", action="store_true", help="no NIC (a clean firmware event log)")
    p.add_argument("--tpm", action="store_true", help="attach a swtpm TPM 2.0 with sha256+sha384 banks")
    p.add_argument("--log", type=Path, help="also write the console to this file")
    args = p.parse_args(argv)
    if not args.image.is_file():
        print(f"error: {args.image}: no such file", file=sys.stderr)
        return 2
    r = boot(args.image, marker=args.marker, timeout=args.timeout, disk=args.disk, memory=args.memory,
             net=not args.no_net, tpm=args.tpm, echo=True, log_path=args.log)
    status = f"reached {args.marker!r} after {r.seconds:.1f}s" if r.found else f"no {args.marker!r} ({r.seconds:.0f}s)"
    print(f"\nboot.py: {status}", file=sys.stderr)
    return 0 if r.found else 1


if __name__ == "__main__":
    sys.exit(main())
