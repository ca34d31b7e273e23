"""``benchmarking participants``: enroll, settings, withdraw, list; refusals; audit entries."""

import argparse

import polars as pl
import pytest

from benchmarking_assets.cli.participants import add_participants_parser, run_participants
from benchmarking_assets.store import WarehouseStore, audit, participation


def cli(store: WarehouseStore, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="benchmarking")
    add_participants_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["participants", "--database-url", store.url, "--actor", "ana", *argv])
    return run_participants(args)


@pytest.fixture
def seeded(store: WarehouseStore) -> WarehouseStore:
    store.append_rows(
        "district_data_history",
        pl.DataFrame(
            {"leaid": ["0100001", "0100002"], "year": [2020, 2020], "state_code": ["AL", "AL"],
             "fips": [1, 1], "source": ["sample", "sample"],
             "lea_name": ["Alpha District", "Beta District"]}
        ),
    )  # fmt: skip
    return store


def test_enroll_settings_withdraw_list(
    seeded: WarehouseStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(seeded, "enroll", "100001", "--share", "engagement, AI_TUTOR") == 0
    assert participation.active_shares(seeded) == {"0100001": {"engagement", "ai_tutor"}}
    assert cli(seeded, "settings", "0100001", "--share", "operational") == 0
    assert participation.active_shares(seeded) == {"0100001": {"operational"}}
    capsys.readouterr()
    assert cli(seeded, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NCES", "ID", "District", "State", "Shares", "Enrolled"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split()[:4] == ["0100001", "Alpha", "District", "AL"]
    assert lines[2].split()[4] == "operational"
    assert lines[-1] == "1 participant"
    assert cli(seeded, "withdraw", "0100001") == 0
    assert participation.active_shares(seeded) == {}
    log = audit.read_log(seeded, "0100001")
    assert log["action"].to_list() == [
        "participant.enroll", "participant.settings", "participant.withdraw",
    ]  # fmt: skip
    assert set(log["actor"]) == {"ana"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("enroll", "0999999", "--share", "engagement"), "not in district_data_history"),
        (("enroll", "0100001", "--share", "gossip"), "unknown data category 'gossip'"),
        (("enroll", "01-0001", "--share", "engagement"), "not an NCES district id"),
        (("settings", "0100002", "--share", "engagement"), "not enrolled; use `enroll`"),
        (("withdraw", "0100002"), "not enrolled"),
    ],
)
def test_refusals_are_clear_and_change_nothing(
    seeded: WarehouseStore, capsys: pytest.CaptureFixture[str], argv: tuple, message: str
) -> None:
    assert cli(seeded, *argv) == 2
    assert message in capsys.readouterr().err
    assert participation.list_participants(seeded).height == 0
    assert audit.read_log(seeded).height == 0


def test_enrolling_twice_is_refused(
    seeded: WarehouseStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(seeded, "enroll", "0100001", "--share", "academic") == 0
    assert cli(seeded, "enroll", "0100001", "--share", "engagement") == 2
    assert "already enrolled" in capsys.readouterr().err
    assert participation.active_shares(seeded) == {"0100001": {"academic"}}


def test_stopping_a_category_purges_its_submissions(seeded: WarehouseStore) -> None:
    participation.enroll(seeded, "0100001", ["engagement", "ai_tutor"], actor="t")
    seeded.append_rows(
        "benchmark_metric_submissions",
        pl.DataFrame(
            {"leaid": ["0100001"] * 2, "year": [2020, 2020], "category": ["engagement", "ai_tutor"],
             "metric": ["avg_session_minutes", "mastery_rate_pct"], "value": [30.0, 60.0],
             "file_sha256": ["f", "f"], "line": [2, 3], "received_at": ["t", "t"]}
        ),
    )  # fmt: skip
    assert participation.update_settings(seeded, "0100001", ["engagement"], actor="t") == [2020]
    left = seeded.read_df("SELECT metric FROM benchmark_metric_submissions")
    assert left["metric"].to_list() == ["avg_session_minutes"]
