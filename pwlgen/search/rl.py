"""`rl`: a PPO agent places the breakpoints of a range fit (ISOCC 2023).

The agent is stable-baselines3's PPO on `rl_env.BreakpointEnv` in `n_envs` environments
stepped together (episodes start from the curvature placement and move all points by
bounded, annealed steps; the reward is the log of each step's improvement of the grid max
|err| or of the paper's score). The result is the best placement of the *deterministic*
rollouts seen during training (an evaluation callback rolls the current policy out every
``eval_freq`` steps, from the start and from `eval_starts` jittered starts, and rescores its
best placements on the full 0.001 grid), not the last policy. A target that is even or
point-symmetric on a symmetric range is searched over mirrored placements (`mirror`).
Training stops within the step budget. The trained policy can be saved
(``policy_out``) and reloaded (``policy``) to continue training or, with ``timesteps=0``,
just to roll it out.

Paper: "Automated Generation of Piecewise Linear Approximations for Nonlinear Activation
Functions via Curvature-based Reinforcement Learning", ISOCC 2023.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..errors import SearchError
from ..io import atomic_write
from ..pwl import PWL
from .problem import Problem
from .rangefit import DEFAULT_STEP, fit_values, grid_metrics, range_knots, range_options

__all__ = ["run", "rollout"]


def _sb3():
    try:
        import stable_baselines3
        from stable_baselines3.common.callbacks import BaseCallback
    except ImportError as e:  # pragma: no cover - the [rl] extra is missing
        raise SearchError(
            "the rl method needs stable-baselines3 and gymnasium: pip install 'pwlgen[rl]'"
        ) from e
    return stable_baselines3, BaseCallback


def rollout(model, env, seed: int = 0) -> list[list[float]]:
    """The placements of one deterministic episode of `model` in `env`, start included."""
    obs, info = env.reset(seed=seed)
    states = [info["points"]]
    done = False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        obs, _, terminated, truncated, info = env.step(action)
        states.append(info["points"])
        done = terminated or truncated
    return states


def run(
    problem: Problem,
    rng: np.random.Generator,
    *,
    progress: bool = False,
    points: int | None = None,
    timesteps: int = 300_000,
    policy: str | None = None,
    policy_out: str | None = None,
    eval_freq: int | None = None,
    score: str = "max",
    env_step: float = 0.01,
    step: float = DEFAULT_STEP,
    horizon: int = 24,
    move: float = 0.45,
    anneal: float = 0.02,
    start: str = "curvature",
    jitter: float = 0.3,
    n_envs: int = 8,
    n_steps: int = 128,
    batch_size: int = 256,
    n_epochs: int = 10,
    learning_rate: float = 3e-4,
    gamma: float = 0.99,
    log_std_init: float = -1.0,
    rescore: int = 3,
    mirror: bool | None = None,
    eval_starts: int = 4,
    convention: str = "pwlgen",
) -> tuple[PWL, list[float], dict]:
    """Train (or load) a PPO policy and return the best placement of its deterministic rollouts.

    Parameters
    ----------
    points : int, optional
        Number of interior points (``problem.n_knots - 2``); implied by a slope-tailed
        problem when omitted.
    timesteps : int, >= 0
        The budget of PPO environment steps, never exceeded (0 with `policy`: only roll
        the loaded policy out). Training stops at the last whole step of all `n_envs`
        environments within it.
    policy : str, optional
        A saved policy (``.zip``) to start from.
    policy_out : str, optional
        Where to save the trained policy (``.zip``).
    eval_freq : int, optional
        Steps between deterministic evaluations (default: timesteps / 100, at least one
        rollout of ``n_envs * n_steps``).
    score : {"max", "paper"}
        What the agent lowers and the result is chosen by: the grid max |err| or the
        paper's 0.2 mean + 0.8 max.
    env_step, step : float
        Grid step of the training score and of the evaluation / final fit.
    horizon, move, anneal, start, jitter
        The environment's episode length, first and last largest move (fractions of a
        gap), start placement and the jitter of the training starts
        (`rl_env.BreakpointEnv`).
    n_envs : int
        Environments stepped together (a `DummyVecEnv`: one process, batched policy).
    n_steps, batch_size, n_epochs, learning_rate, gamma, log_std_init
        PPO hyper-parameters (n_steps per environment).
    rescore : int
        Placements of each evaluated rollout, best by the training score, that are
        rescored with the exact fit on the `step` grid.
    eval_starts : int, >= 0
        Each evaluation also rolls the policy out from this many jittered starts (fixed
        seeds 1..eval_starts, the training jitter): the deterministic policy from other
        basins.
    mirror : bool, optional
        Search symmetric placements only (the agent moves the positive half; see
        `rl_env.BreakpointEnv`). Default: when the target is even or point-symmetric on a
        symmetric range with an even number of points (`rl_env.symmetric_target`).
    convention : str
        Recorded in the result.

    Returns
    -------
    (PWL, history, info)
        history: the best score after each evaluation.
    """
    sb3, BaseCallback = _sb3()
    import torch
    from stable_baselines3.common.vec_env import DummyVecEnv
    from tqdm.auto import tqdm

    from .rl_env import SCORES, BreakpointEnv, symmetric_target

    n = problem.n_knots
    if points is None and problem.tails == "slope" and n >= 3:
        points = n - 2
    if points is None or points != n - 2 or problem.tails != "slope" or points < 1:
        raise SearchError(
            "rl places the interior points of a range fit: give points=N with a "
            f"slope-tailed problem of N + 2 knots (got points={points!r}, {n} knots, "
            f"tails {problem.tails!r})"
        )
    if not isinstance(timesteps, int | np.integer) or timesteps < 0:
        raise SearchError(f"timesteps must be a non-negative integer, not {timesteps!r}")
    if timesteps == 0 and policy is None:
        raise SearchError("timesteps=0 needs a policy to roll out (--policy FILE)")
    if policy is not None and not Path(policy).is_file():
        raise SearchError(f"no policy file at {policy!r}")
    if score not in SCORES:
        raise SearchError(f"score must be one of {', '.join(SCORES)}, not {score!r}")
    if not isinstance(n_envs, int | np.integer) or n_envs < 1:
        raise SearchError(f"n_envs must be a positive integer, not {n_envs!r}")
    n_envs = int(min(n_envs, timesteps)) if timesteps else int(n_envs)
    if mirror is None:
        mirror = points % 2 == 0 and symmetric_target(problem.target, problem.interval)
    env_kw = dict(step=env_step, horizon=horizon, move=move, anneal=anneal, start=start,
                  score=score, mirror=bool(mirror))

    def make(j: float):
        return lambda: BreakpointEnv(problem.target, points, problem.interval, jitter=j, **env_kw)

    if not isinstance(eval_starts, int | np.integer) or eval_starts < 0:
        raise SearchError(f"eval_starts must be a non-negative integer, not {eval_starts!r}")
    eval_env, jittered = make(0.0)(), make(jitter)()
    env = DummyVecEnv([make(jitter)] * n_envs)
    seed = int(rng.integers(2**31 - 1))
    eval_freq = int(eval_freq or max(n_envs * n_steps, timesteps // 100))
    key = "grid_max_err_abs" if score == "max" else "paper_score"

    state = {"best": None, "score": np.inf, "at": 0, "history": []}

    def evaluate(model, at: int) -> None:
        for j in range(eval_starts + 1):
            states = rollout(model, jittered if j else eval_env, seed=j)
            fast = [eval_env.fast_score(p)[0] for p in states]
            for i in np.argsort(fast, kind="stable")[:rescore]:
                s = eval_env.errors(states[i], step)[key]  # the exact fit on the final grid
                if s < state["score"]:
                    state.update(best=states[i], score=s, at=at)
        state["history"].append(state["score"])

    class _BestRollout(BaseCallback):
        def __init__(self, bar):
            super().__init__()
            self.bar = bar
            self.last = 0

        def _on_step(self) -> bool:
            self.bar.update(self.num_timesteps - self.bar.n)
            if self.num_timesteps - self.last >= eval_freq:
                self.last = self.num_timesteps
                evaluate(self.model, self.num_timesteps)
                self.bar.set_postfix(best=f"{state['score']:.4g}")
            return self.num_timesteps + n_envs <= timesteps  # the budget, never exceeded

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny MLP: threads only contend
    try:
        if policy is not None:
            model = sb3.PPO.load(policy, env=env, device="cpu", seed=seed)
        else:
            batch = min(int(batch_size), n_envs * int(n_steps))  # no truncated mini-batch
            model = sb3.PPO("MlpPolicy", env, n_steps=n_steps, batch_size=batch,
                            n_epochs=n_epochs, learning_rate=learning_rate, gamma=gamma,
                            seed=seed, device="cpu", verbose=0,
                            policy_kwargs={"log_std_init": float(log_std_init)})
        evaluate(model, 0)
        used = 0
        if timesteps:
            with tqdm(total=timesteps, desc="rl (PPO)", disable=None if progress else True,
                      leave=False) as bar:
                model.learn(total_timesteps=int(timesteps), callback=_BestRollout(bar))
            used = model.num_timesteps
            evaluate(model, used)
        if policy_out:
            buf = io.BytesIO()
            model.save(buf)
            atomic_write(policy_out, buf.getvalue())
    finally:
        torch.set_num_threads(threads)
    best = np.asarray(state["best"])
    pwl = fit_values(problem, range_knots(best, problem.interval), step)
    info = {
        "timesteps": int(timesteps),
        "timesteps_used": int(used),
        "best_at_step": int(state["at"]),
        "evaluations": len(state["history"]),
        "score": score,
        "policy_file": str(policy_out) if policy_out else None,
        "policy_loaded": str(policy) if policy else None,
        "rl_seed": seed,
        "mirror": bool(mirror),
        "grid_metrics": grid_metrics(pwl, problem.target, problem.interval, step),
        **range_options(problem.interval, points, convention, step),
    }
    return pwl, list(state["history"]), info
