"""Every bad input: one line ``pwlgen: error: ...``, exit 2, no traceback, nothing written.

Generated bad values for every subcommand (hypothesis, in-process through `main`), the cases of
issue 12 one by one, the Python API's entry checks, and a few real subprocess runs.
"""

import contextlib
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pwlgen.cli import COMMANDS, main
from pwlgen.commands.emit_verilog import VERILOG_KEYWORDS

FUZZ = settings(max_examples=15, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def _snapshot(root: Path) -> dict:
    """Every path under `root` with its size, mtime and (for files) content."""
    snap = {}
    for p in sorted(root.rglob("*")):
        st_ = p.lstat()
        snap[str(p.relative_to(root))] = (p.is_dir(), st_.st_size, st_.st_mtime_ns,
                                          None if p.is_dir() else p.read_bytes())
    return snap


def _run_in(root: Path, argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.chdir(root), contextlib.redirect_stderr(err), \
            contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    return rc, err.getvalue()


def assert_refused(root: Path, argv: list[str]) -> str:
    """Run `argv` in `root`: exit 2, one stderr line `pwlgen: error:`, `root` unchanged."""
    before = _snapshot(root)
    rc, err = _run_in(root, argv)
    assert rc == 2, (argv, rc, err)
    assert err.startswith("pwlgen: error: ") and err.count("\n") == 1, (argv, err)
    assert "Traceback" not in err
    assert _snapshot(root) == before, argv
    return err


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder with earlier results in it that no failed command may touch."""
    root = tmp_path_factory.mktemp("fuzz")
    assert _run_in(root, ["search", "--fn", "gelu", "--kbit", "2", "--method", "lstsq",
                          "-o", "gelu.yaml", "-q"])[0] == 0
    assert _run_in(root, ["search", "--fn", "sigmoid", "--kbit", "2", "--method", "lstsq",
                          "-o", "sigmoid.yaml", "-q"])[0] == 0
    (root / "results").mkdir()
    (root / "results" / "old.yaml").write_text("kind: search_result\n")
    (root / "afile").write_text("a file, not a folder\n")
    (root / "garbage.zip").write_text("not a zip\n")
    (root / "d.yaml").mkdir()
    (root / "approxbp.txt").write_text("0.1, [-1.0, 1.0, 0.0, 1.0]\n")
    foo = (root / "gelu.yaml").read_text().replace("function: gelu", "function: foo(x)")
    (root / "foo.yaml").write_text(foo)
    return root


# -- generated bad values, subcommand by subcommand ------------------------------------

not_int = st.one_of(st.floats(allow_nan=True).map(repr), st.sampled_from(["two", "", "1e3", "0x4"]))
not_finite = st.sampled_from(["nan", "inf", "-inf", "NaN", "-Infinity", "abc", ""])
huge = st.integers(min_value=10**6 + 1, max_value=10**300).map(str)


@FUZZ
@given(option=st.sampled_from(["--kbit", "--knots", "--points", "--seed", "--timesteps"]),
       value=st.one_of(not_int, st.integers(max_value=-1).map(str)))
def test_search_bad_integers(workdir, option, value):
    assert_refused(workdir, ["search", "--method", "lstsq", option, value])


@FUZZ
@given(lo=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
       width=st.floats(min_value=0, max_value=1e6))
def test_search_empty_ranges(workdir, lo, width):
    assert_refused(workdir, ["search", "--method", "lstsq", "--knots", "3",
                             "--range", repr(lo), repr(lo - width)])


@FUZZ
@given(bad=st.one_of(not_finite, huge, huge.map(lambda s: "-" + s)))
def test_search_non_finite_or_huge_ranges(workdir, bad):
    assert_refused(workdir, ["search", "--method", "lstsq", "--range", bad, "1e307"])


@FUZZ
@given(shape=st.sampled_from([["--knots"], ["--points"]]),
       n=st.integers(min_value=1025, max_value=10**9))
def test_search_sizes_above_the_limit(workdir, shape, n):
    err = assert_refused(workdir, ["search", "--method", "uniform", *shape, str(n)])
    assert "pwlgen --no-limits search" in err


@FUZZ
@given(fn=st.text(alphabet="abcdefgxyz_(),.0123456789 ", min_size=1, max_size=40))
def test_search_unknown_or_malformed_targets(workdir, fn):
    from pwlgen.functions import builtin_names

    if fn.strip().lower() in builtin_names() or "(" in fn or fn.strip() == "x":
        fn = f"nosuch_{fn}"  # keep it bad: an expression could be a valid one
    assert_refused(workdir, ["search", "--method", "lstsq", "--fn", fn])


@FUZZ
@given(argv=st.sampled_from([
    ["--kbit", "2", "--tails", "free"], ["--kbit", "2", "--tails", "slope"],
    ["--points", "4", "--method", "minimax", "--tails", "pinned"],
    ["--points", "4", "--method", "optimal"], ["--knots", "3", "--method", "rl"],
    ["--method", "lstsq", "--objective", "max"], ["--method", "minimax", "--objective", "l2"],
    ["--method", "lstsq", "--timesteps", "10"], ["--method", "sa", "--policy", "gelu.yaml"],
    ["--points", "4", "--method", "rl", "--timesteps", "0"],
    ["--points", "4", "--method", "rl", "--timesteps", "0", "--policy", "garbage.zip"],
    ["--points", "4", "--method", "rl", "--policy", "gelu.yaml"],
    ["--points", "4", "--method", "rl", "--policy", "nosuch.zip"],
    ["-o", "d.yaml"], ["-o", "afile/sub"], ["-o", "afile"], ["--kbit", "2", "--knots", "3"],
    ["--method", "nosuch"], ["--objective", "l3"], ["--no-such-option"],
]))
def test_search_conflicting_or_unusable_options(workdir, argv):
    assert_refused(workdir, ["search", *argv])


@FUZZ
@given(argv=st.one_of(
    st.tuples(st.just("--step"), st.one_of(not_finite, st.sampled_from(["0", "-1", "1e-9"]))),
    st.tuples(st.just("--round"), st.one_of(not_int, st.sampled_from(["-1", "18"]))),
    st.tuples(st.just("--points"), not_finite),
    st.tuples(st.just("--csv"), st.sampled_from(["afile/x.csv", "d.yaml", "."])),
    st.tuples(st.just("--vectors"), st.sampled_from(["afile/x.csv", "d.yaml"])),
    st.tuples(st.just("-o"), st.sampled_from(["d.yaml", "afile/r", "afile/r.yaml"])),
))
def test_fit_bad_values(workdir, argv):
    base = ["fit", "--points", "-1", "0", "1"]
    if argv[0] == "--points":
        base = ["fit"]
    assert_refused(workdir, [*base, *argv])


@FUZZ
@given(argv=st.one_of(
    st.tuples(st.sampled_from(["--in", "--out"]),
              st.sampled_from(["x3.4", "s3.40", "s", "3.4", "s-1.4", "u0.0", "", "s3.20"])),
    st.tuples(st.just("--max-error-lsb"), st.one_of(not_finite, st.sampled_from(["0", "-1"]))),
    st.tuples(st.just("--segments"), st.one_of(not_int, st.sampled_from(["0", "-3"]))),
    st.tuples(st.just("--rounding"), st.text(max_size=8)),
))
def test_quantize_bad_values(workdir, argv):
    assert_refused(workdir, ["quantize", "--fn", "sigmoid", *argv])


def _bad_names():
    ident = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]*\Z", fullmatch=True)
    return st.one_of(
        st.text(min_size=1, max_size=20).filter(
            lambda s: not (s[:1].isalpha() or s[:1] == "_") or not s.replace("_", "a").isalnum()
            or not s.isascii()),
        st.sampled_from(sorted(VERILOG_KEYWORDS)),
        ident.map(lambda s: s + "x" * 70),
        st.sampled_from(["bad name;", "../escape", "a/b", "9lives", "", "a-b", "é"]),
    )


@FUZZ
@given(argv=st.one_of(
    st.tuples(st.just("--name"), _bad_names()),
    st.tuples(st.just("--range"), not_finite, not_finite),
    st.tuples(st.just("--range"), st.just("2"), st.just("1")),
    st.tuples(st.sampled_from(["--stages", "--knots"]),
              st.one_of(not_int, st.integers(max_value=-1).map(str))),
    st.tuples(st.just("--max-error-lsb"), st.one_of(not_finite, st.just("0"))),
    st.tuples(st.just("-o"), st.sampled_from(["afile", "afile/rtl"])),
    st.tuples(st.just("--from"), st.sampled_from(["nosuch.yaml", "afile", "d.yaml"])),
))
def test_emit_verilog_bad_values(workdir, argv):
    assert_refused(workdir, ["emit-verilog", "--fn", "gelu", "--in", "s3.6", "--out", "s3.6",
                             "-o", "rtl_out", *argv] if argv[0] != "-o" else
                   ["emit-verilog", "--fn", "gelu", "--in", "s3.6", "--out", "s3.6", *argv])


@FUZZ
@given(argv=st.sampled_from([
    ["nosuch.yaml"], ["afile"], ["d.yaml"], ["foo.yaml"], ["gelu.yaml", "--fn", "silu"],
    ["gelu.yaml", "--range", "-1", "1"], ["approxbp.txt", "--range", "2", "1"],
    ["approxbp.txt", "--range", "nan", "1"], ["approxbp.txt", "--fn", "nosuch"],
    ["approxbp.txt", "-o", "afile/x.yaml"],
]))
def test_transform_bad_values(workdir, argv):
    assert_refused(workdir, ["transform", *argv])


@FUZZ
@given(argv=st.sampled_from([
    ["nosuch.yaml"], ["afile"], ["gelu.yaml", "-o", "x.jpg"], ["gelu.yaml", "-o", "d.yaml"],
    ["gelu.yaml", "-o", "afile/x.png"], ["approxbp.txt"],
]))
def test_plot_bad_values(workdir, argv):
    assert_refused(workdir, ["plot", *argv])


@FUZZ
@given(command=st.sampled_from(list(COMMANDS)),
       option=st.from_regex(r"\A--[a-z]{3,12}-zz\Z", fullmatch=True))
def test_every_subcommand_refuses_unknown_options_in_one_line(workdir, command, option):
    err = assert_refused(workdir, [command, option])
    assert err.rstrip().endswith(f"(see 'pwlgen {command} --help')")


# -- the cases of issue 12, one by one -----------------------------------------------

ISSUE_CASES = [
    ["search", "--knots", "100000"],
    ["fit", "--points", "0", "--step", "1e-9"],
    ["search", "--method", "uniform", "--points", "100000"],
    ["search", "--seed", "-1", "--method", "sa"],
    ["search", "-o", "d.yaml"],
    ["emit-verilog", "--name", "bad name;"],
    ["emit-verilog", "--name", "../escape"],
    ["transform", "approxbp.txt", "--range", "2", "1"],
    ["search", "--method", "rl", "--points", "4", "--timesteps", "0", "--policy", "garbage.zip"],
    ["emit-verilog", "--range", "2", "1"],
    ["emit-verilog", "--range", "nan", "nan"],
    ["quantize", "--fn", "gelu", "sigmoid.yaml"],
    ["emit-verilog", "--from", "gelu.yaml", "--fn", "sigmoid"],
    ["search", "--kbit", "2", "--tails", "free"],
    ["transform", "foo.yaml"],
    ["search", "--kbit", "two"],
    ["search", "--range", "-1e300", "1e300"],
    ["search", "--range", "-inf", "inf"],
    ["search", "--fn", "pow(x,x)"],
    ["search", "--fn", "div(x,zero(x))"],
    ["search", "--fn", "exp(exp(exp(x)))"],
    ["fit", "--points", "-1", "0", "1", "--csv", "afile/x.csv"],
]


@pytest.mark.parametrize("argv", ISSUE_CASES, ids=" ".join)
def test_issue_12_cases_are_one_line_exit_2_and_leave_nothing(workdir, argv):
    assert_refused(workdir, argv)


def test_a_target_with_zero_curvature_searches(tmp_path):
    rc, err = _run_in(tmp_path, ["search", "--fn", "abs(x)", "--method", "lstsq", "-q"])
    assert rc == 0 and err == ""
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["expr_lstsq_k2.yaml"]


def test_negative_numbers_in_float_notation_parse_as_values(tmp_path):
    rc, _ = _run_in(tmp_path, ["search", "--method", "lstsq", "--knots", "3",
                               "--range", "-1.5e1", "1.5E+1", "-o", "r.yaml"])
    from pwlgen.io import load

    assert rc == 0 and load(tmp_path / "r.yaml")["interval"] == [-15.0, 15.0]


def test_warnings_of_a_successful_run_are_one_line_each(tmp_path):
    rc, err = _run_in(tmp_path, ["search", "--fn", "reciprocal(x)", "--knots", "3",
                                 "--tails", "free", "--range", "1", "2", "--method", "lstsq",
                                 "-q"])
    assert rc == 0
    lines = err.splitlines()
    assert lines and all(line.startswith("pwlgen: warning: ") for line in lines)
    assert "is not finite" in err


# -- the Python API refuses at its entry, with our error types -------------------------


@pytest.mark.parametrize(("args", "kwargs", "error", "message"), [
    ((None,), {"kbit": 2}, "TargetTypeError",
     r"^target must be a Target or a string .*not NoneType$"),
    ((3,), {"kbit": 2}, "TargetTypeError", r"^target must be a Target or a string .*not int$"),
    (("gelu", 4), {"interval": (1, 2, 3)}, "SearchError",
     r"^interval must be two numbers \(lo, hi\), not \(1, 2, 3\)$"),
    (("gelu", 4), {"interval": (2, 1)}, "SearchError", r"^interval must have lo < hi"),
    (("gelu",), {"kbit": 2, "seed": "abc"}, "SearchError",
     r"^seed must be None or a non-negative integer, not 'abc'$"),
    (("gelu",), {"kbit": 2, "seed": 1.5}, "SearchError", r"not 1\.5$"),
    (("gelu",), {"kbit": 2, "seed": -1}, "SearchError", r"not -1$"),
    (("gelu",), {"kbit": True}, "SearchError", r"^kbit must be an integer, not True$"),
    (("gelu", 2.0), {}, "SearchError", r"^n_knots must be an integer, not 2\.0$"),
])
def test_search_entry_validation(args, kwargs, error, message):
    from pwlgen import errors
    from pwlgen.search import search

    error = getattr(errors, error)
    assert issubclass(error, errors.PwlgenError)
    with pytest.raises(error, match=message):
        search(*args, method="lstsq", **kwargs)


def test_get_target_refuses_what_parse_refuses():
    from pwlgen.errors import ExpressionError
    from pwlgen.functions import get_target

    with pytest.raises(ExpressionError, match=r"^a target spec has at most 10000 characters, "
                                              r"not 120001$"):
        get_target(" " * 120_000 + "x")
    with pytest.raises(ExpressionError, match="at most 10000 characters"):
        get_target("q" * 120_000)


# -- a few real processes: what a shell user sees --------------------------------------

REAL = [
    ["search", "--kbit", "two"],
    ["search", "--range", "-inf", "inf"],
    ["search", "--fn", "pow(x,x)"],
    ["emit-verilog", "--name", "../escape"],
]


@pytest.mark.parametrize("argv", REAL, ids=" ".join)
def test_real_process_prints_one_line_and_exits_2(argv):
    root = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        proc = subprocess.run([sys.executable, "-m", "pwlgen", *argv], cwd=tmp, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("pwlgen: error: ") and proc.stderr.count("\n") == 1
        assert proc.stdout == "" and os.listdir(tmp) == []
