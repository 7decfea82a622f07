"""Hardware: the pipelined Amaranth PWL unit, Verilog/table emission, simulation and synthesis."""

__all__ = ["unit", "emit", "sim", "synth", "lint"]
