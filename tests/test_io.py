import os

import pytest

from pwlgen.errors import ResultFileError
from pwlgen.io import atomic_write, load, load_kind, save


def test_save_and_load_round_trip_yaml_and_json(tmp_path):
    doc = {"kind": "x", "values": [1.0, 2.5], "name": "gelu"}
    for name in ("a.yaml", "a.json"):
        save(doc, tmp_path / name)
        assert load(tmp_path / name) == doc


def test_atomic_write_leaves_no_temp_files(tmp_path):
    atomic_write(tmp_path / "f.txt", "hello")
    assert os.listdir(tmp_path) == ["f.txt"]
    assert (tmp_path / "f.txt").read_text() == "hello"


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")

    class Boom:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(TypeError):
        atomic_write(target, Boom())  # not str/bytes: write fails inside
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_missing_directory_is_a_result_file_error(tmp_path):
    with pytest.raises(ResultFileError, match=r"^cannot write .*No such file or directory$"):
        atomic_write(tmp_path / "nope" / "f.txt", "x")


@pytest.mark.parametrize(
    "text,msg",
    [
        ("knots: [1, 2", r"does not parse"),
        ("- 1\n- 2\n", r"is not a pwlgen result file \(no mapping at top level\)$"),
    ],
)
def test_corrupt_files_raise(tmp_path, text, msg):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    with pytest.raises(ResultFileError, match=msg):
        load(p)


def test_binary_file_is_rejected(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ResultFileError, match=r"is not a text file$"):
        load(p)


def test_load_kind_checks_the_kind(tmp_path):
    save({"kind": "fixed_pwl"}, tmp_path / "r.yaml")
    msg = r"is not a search_result file \(kind is 'fixed_pwl'\)$"
    with pytest.raises(ResultFileError, match=msg):
        load_kind(tmp_path / "r.yaml", "search_result")
