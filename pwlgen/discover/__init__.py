"""Activation discovery: a function database with a surrogate search, and a cell search.

Two methods, both re-implemented from their papers' ideas (no code ported):

* the function database and surrogate loop of AQuaSurF (Bingham & Miikkulainen, "Efficient
  Activation Function Optimization through Surrogate Modeling", NeurIPS 2023): candidate
  expressions, their output and Fisher-spectrum features, a UMAP + kNN regressor that
  suggests the next function to train (`db`, `schema`, `features`, `surrogate`, `worker`);
* the gradient-based cell search of GRAFS (Strack, Safari & Hutter, 2024) with DARTS, GDAS
  and DrNAS relaxations (`cell`).

Both can score a candidate by what its PWL unit costs in hardware (`hardware`).
"""

from .expr import BASELINES, ExprActivation, Expression, compile_expression

__all__ = ["BASELINES", "Expression", "ExprActivation", "compile_expression"]
