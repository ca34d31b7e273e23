"""System programs some tests drive that no pip package provides (headless Chromium).

The README's test command copes on a fresh machine: a missing program is installed from its
Debian package when the tests run as root with ``apt-get`` (CI machines and the project's
machines are root), and otherwise the test fails with the exact command that installs it.
A skipped test would hide a feature nobody checked, and a browser download is never used.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
import warnings

import pytest

APT_TIMEOUT_SECONDS = 900  # update + a browser's packages; bounded so a dead mirror fails
APT_LOCK_WAIT_SECONDS = 300  # another apt/dpkg on the machine: wait for it, do not fail


def install_command(apt_package: str) -> str:
    return f"sudo apt-get update && sudo apt-get install -y {apt_package}"


def require_debian_program(*names: str, apt_package: str) -> str:
    """Path of the first of ``names`` on PATH, installing ``apt_package`` first if need be."""
    found = _which(names)
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            f"{names[0]} is not installed and the tests cannot install it (not root, or no "
            f"apt-get): run `{install_command(apt_package)}`, then the tests again",
            pytrace=False,
        )
    log = _apt_install(apt_package)
    found = _which(names)
    if not found:
        pytest.fail(
            f"`apt-get install {apt_package}` did not provide {names[0]} on PATH "
            f"({os.environ.get('PATH', '')}); its output ended:\n{log[-3000:]}",
            pytrace=False,
        )
    return found


def _which(names: tuple[str, ...]) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


@functools.cache
def _apt_install(apt_package: str) -> str:
    """``apt-get update`` then ``install``, once per session; the combined output."""
    started = time.monotonic()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    lock = f"-oDPkg::Lock::Timeout={APT_LOCK_WAIT_SECONDS}"
    output = []
    for command in (
        ["apt-get", lock, "update", "-q"],
        ["apt-get", lock, "install", "-y", "-q", apt_package],
    ):
        try:
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT_SECONDS,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"`{' '.join(command)}` did not finish in {APT_TIMEOUT_SECONDS} s: run "
                f"`{install_command(apt_package)}` by hand",
                pytrace=False,
            )
        output.append(done.stdout + done.stderr)
        if done.returncode != 0:
            pytest.fail(
                f"`{' '.join(command)}` failed (exit {done.returncode}):\n"
                f"{output[-1][-3000:]}\nrun `{install_command(apt_package)}` by hand",
                pytrace=False,
            )
    # In the run's warnings summary: the machine was changed, and how long it took.
    warnings.warn(
        f"{apt_package} was missing: installed the Debian package with apt-get "
        f"({time.monotonic() - started:.0f} s)",
        stacklevel=2,
    )
    return "".join(output)
