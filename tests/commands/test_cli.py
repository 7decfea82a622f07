import subprocess
import sys
from pathlib import Path

from pwlgen.cli import COMMANDS, build_parser, main
from pwlgen.commands.search import _METHODS, OBJECTIVES, TAILS


def _subparsers(parser):
    return next(a for a in parser._actions if a.dest == "command")


def test_the_help_table_matches_what_each_command_registers():
    sub = _subparsers(build_parser())
    registered = {a.dest: a.help for a in sub._choices_actions}
    assert registered == {name: help_line for name, (_, help_line) in COMMANDS.items()}


def test_search_lists_the_registry_as_it_is():
    from pwlgen.commands.search import FAMILIES
    from pwlgen.search import FAMILIES as SEARCH_FAMILIES
    from pwlgen.search import METHODS, OBJECTIVE_NAMES, TAIL_MODES

    assert _METHODS == METHODS and OBJECTIVES == OBJECTIVE_NAMES and TAILS == TAIL_MODES
    assert FAMILIES == SEARCH_FAMILIES


def test_only_the_command_run_is_registered_in_full(capsys):
    parser = build_parser(only="search")
    choices = _subparsers(parser).choices
    assert any(a.dest == "kbit" for a in choices["search"]._actions)
    assert not any(a.dest == "points" for a in choices["fit"]._actions)


def _modules_after(code: str) -> set[str]:
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(*sys.modules)"],
                         cwd=root, capture_output=True, text=True, check=True).stdout
    return {m.split(".")[0] for m in out.split()}


def test_help_imports_no_numerical_library():
    mods = _modules_after("from pwlgen.cli import main\nmain(['--help'])")
    assert not mods & {"numpy", "scipy", "torch", "yaml", "matplotlib", "amaranth", "triton"}


def test_a_kbit_search_imports_neither_torch_nor_plotting():
    mods = _modules_after("import tempfile\nfrom pwlgen.cli import main\n"
                          "main(['search', '--kbit', '2', '-q', '-o', tempfile.mkdtemp()])")
    assert "scipy" in mods  # the check can fail: the search did run
    assert not mods & {"torch", "matplotlib", "amaranth", "triton", "stable_baselines3"}


def test_usage_errors_name_the_command_help(capsys):
    assert main(["fit", "--points", "1", "--bogus"]) == 2
    assert capsys.readouterr().err == (
        "pwlgen: error: unrecognized arguments: --bogus (see 'pwlgen fit --help')\n"
    )
