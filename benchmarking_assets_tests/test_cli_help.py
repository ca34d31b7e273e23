"""``benchmarking … --help``: plain, complete help for every command."""

from __future__ import annotations

import re

import pytest

from benchmarking_assets.cli.main import main

COMMANDS = (
    (),
    ("demo",),
    ("participants",),
    ("participants", "enroll"),
    ("participants", "settings"),
    ("participants", "withdraw"),
    ("participants", "list"),
    ("participants", "budget"),
)
MARKUP = re.compile(r"``|:func:|:class:|:data:|\*\*|`[a-z_]+`")


def help_of(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "benchmarking")
def test_every_help_is_plain_text_with_a_description(
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    text = help_of(capsys, *command)
    assert not MARKUP.search(text), MARKUP.search(text)
    usage, _, rest = text.partition("\n\n")
    assert usage.startswith("usage: benchmarking")
    assert rest.strip() and not rest.startswith(("positional", "options"))  # a description


def test_top_level_help_names_each_command(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys)
    assert "benchmarking demo" in text and "benchmarking participants" in text


def test_demo_help_says_what_it_writes_where_and_how_long_it_takes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = " ".join(help_of(capsys, "demo").split())
    for setting in ("DATABASE_URL", "DAGSTER_HOME", "SUBMISSIONS_INBOX_DIR", "REPORTS_DIR",
                    "BENCHMARKING_DATA_DIR", "EDUCATION_DATA_SOURCE"):  # fmt: skip
        assert setting in text
    assert "sqlite:///data/warehouse.sqlite" in text and "data/reports/YEAR/LEAID/" in text
    assert re.search(r"about \d+ seconds for all 51 states", text)
