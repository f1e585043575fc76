"""The operator's municipalities: `civicbot municipality add` and `import FILE.csv`."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.conftest import Civicbot
from tests.initiatives import open_initiative

HEADER = ["key", "code", "region", "name_ky", "name_ru", "name_en", "district", "threshold"]


def write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([HEADER, *rows])
    return path


async def listed(civicbot: Civicbot) -> dict[str, list[str]]:
    rc, out, _ = await civicbot("municipality", "list")
    assert rc == 0
    return {line.split("\t")[1]: line.split("\t") for line in out.splitlines()}


async def test_add_one_then_a_local_initiative_takes_its_charter_threshold(
    civicbot: Civicbot,
) -> None:
    rc, out, err = await civicbot(
        "municipality", "add", "kara_suu", "--region", "osh_region",
        "--name-ky", "Кара-Суу шаары", "--name-ru", "город Кара-Суу", "--name-en", "Kara-Suu",
        "--threshold", "500",
    )  # fmt: skip
    assert rc == 0, err
    assert out.startswith("added kara_suu: code ")
    code = (await listed(civicbot))["kara_suu"][0]
    assert code.isdigit() and int(code) > 101

    rc, _, err = await civicbot(
        "municipality", "add", "kara_suu", "--region", "osh_region",
        "--name-ky", "x", "--name-ru", "x", "--name-en", "x",
    )  # fmt: skip
    assert rc == 2 and "exists already" in err

    rc, out, err = await civicbot(
        *open_initiative("KSUU", kind="local"), "--municipality", "kara_suu"
    )
    assert rc == 0, err
    assert "500" in out  # no --threshold: the charter's


async def test_import_adds_changes_refuses_and_can_run_again(
    civicbot: Civicbot, tmp_path: Path
) -> None:
    before = await listed(civicbot)
    naryn = before["naryn_city"]
    path = write(
        tmp_path / "places.csv",
        [
            [
                "at_bashy",
                "",
                "naryn",
                "Ат-Башы айыл аймагы",
                "Ат-Башинский а/а",
                "At-Bashy",
                "At-Bashy",  # its district, as domain.yaml writes one
                "300",
            ],
            ["kochkor", "5555", "naryn", "Кочкор айыл аймагы", "Кочкорский а/а", "Kochkor", "", ""],
            ["naryn_city", "", "naryn", naryn[3], "город Нарын", "Naryn town", "", "1000"],
            ["atlantis", "", "nowhere", "Атлантида", "Атлантида", "Atlantis", "", ""],
            ["taken", "101", "naryn", "Бир", "Один", "One", "", ""],
            ["BAD KEY", "", "naryn", "a", "b", "c", "", ""],
            ["no_names", "", "naryn", "", "", "", "", ""],
        ],
    )
    rc, out, _ = await civicbot("municipality", "import", str(path))
    assert rc == 2  # something was refused; the rest is kept
    assert out.startswith("places.csv: added 2, changed 1, unchanged 0, refused 4")
    assert "line 5 (atlantis): unknown region 'nowhere'" in out
    assert "line 6 (taken): the code 101 is naryn_city's already" in out
    assert "line 7 (BAD KEY)" in out and "line 8 (no_names): missing name_ky" in out
    after = await listed(civicbot)
    assert after["kochkor"][0] == "5555" and after["at_bashy"][4] == "at_bashy"
    assert after["kochkor"][4] == ""  # no district named
    assert after["naryn_city"][0] == naryn[0]  # its SMS code kept

    rc, out, _ = await civicbot("municipality", "import", str(path))
    assert out.startswith("places.csv: added 0, changed 0, unchanged 3, refused 4")
    assert await listed(civicbot) == after

    bad = tmp_path / "bad.csv"
    bad.write_text("key,population\nx,1\n", encoding="utf-8")
    rc, _, err = await civicbot("municipality", "import", str(bad))
    assert rc == 2 and "unknown: population" in err
    rc, _, err = await civicbot("municipality", "import", str(tmp_path / "missing.csv"))
    assert rc == 2 and "cannot read" in err
