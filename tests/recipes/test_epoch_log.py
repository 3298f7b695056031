"""EpochLog: the log.csv of recipes that run their own loop."""

import csv

from deepgrad.recipes.base import EpochLog


def test_rows_are_on_disk_as_written_and_resume_keeps_earlier_rows(tmp_path):
    path = tmp_path / "log.csv"
    log = EpochLog(path)
    row = log.write(1, loss=0.5, accuracy=0.25)
    assert list(row) == ["epoch", "loss", "accuracy", "elapsed_s"] and row["elapsed_s"] >= 0
    assert path.read_text().splitlines()[1].startswith("1,0.5,0.25,")  # before the next epoch
    log.write(2, loss=0.25, accuracy=0.5)
    assert log.history == {"loss": [0.5, 0.25], "accuracy": [0.25, 0.5]}
    with open(path, newline="") as f:
        earlier = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    again = EpochLog(path, earlier)  # a resumed run rewrites the earlier rows, then goes on
    again.write(3, loss=0.125, accuracy=0.75)
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,loss,accuracy,elapsed_s" and len(lines) == 4
    assert again.history["loss"] == [0.5, 0.25, 0.125]
