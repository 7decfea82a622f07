import json

from pwlgen.cli import main
from pwlgen.functions import BUILTINS


def test_functions_lists_every_builtin(capsys):
    assert main(["functions", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in doc["functions"]] == list(BUILTINS)
    gelu = doc["functions"][0]
    assert gelu["left_asymptote"] == [0.0, 0.0] and gelu["right_asymptote"] == [1.0, 0.0]


def test_functions_text_output(capsys):
    assert main(["functions"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in BUILTINS)
