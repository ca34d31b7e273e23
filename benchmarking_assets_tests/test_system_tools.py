"""A missing Debian program is installed by apt-get as root, or named with its install command.

A stand-in ``apt-get`` on PATH records what it was asked and "installs" a program, so the
tests check the real code path without changing the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarking_assets_tests import system_tools

FAKE_APT = """#!/bin/sh
echo "$@" >> "{log}"
case "$*" in
  *" install "*) {install} ;;
esac
"""


@pytest.fixture
def shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A PATH of one empty folder; the install cache is cleared before and after."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    system_tools._apt_install.cache_clear()
    yield folder
    system_tools._apt_install.cache_clear()


def _fake_apt(folder: Path, install: str) -> Path:
    log = folder.parent / "apt.log"
    script = folder / "apt-get"
    script.write_text(FAKE_APT.format(log=log, install=install))
    script.chmod(0o755)
    return log


def test_not_root_fails_with_the_install_command(
    shim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(system_tools.os, "geteuid", lambda: 1000)
    log = _fake_apt(shim, install="exit 0")
    with pytest.raises(pytest.fail.Exception) as failure:
        system_tools.require_debian_program("chromium", apt_package="chromium")
    assert "chromium is not installed" in str(failure.value)
    assert "`sudo apt-get update && sudo apt-get install -y chromium`" in str(failure.value)
    assert not log.exists()  # nothing was attempted


def test_root_installs_the_package_then_finds_the_program(
    shim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(system_tools.os, "geteuid", lambda: 0)
    program = shim / "fakeprog"
    log = _fake_apt(shim, install=f"printf '#!/bin/sh\\n' > {program}; /bin/chmod +x {program}")
    with pytest.warns(UserWarning, match=r"fake-pkg was missing: installed the Debian package"):
        found = system_tools.require_debian_program("fakeprog", apt_package="fake-pkg")
    assert found == str(program)
    calls = log.read_text().splitlines()
    lock = f"-oDPkg::Lock::Timeout={system_tools.APT_LOCK_WAIT_SECONDS}"
    assert calls == [f"{lock} update -q", f"{lock} install -y -q fake-pkg"]
    # present now: found without asking apt-get again
    assert system_tools.require_debian_program("fakeprog", apt_package="fake-pkg") == str(program)
    assert len(log.read_text().splitlines()) == 2


def test_root_reports_a_failed_install_with_apt_output(
    shim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(system_tools.os, "geteuid", lambda: 0)
    _fake_apt(shim, install="echo 'E: Unable to locate package fake-pkg' >&2; exit 100")
    with pytest.raises(pytest.fail.Exception) as failure:
        system_tools.require_debian_program("fakeprog", apt_package="fake-pkg")
    message = str(failure.value)
    assert "install -y -q fake-pkg` failed (exit 100)" in message
    assert "E: Unable to locate package fake-pkg" in message
    assert "sudo apt-get install -y fake-pkg" in message


def test_installed_but_not_on_path_names_the_path(
    shim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(system_tools.os, "geteuid", lambda: 0)
    _fake_apt(shim, install="echo 'Setting up fake-pkg' ; exit 0")
    with pytest.raises(pytest.fail.Exception) as failure, pytest.warns(UserWarning):
        system_tools.require_debian_program("fakeprog", apt_package="fake-pkg")
    message = str(failure.value)
    assert f"did not provide fakeprog on PATH ({shim})" in message
    assert "Setting up fake-pkg" in message
