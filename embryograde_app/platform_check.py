"""Can Qt open a window here? Found out before Qt is asked, so a fresh desktop gets a message, not an abort.

On Linux, PySide6's wheels bring Qt but not the X11 libraries its xcb platform plugin links against
(libxcb-icccm4, libxcb-keysyms1, ...), nor libxcb-cursor0, which Qt 6.5+ opens at run time. When one is
missing, Qt prints "Could not load the Qt platform plugin" and aborts the process. This module asks `ldd` which
of the plugin's libraries cannot be found, names each one with the package that provides it, installs them
where it can (Debian/Ubuntu as root or with password-less sudo) and otherwise prints the one command that does.

Run: python -m embryograde_app.platform_check [--install]   (`make run` does, before it opens the window)
Qt-free on purpose: it must work when Qt cannot.
"""

from __future__ import annotations

import argparse
import ctypes.util
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Opened with dlopen by Qt 6.5+, so `ldd` never lists it: checked by name.
RUNTIME_LIBRARIES = ("libxcb-cursor.so.0",)
# Package names where the distribution's rule (below) does not give them.
FEDORA_PACKAGES = {
    "libxcb-cursor.so.0": "xcb-util-cursor",
    "libxcb-icccm.so.4": "xcb-util-wm",
    "libxcb-keysyms.so.1": "xcb-util-keysyms",
    "libxcb-image.so.0": "xcb-util-image",
    "libxcb-render-util.so.0": "xcb-util-renderutil",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11",
}
NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found", re.MULTILINE)


@dataclass
class PlatformReport:
    """What stands between this machine and a Qt window; ok when nothing does."""

    platform: str
    missing: list[str] = field(default_factory=list)  # sonames
    problem: str = ""  # a reason that is not a missing library (no display, no plugin)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.problem


def debian_package(soname: str) -> str:
    """Debian's package for a shared library: libxcb-icccm.so.4 -> libxcb-icccm4, libxkbcommon-x11.so.0 ->
    libxkbcommon-x11-0 (a dash when the name ends in a digit), libEGL.so.1 -> libegl1."""
    name, _, version = soname.partition(".so")
    major = version.lstrip(".").split(".")[0]
    name = name.lower()
    return f"{name}{'-' if name[-1:].isdigit() else ''}{major}"


def fedora_package(soname: str) -> str:
    return FEDORA_PACKAGES.get(soname, soname.partition(".so")[0])


def qt_platform(environ: dict[str, str]) -> str:
    """The platform plugin Qt will load: QT_QPA_PLATFORM if set, else xcb on Linux (PySide6's default)."""
    chosen = environ.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if chosen:
        return chosen
    return "xcb" if sys.platform.startswith("linux") else "native"


def xcb_plugin() -> Path | None:
    """PySide6's xcb plugin, found without importing Qt."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.exists() else None


def run_ldd(path: Path) -> str:
    ldd = shutil.which("ldd")
    if ldd is None:
        return ""
    return subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=30).stdout


def library_found(soname: str) -> bool:
    stem = soname.partition(".so")[0].removeprefix("lib")
    return ctypes.util.find_library(stem) is not None


def missing_from_ldd(output: str) -> list[str]:
    """Sonames `ldd` could not resolve, each once, in the order it listed them."""
    return list(dict.fromkeys(NOT_FOUND.findall(output)))


def check(
    environ: dict[str, str] | None = None,
    plugin: Callable[[], Path | None] = xcb_plugin,
    ldd: Callable[[Path], str] = run_ldd,
    found: Callable[[str], bool] = library_found,
) -> PlatformReport:
    """What would stop Qt's platform plugin from loading (only xcb on Linux is checked; the rest pass)."""
    environ = dict(os.environ if environ is None else environ)
    platform = qt_platform(environ)
    report = PlatformReport(platform)
    if platform != "xcb":
        return report
    path = plugin()
    if path is None:
        report.problem = "PySide6's xcb platform plugin (libqxcb.so) is not installed"
        return report
    report.missing = missing_from_ldd(ldd(path)) + [lib for lib in RUNTIME_LIBRARIES if not found(lib)]
    report.missing = list(dict.fromkeys(report.missing))
    if not report.missing and not environ.get("DISPLAY"):
        report.problem = (
            "no X display: DISPLAY is not set (on a machine without a screen run `xvfb-run -a make run`, "
            "or QT_QPA_PLATFORM=offscreen for a window nobody sees)"
        )
    return report


def install_command(missing: list[str]) -> str:
    """The one command that installs the missing libraries on this distribution."""
    if Path("/etc/fedora-release").exists() or Path("/etc/redhat-release").exists():
        return "sudo dnf install -y " + " ".join(dict.fromkeys(fedora_package(s) for s in missing))
    return "sudo apt-get install -y " + " ".join(dict.fromkeys(debian_package(s) for s in missing))


def message(report: PlatformReport) -> str:
    if report.ok:
        return f"Qt platform '{report.platform}': ready"
    if report.problem:
        return f"Cannot open the window: {report.problem}."
    libs = "\n".join(f"  {s}  (Debian/Ubuntu package {debian_package(s)})" for s in report.missing)
    return (
        "Cannot open the window: Qt's xcb platform plugin needs system libraries that are not installed:\n"
        f"{libs}\nInstall them with:\n  {install_command(report.missing)}"
    )


def can_install() -> list[str] | None:
    """The prefix that runs apt-get here (none for root, sudo -n with password-less sudo), or None."""
    if not Path("/etc/debian_version").exists() or shutil.which("apt-get") is None:
        return None
    if os.geteuid() == 0:
        return []
    sudo = shutil.which("sudo")
    if sudo and subprocess.run([sudo, "-n", "true"], capture_output=True).returncode == 0:
        return [sudo, "-n"]
    return None


def install(missing: list[str], prefix: list[str]) -> bool:
    """apt-get install the packages (updating the package lists once if the first try fails)."""
    packages = list(dict.fromkeys(debian_package(s) for s in missing))
    cmd = [*prefix, "apt-get", "install", "-y", "--no-install-recommends", *packages]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("Installing " + " ".join(packages) + " ...", flush=True)
    if subprocess.run(cmd, env=env).returncode == 0:
        return True
    subprocess.run([*prefix, "apt-get", "update"], env=env)
    return subprocess.run(cmd, env=env).returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--install", action="store_true", help="install missing libraries where this user can")
    args = parser.parse_args(argv)
    report = check()
    if report.ok:
        return 0
    print(message(report), file=sys.stderr, flush=True)
    if report.problem or not args.install:
        return 1
    prefix = can_install()
    if prefix is None:
        print("(not installed: that needs root or password-less sudo on Debian/Ubuntu)", file=sys.stderr)
        return 1
    if not install(report.missing, prefix):
        print("The installation failed; run the command above yourself.", file=sys.stderr)
        return 1
    after = check()
    if not after.ok:
        print(message(after), file=sys.stderr)
        return 1
    print("Qt's system libraries are installed.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
