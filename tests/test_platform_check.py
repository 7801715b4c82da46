"""make run's platform check: missing X11 libraries are named with their packages before Qt could abort."""

from pathlib import Path

import pytest

from embryograde_app import platform_check as pc

LDD_MISSING = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)
"""
LDD_OK = "\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)\n"
PLUGIN = Path("/venv/PySide6/Qt/plugins/platforms/libqxcb.so")


def _check(ldd_out: str, cursor: bool, env: dict) -> pc.PlatformReport:
    return pc.check(env, plugin=lambda: PLUGIN, ldd=lambda _: ldd_out, found=lambda _: cursor)


def test_missing_libraries_are_named_with_their_packages():
    report = _check(LDD_MISSING, cursor=False, env={"DISPLAY": ":0"})
    assert not report.ok
    assert report.missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"]
    text = pc.message(report)
    for package in ("libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0"):
        assert package in text
    assert "apt-get install -y libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0" in text or "dnf install" in text


def test_all_libraries_present_but_no_display_says_so():
    report = _check(LDD_OK, cursor=True, env={})
    assert report.missing == [] and "DISPLAY" in report.problem
    assert _check(LDD_OK, cursor=True, env={"DISPLAY": ":1"}).ok


def test_other_platforms_are_not_checked():
    def boom(_):
        raise AssertionError("ldd must not run for offscreen")

    report = pc.check({"QT_QPA_PLATFORM": "offscreen"}, plugin=lambda: PLUGIN, ldd=boom, found=lambda _: False)
    assert report.ok and report.platform == "offscreen"


def test_no_plugin_is_a_problem():
    report = pc.check({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}, plugin=lambda: None, ldd=lambda _: "")
    assert "libqxcb" in report.problem


@pytest.mark.parametrize(
    ("soname", "package"),
    [
        ("libxcb-icccm.so.4", "libxcb-icccm4"),
        ("libxcb-render-util.so.0", "libxcb-render-util0"),
        ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
        ("libEGL.so.1", "libegl1"),
        ("libdbus-1.so.3", "libdbus-1-3"),
    ],
)
def test_debian_package_names(soname, package):
    assert pc.debian_package(soname) == package


def test_main_and_gui_command_exit_with_the_message(monkeypatch, capsys):
    from embryograde_app import cli
    bad = pc.PlatformReport("xcb", missing=["libxcb-keysyms.so.1"])
    monkeypatch.setattr(pc, "check", lambda *a, **k: bad)
    assert pc.main([]) == 1
    assert "libxcb-keysyms1" in capsys.readouterr().err
    assert cli.main(["gui"]) == 2
    assert "libxcb-keysyms1" in capsys.readouterr().err
