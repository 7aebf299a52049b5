"""Posterior mode of many small fits at once: damped Newton with no data-dependent inner loops.

Why not BFGS: it is built from nested ``while`` loops (iterations, line searches, restarts), and
under ``jax.vmap`` over a batch of fits every one of them runs until the slowest lane is done, so
the batch would pay the worst fit's iterations at every step.

Here every iteration does the same work in every lane: the exact gradient and Hessian (the
dimension of a scaling-law posterior is small), one Levenberg-Marquardt trial step
``x - (H + lam I)^-1 g`` and one evaluation of the objective there. A lane keeps the trial point
when it is finite and lowers the objective, and then trusts the quadratic model more (``lam``
shrinks); otherwise ``lam`` grows, which shortens the step and turns it towards the gradient, so
a point where the law overflows or the Hessian is indefinite (far from the mode) is never taken.
The loop stops when every lane has converged or after ``iterations``. ``bl.fit`` searches its
law models' modes the same way (up to ``NEWTON_MAX_DIM`` dimensions,
:mod:`bayeslaw.infer.start`), where BFGS's line search often stops short of the mode.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

#: damping at the start, its bounds, and how it moves after a kept / a rejected trial step
LAM_START, LAM_MIN, LAM_MAX = 1.0, 1e-9, 1e12
LAM_DOWN, LAM_UP = 0.2, 10.0


def damped_newton(objective: Callable, x0: jax.Array, iterations: int = 100,
                  gtol: float = 1e-6) -> jax.Array:
    """Minimise ``objective`` from ``x0`` by Levenberg-Marquardt-damped Newton steps.

    Parameters
    ----------
    objective : callable
        ``objective(x) -> scalar`` on a flat vector, twice differentiable where finite (for a
        fit, the potential: the negative log posterior density in unconstrained space).
    x0 : jax.Array
        Starting point, shape ``(dim,)``; the objective must be finite there.
    iterations : int
        Most Newton iterations (each one Hessian and one trial evaluation).
    gtol : float
        Convergence: the Hessian is positive definite and the Newton decrement ``g' H^-1 g`` is
        below ``gtol``, so the objective is within about ``gtol / 2`` of its local minimum.

    Returns
    -------
    jax.Array
        The lowest finite point found (``x0`` if no step ever lowered the objective).

    Notes
    -----
    Works under ``jit`` and ``vmap``: the loop's only data-dependent exit is "every lane
    converged", and each iteration is branch-free.
    """
    dim = x0.shape[0]
    eye = jnp.eye(dim, dtype=x0.dtype)

    def gradient(v):
        value, grad = jax.value_and_grad(objective)(v)
        return grad, (value, grad)

    # Hessian (forward over reverse), value and gradient from one pass
    derivatives = jax.jacfwd(gradient, has_aux=True)

    def solve(h, lam, g):
        """(h + lam I)^-1 g, NaN where h + lam I is not positive definite."""
        return jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(h + lam * eye), True), g)

    def body(carry):
        i, x, lam, _ = carry
        h, (fx, g) = derivatives(x)
        h = 0.5 * (h + h.T)
        trial = x - solve(h, lam, g)
        f_trial = objective(trial)
        better = jnp.isfinite(f_trial) & jnp.all(jnp.isfinite(trial)) & (f_trial <= fx)
        # converged: the Hessian is positive definite and the Newton decrement g' H^-1 g (twice
        # the objective's drop to the quadratic model's minimum) is below gtol; near the minimum
        # trials lose to rounding, so acceptance cannot be the test. Or no step can be found.
        decrement = g @ solve(h, 0.0, g)
        done = (jnp.isfinite(decrement) & (decrement >= 0) & (decrement < gtol)) | (lam >= LAM_MAX)
        x = jnp.where(better, trial, x)
        lam = jnp.clip(jnp.where(better, lam * LAM_DOWN, lam * LAM_UP), LAM_MIN, LAM_MAX)
        return i + 1, x, lam, done

    carry = (jnp.asarray(0), x0, jnp.asarray(LAM_START, x0.dtype), jnp.asarray(False))
    return jax.lax.while_loop(lambda c: (c[0] < iterations) & ~c[3], body, carry)[1]
