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


def test_check_output_creates_nothing_and_names_what_is_in_the_way(tmp_path):
    from pwlgen.io import check_output

    target = tmp_path / "new" / "deeper" / "r.yaml"
    assert check_output(target) == target
    assert os.listdir(tmp_path) == []
    (tmp_path / "d.yaml").mkdir()
    with pytest.raises(ResultFileError, match=r"^cannot write .*d\.yaml': it is a directory$"):
        check_output(tmp_path / "d.yaml")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ResultFileError, match=r"afile' is not a directory$"):
        check_output(tmp_path / "afile" / "x.csv")
    with pytest.raises(ResultFileError, match=r"exists and is not a directory$"):
        check_output(tmp_path / "afile", directory=True)


def test_write_files_writes_all_or_none(tmp_path):
    from pwlgen.io import write_files

    (tmp_path / "old.txt").write_text("old")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ResultFileError):
        write_files({tmp_path / "new" / "a.txt": "a", tmp_path / "old.txt": "new",
                     tmp_path / "afile" / "b.txt": "b"})
    assert sorted(os.listdir(tmp_path)) == ["afile", "old.txt"]
    assert (tmp_path / "old.txt").read_text() == "old"
    write_files({tmp_path / "new" / "a.txt": "a", tmp_path / "old.txt": b"new"})
    assert (tmp_path / "new" / "a.txt").read_text() == "a"
    assert (tmp_path / "old.txt").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["afile", "new", "old.txt"]


def test_write_files_removes_the_folders_it_made_when_staging_fails(tmp_path, monkeypatch):
    import pwlgen.io as pio

    def fail(path, data):
        raise ResultFileError("disk full")

    monkeypatch.setattr(pio, "_stage", fail)
    with pytest.raises(ResultFileError, match="^disk full$"):
        pio.write_files({tmp_path / "a" / "b" / "c.txt": "c"})
    assert os.listdir(tmp_path) == []


def test_publish_writes_the_set_with_the_manifest_last(tmp_path):
    from pwlgen.io import check_published, publish

    out = tmp_path / "rtl"
    path = publish(out, {"u.json": "{}", "u.v": "module u; endmodule", "u.hex": b"00\n"},
                   manifest="u.json")
    assert path == out / "u.json"
    assert sorted(os.listdir(out)) == ["u.hex", "u.json", "u.v"]
    check_published(out, ["u.v", "u.hex"], "u.json")
    # a kill between the renames of a later publish leaves a data file newer than the report
    stamp = (out / "u.json").stat().st_mtime_ns
    os.utime(out / "u.v", ns=(stamp + 10**9, stamp + 10**9))
    with pytest.raises(ResultFileError, match=r"u\.v' is newer than 'u\.json': an earlier"):
        check_published(out, ["u.v", "u.hex"], "u.json")
    with pytest.raises(ResultFileError, match=r"names 'gone.v', which is missing"):
        check_published(out, ["gone.v"], "u.json")


def test_publish_fails_without_a_trace_and_cleans_stale_staging(tmp_path, monkeypatch):
    from pwlgen.io import publish

    out = tmp_path / "new" / "rtl"
    with pytest.raises(ResultFileError, match=r"^'\.\./x\.v' is not a plain file name$"):
        publish(out, {"u.json": "{}", "../x.v": "x"}, manifest="u.json")
    assert os.listdir(tmp_path) == []
    real_replace = os.replace

    def kill_after_first(src, dst):
        real_replace(src, dst)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", kill_after_first)
    with pytest.raises(KeyboardInterrupt):
        publish(out, {"u.json": "{}", "u.v": "v"}, manifest="u.json")
    monkeypatch.setattr(os, "replace", real_replace)
    assert sorted(os.listdir(out)) == ["u.v"]  # the staging folder went with the failure
    (out / ".pwlgen-staging-u.json.killed").mkdir()  # one a SIGKILL would leave
    publish(out, {"u.json": "{}", "u.v": "v"}, manifest="u.json")
    assert sorted(os.listdir(out)) == ["u.json", "u.v"]
