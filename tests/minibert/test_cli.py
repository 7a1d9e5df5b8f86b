"""The ``minibert`` command line: help, version, info, and exit codes."""

import subprocess
import sys

import pytest

from minibert import __version__
from minibert.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "minibert.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_version_names_the_package_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"minibert {__version__}"


def test_info_lists_every_registered_kernel():
    from autograd import kernels

    result = run_cli("info")
    assert result.returncode == 0, result.stderr
    for name in kernels.names():
        assert f"kernel {name}" in result.stdout


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: minibert" in capsys.readouterr().out


def test_unknown_command_exits_nonzero_without_traceback():
    result = run_cli("no-such-command")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "invalid choice" in result.stderr


@pytest.mark.parametrize("flag", ["--help", "info --help"])
def test_help_everywhere(flag):
    result = run_cli(*flag.split())
    assert result.returncode == 0
    assert "usage:" in result.stdout
