from __future__ import annotations

from pathlib import Path

import pytest

from fnf.csvfile import read_clients
from fnf.errors import EXIT_USAGE, ImportFileError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clients.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_ids_names_streams_and_extra_fields(tmp_path: Path) -> None:
    path = write(tmp_path, 'id,name,stream,plan,token\nrec1,Acme,1,pro,abc\nrec2,"O\'Brien, ""Jr""",2,,\n')
    clients = read_clients(path)
    assert [(c.id, c.name, c.stream) for c in clients] == [("rec1", "Acme", 1), ("rec2", 'O\'Brien, "Jr"', 2)]
    assert clients[0].fields == {"plan": "pro", "token": "abc"}


def test_blank_stream_means_unassigned(tmp_path: Path) -> None:
    assert read_clients(write(tmp_path, "id,name,stream\nrec1,Acme,\n"))[0].stream is None


def test_client_data_is_kept_as_text(tmp_path: Path) -> None:
    clients = read_clients(write(tmp_path, "id,name,stream\nrec1,x; rm -rf ~,1\nrec2,$(reboot),1\n"))
    assert [c.name for c in clients] == ["x; rm -rf ~", "$(reboot)"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name,stream\nAcme,1\n", "missing column(s) id"),
        ("", "missing column(s) id, name, stream"),
        ("id,name,stream\nrec1,Acme,two\n", "line 2: stream 'two' is not a number"),
        ("id,name,stream\nrec1,Acme,0\n", "line 2: stream '0' is not a positive whole number"),
        ("id,name,stream\nrec1,Acme,-1\n", "line 2: stream '-1' is not a positive whole number"),
        ("id,name,stream\nrec1,Acme,1.5\n", "line 2: stream '1.5' is not a positive whole number"),
        ("id,name,stream\nrec1,Acme,1e3\n", "line 2: stream '1e3' is not a positive whole number; use 1, 2, 3"),
        ("id,name,stream\nrec1,Acme,1_000\n", "line 2: stream '1_000' is not a positive whole number"),
        ("id,name,stream\nrec1,Acme,\u0663\n", "line 2: stream '\u0663' is not a positive whole number"),
        ("id,name,stream\nrec1,Acme,1e19\n", "line 2: stream '1e19' is not a positive whole number"),
        ("id,name,stream\nrec1,Acme,9223372036854775807\n", "is larger than 100000, the highest stream"),
        ("id,name,stream\nrec1,Acme,9007199254740993\n", "'9007199254740993' is larger than 100000"),
        ("id,name,stream\nrec\x001,Acme,1\n", "id 'rec\\x001' contains the control character '\\x00'"),
        ("id,name,stream\nrec1,Ac\x1b[31mme,1\n", "contains the control character '\\x1b'"),
        ("id,name,stream\nrec1,\u202eemca,1\n", "contains the control character '\\u202e'"),
        ("id,name,stream\n,Acme,1\n", "line 2: id is blank"),
        ("id,name,stream\nrec1,,1\n", "line 2: name is blank for client 'rec1'"),
        ("id,name,stream\nrec1,A,1\nrec1,B,2\n", "line 3: id 'rec1' already used on line 2"),
        ("id,name,stream\nrec1,A,1,extra\n", "line 2: more values than columns"),
        ("id,name,stream,id\nrec1,A,1,x\n", "column(s) named twice: id"),
    ],
)
def test_bad_files_are_refused_whole(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ImportFileError) as info:
        read_clients(write(tmp_path, text))
    assert fragment in str(info.value)
    assert info.value.exit_code == EXIT_USAGE


def test_every_bad_row_is_listed(tmp_path: Path) -> None:
    path = write(tmp_path, "id,name,stream\nrec1,A,x\nrec2,B,1\nrec3,C,0\n")
    with pytest.raises(ImportFileError) as info:
        read_clients(path)
    assert "2 bad row(s), nothing imported" in str(info.value)
    assert "line 2" in str(info.value) and "line 4" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no such file"):
        read_clients(tmp_path / "nope.csv")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(b"id,name,stream\nrec1,\xff\xfe,1\n")
    with pytest.raises(ImportFileError, match="not UTF-8"):
        read_clients(path)
