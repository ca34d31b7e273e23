"""The submissions inbox against hostile files (issue 13, cases 7, 8 and 9): nothing outside
the inbox is ever read, moved or written; a bad file is quarantined with its reason and never
blocks the others; a file re-sent after enrolment is accepted. Real files on disk, ingestion
through the Dagster asset, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import dagster as dg
import pytest

from benchmarking_assets.core.submissions import Registry, parse_bytes
from benchmarking_assets.defs.automation.inbox_sensor import submissions_inbox_sensor
from benchmarking_assets.defs.privacy.assets import benchmark_metric_submissions
from benchmarking_assets.defs.resources import PrivacySettings, Warehouse
from benchmarking_assets.store import WarehouseStore, participation
from benchmarking_assets.store.submissions import InboxError, InboxLimits, ingest_file
from benchmarking_assets.store.submissions import validation_registry as registry_of
from benchmarking_assets_tests.test_privacy_end_to_end import seed_districts

HEADER = "leaid,year,category,metric,value\n"
A, B, C = "0100001", "0100002", "0100003"  # districts seed_districts creates


def row(leaid: str, value: float, year: int = 2020) -> str:
    return f"{leaid},{year},engagement,avg_session_minutes,{value}\n"


@pytest.fixture
def world(store: WarehouseStore, tmp_path: Path) -> dict:
    seed_districts(store, per_state=5)
    participation.enroll(store, A, ["engagement"], actor="test")
    participation.enroll(store, B, ["engagement"], actor="test")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    return {"store": store, "inbox": inbox, "outside": outside, "tmp": tmp_path}


def ingest(
    world: dict, files: list[str] | None = None, **settings: int
) -> dg.ExecuteInProcessResult:
    resources = {
        "warehouse": Warehouse(database_url=world["store"].url),
        "privacy": PrivacySettings(inbox_dir=str(world["inbox"]), **settings),
    }
    config = {"ops": {"benchmark_metric_submissions": {"config": {"files": files or []}}}}
    return dg.materialize(
        [benchmark_metric_submissions],
        resources=resources,
        run_config=config,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def summaries(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    (mat,) = result.asset_materializations_for_node("benchmark_metric_submissions")
    return {s["file"]: s for s in mat.metadata["files"].value}


def values(store: WarehouseStore) -> dict[tuple[str, int], float]:
    rows = store.read_df("SELECT leaid, year, value FROM benchmark_metric_submissions").rows()
    return {(leaid, year): value for leaid, year, value in rows}


def tree(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root``: file contents, or ``-> target`` for a link."""
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            out[key] = f"-> {os.readlink(path)}"
        elif path.is_file():
            out[key] = path.read_bytes()
    return out


def test_a_200_kb_field_rejects_its_row_and_every_later_file_is_ingested(world: dict) -> None:
    inbox = world["inbox"]
    huge = f"{B},2020,engagement,x,{'9' * 200_000}\n"  # one 200 KB field
    long = f"{B},2020,engagement,{'m' * 1_000},5\n"  # below csv's limit, above ours
    (inbox / "a_huge.csv").write_text(HEADER + row(A, 30) + huge + long)
    (inbox / "b_later.csv").write_text(HEADER + row(B, 40))
    result = ingest(world)
    assert result.success
    done = summaries(result)
    assert (done["a_huge.csv"]["status"], done["a_huge.csv"]["accepted"]) == ("partial", 1)
    assert done["b_later.csv"]["status"] == "ok"
    assert values(world["store"]) == {(A, 2020): 30.0, (B, 2020): 40.0}
    reasons = (inbox / "quarantine" / "a_huge.csv.reasons.txt").read_text().splitlines()
    assert reasons[0].startswith("a_huge.csv line 3: the line cannot be read (field larger than")
    assert reasons[1] == "a_huge.csv line 4: a field of 1,000 characters (at most 200 are allowed)"
    assert len("".join(reasons)) < 500  # the field is not copied into the reasons


def test_a_symlink_to_a_file_outside_is_never_read_and_moved_as_a_link(world: dict) -> None:
    inbox, outside = world["inbox"], world["outside"]
    secret = outside / "passwords.csv"
    secret.write_text("root:SECRET-FIRST-LINE\n")
    (inbox / "link.csv").symlink_to(secret)
    # the sensor launches nothing for it (it would hash the file it points to)
    with dg.build_sensor_context(
        resources={"privacy": PrivacySettings(inbox_dir=str(inbox)),
                   "warehouse": Warehouse(database_url=world["store"].url)}) as context:
        sensor = submissions_inbox_sensor(context)  # fmt: skip
    assert sensor.run_requests == []
    result = ingest(world)
    assert result.success
    assert summaries(result)["link.csv"]["status"] == "refused"
    quarantined = tree(inbox / "quarantine")
    assert quarantined == {
        "link.csv": f"-> {secret}",
        "link.csv.reasons.txt": b"link.csv: is a symbolic link; it was not followed or read\n",
    }
    assert secret.read_text() == "root:SECRET-FIRST-LINE\n"  # untouched, never read
    assert "SECRET" not in str(summaries(result))


def test_links_planted_in_quarantine_never_redirect_a_write_outside(world: dict) -> None:
    inbox, outside = world["inbox"], world["outside"]
    victim = outside / "victim.txt"
    victim.write_text("precious\n")
    quarantine = inbox / "quarantine"
    quarantine.mkdir()
    (quarantine / "bad.csv.reasons.txt").symlink_to(victim)
    (quarantine / "bad.csv").symlink_to(outside / "moved_here.csv")
    (inbox / "bad.csv").write_text(HEADER + row(A, 30) + row(C, 30))  # C is not enrolled
    result = ingest(world)
    assert result.success
    assert summaries(result)["bad.csv"]["quarantined_as"] == "bad.1.csv"
    assert victim.read_text() == "precious\n"
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    assert (quarantine / "bad.1.csv.reasons.txt").read_text() == (
        f"bad.1.csv line 3: district {C} is not an enrolled participant\n".replace("bad.1", "bad")
    )

    # quarantine/ itself a link to a folder outside: refused before anything is written
    (inbox / "quarantine").rename(world["tmp"] / "old_quarantine")
    (inbox / "quarantine").symlink_to(outside, target_is_directory=True)
    (inbox / "next.csv").write_text(HEADER + row(B, 20) + row(C, 20))
    before = values(world["store"])
    refused = ingest(world)
    assert not refused.success
    error = refused.get_run_failure_event().event_specific_data.error
    assert "inbox/quarantine is not a directory of the inbox" in str(error.cause or error)
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    assert (inbox / "next.csv").exists() and values(world["store"]) == before


@pytest.mark.parametrize("entry", ["{outside}/x.csv", "../outside/x.csv", "quarantine/x.csv"])
def test_run_config_files_outside_the_inbox_are_refused_untouched(world: dict, entry: str) -> None:
    target = world["outside"] / "x.csv"
    target.write_text(HEADER + row(A, 30))
    (world["inbox"] / "quarantine").mkdir()
    (world["inbox"] / "quarantine" / "x.csv").write_text(HEADER + row(A, 30))
    files = [entry.format(outside=world["outside"])]
    result = ingest(world, files=files)
    assert not result.success
    message = str(result.get_run_failure_event().event_specific_data.error)
    assert f"files[0] = '{files[0]}' is not a .csv or .json file directly in the inbox" in message
    assert target.read_text() == HEADER + row(A, 30)  # neither read into the warehouse nor moved
    assert (world["inbox"] / "quarantine" / "x.csv").exists()
    assert values(world["store"]) == {}
    # a bare name or the inbox path of a file is fine
    (world["inbox"] / "ok.csv").write_text(HEADER + row(A, 31))
    assert ingest(world, files=[str(world["inbox"] / "ok.csv")]).success
    assert values(world["store"]) == {(A, 2020): 31.0}


def test_a_second_file_of_the_same_name_never_overwrites_the_first_in_quarantine(
    world: dict,
) -> None:
    inbox = world["inbox"]
    first, second = HEADER + row(A, 30) + row(C, 1), HEADER + row(B, 40) + row(C, 2)
    (inbox / "monthly.csv").write_text(first)
    assert ingest(world).success
    (inbox / "monthly.csv").write_text(second)
    assert ingest(world).success
    assert tree(inbox / "quarantine") == {
        "monthly.1.csv": second.encode(),
        "monthly.1.csv.reasons.txt": f"monthly.csv line 3: district {C} is not an enrolled "
        "participant\n".encode(),
        "monthly.csv": first.encode(),
        "monthly.csv.reasons.txt": f"monthly.csv line 3: district {C} is not an enrolled "
        "participant\n".encode(),
    }


def test_a_file_over_the_size_bound_is_quarantined_unread(world: dict) -> None:
    inbox = world["inbox"]
    big = HEADER + row(A, 30) * 500  # 21 KB
    (inbox / "big.csv").write_text(big)
    (inbox / "many.csv").write_text(HEADER + "".join(row(A, 30, y) for y in range(2010, 2021)))
    result = ingest(world, inbox_max_file_bytes=10_000, inbox_max_rows=10)
    assert result.success
    done = summaries(result)
    assert done["big.csv"]["status"] == "refused"
    assert done["big.csv"]["reason"] == (
        f"is {len(big):,} bytes, more than SUBMISSIONS_MAX_FILE_BYTES = 10,000; it was not read "
        "(split it into smaller files)"
    )
    assert done["many.csv"]["status"] == "rejected"
    assert (inbox / "quarantine" / "many.csv.reasons.txt").read_text() == (
        "many.csv: the file has more than 10 rows (SUBMISSIONS_MAX_ROWS); split it\n"
    )
    assert (inbox / "quarantine" / "big.csv").read_text() == big  # kept whole: nothing lost
    assert values(world["store"]) == {}


def test_a_fifo_or_a_hard_link_is_not_read(world: dict) -> None:
    inbox, outside = world["inbox"], world["outside"]
    os.mkfifo(inbox / "pipe.csv")  # opening it for reading would block the run forever
    secret = outside / "shared.csv"
    secret.write_text(HEADER + row(A, 99))
    os.link(secret, inbox / "hard.csv")
    result = ingest(world)
    assert result.success
    done = summaries(result)
    assert done["pipe.csv"]["reason"] == "is not a regular file; it was not read"
    assert done["hard.csv"]["reason"].startswith("has 2 hard links (it may be a file outside")
    assert values(world["store"]) == {}
    assert secret.read_text() == HEADER + row(A, 99)


@pytest.mark.parametrize("text", ["1_0", "५०", "１０", "٣.٥", "0x1A", "1e5_0"])
def test_numbers_are_ascii_decimal_digits_only(text: str) -> None:
    registry = Registry(frozenset({A}), {A: frozenset({"engagement"})}, last_year=2024)
    for year in ("2020", "2_020", "२०२०"):
        body = HEADER + f"{A},{year},engagement,avg_session_minutes,{text}\n"
        parsed = parse_bytes("n.csv", body.encode(), registry)
        assert parsed.accepted.height == 0
        assert parsed.rejected["error"].to_list() == ["year" if year != "2020" else "non_numeric"]
    ok = parse_bytes("n.csv", (HEADER + row(A, 10)).encode(), registry)
    assert ok.accepted["value"].to_list() == [10.0]


def test_a_file_resent_after_enrolment_is_accepted_and_never_reverts_a_correction(
    world: dict,
) -> None:
    store, inbox = world["store"], world["inbox"]
    original = HEADER + row(A, 30) + row(C, 50) + row(C, 51, 2019)
    (inbox / "q1.csv").write_text(original)
    first = summaries(ingest(world))["q1.csv"]
    assert (first["status"], first["accepted"], first["rejected"]) == ("partial", 1, 2)
    assert values(store) == {(A, 2020): 30.0}

    # A corrects its value; C enrols; the first file is sent again, unchanged.
    (inbox / "correction.csv").write_text(HEADER + row(A, 35))
    assert summaries(ingest(world))["correction.csv"]["status"] == "ok"
    participation.enroll(store, C, ["engagement"], actor="test")
    (inbox / "q1 again.csv").write_text(original)
    again = summaries(ingest(world))["q1 again.csv"]
    assert (again["status"], again["accepted"], again["accepted_before"]) == ("ok", 2, 1)
    # C's rows are in; A keeps its correction (the re-sent file is older than it)
    assert values(store) == {(A, 2020): 35.0, (C, 2020): 50.0, (C, 2019): 51.0}
    assert not (inbox / "q1 again.csv").exists()

    # Sending it a third time changes nothing.
    (inbox / "q1 third.csv").write_text(original)
    third = summaries(ingest(world))["q1 third.csv"]
    assert (third["status"], third["accepted"]) == ("already_ingested", 0)
    assert values(store) == {(A, 2020): 35.0, (C, 2020): 50.0, (C, 2019): 51.0}

    # Withdrawal deletes C's rows; after re-enrolment the same file brings them back.
    participation.withdraw(store, C, actor="test")
    participation.enroll(store, C, ["engagement"], actor="test")
    (inbox / "q1 fourth.csv").write_text(original)
    assert summaries(ingest(world))["q1 fourth.csv"]["accepted"] == 2
    assert values(store)[(C, 2020)] == 50.0


def test_the_sensor_gives_a_file_resent_after_enrolment_a_run_of_its_own(world: dict) -> None:
    """Run keys vary per drop, not only per content: the same bytes under the same name, sent
    again after the first drop was quarantined, get a new run; and no run key, tag or cursor
    is the plain SHA-256 of the file (it would let anyone test a guess of its values)."""
    store, inbox = world["store"], world["inbox"]
    content = (HEADER + row(A, 30) + row(C, 50)).encode()
    plain = hashlib.sha256(content).hexdigest()
    resources = {"privacy": PrivacySettings(inbox_dir=str(inbox)),
                 "warehouse": Warehouse(database_url=store.url)}  # fmt: skip
    instance = dg.DagsterInstance.ephemeral()

    def tick(cursor: str | None) -> dg.SensorResult:
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as ctx:
            return submissions_inbox_sensor(ctx)

    def run(request: dg.RunRequest) -> dict:
        result = dg.materialize(
            [benchmark_metric_submissions], resources=resources,
            run_config=request.run_config, instance=instance,
        )  # fmt: skip
        return summaries(result)["q1.csv"]

    (inbox / "q1.csv").write_bytes(content)
    first = tick(None)
    (request,) = first.run_requests
    assert tick(first.cursor).run_requests == []  # the same drop, still waiting: nothing new
    done = run(request)
    assert (done["status"], done["accepted"], done["rejected"]) == ("partial", 1, 1)  # C unknown
    assert (inbox / "quarantine" / "q1.csv").exists() and not (inbox / "q1.csv").exists()

    participation.enroll(store, C, ["engagement"], actor="test")
    (inbox / "q1.csv").write_bytes(content)  # the very same bytes, the same name
    second = tick(first.cursor)
    (again,) = second.run_requests
    assert again.run_key != request.run_key
    assert run(again)["accepted"] == 1
    assert values(store) == {(A, 2020): 30.0, (C, 2020): 50.0}
    shown = " ".join([first.cursor or "", second.cursor or "", request.run_key or "",
                      again.run_key or "", repr(request.tags), repr(again.tags)])  # fmt: skip
    assert plain not in shown and plain[:12] not in shown


def test_ingest_file_outside_dagster_obeys_the_same_limits(world: dict) -> None:
    inbox, store = world["inbox"], world["store"]
    (inbox / "x.csv").write_text(HEADER + row(A, 30) * 50)
    summary = ingest_file(store, inbox / "x.csv", registry_of(store), InboxLimits(1_000, 10))
    assert summary["status"] == "refused" and (inbox / "quarantine" / "x.csv").exists()
    # quarantine/ replaced by a file: refused before the file is read or anything is written
    (inbox / "y.csv").write_text(HEADER + row(A, 30))
    os.rename(inbox / "quarantine", world["tmp"] / "q_old")
    (inbox / "quarantine").write_text("a file, not a folder")
    with pytest.raises(InboxError, match="inbox/quarantine is not a directory"):
        ingest_file(store, inbox / "y.csv", registry_of(store))
    assert (inbox / "y.csv").exists() and values(store) == {}
