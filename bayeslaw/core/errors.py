"""One exception hierarchy for everything bayeslaw refuses to do, one for what it warns about.

The command line catches :class:`BayeslawError`, prints its message on one line
and exits with status 2; any other exception is a bug. Every warning bayeslaw issues derives
from :class:`BayeslawWarning`, so ``warnings.filterwarnings("error", category=BayeslawWarning)``
turns all of them into errors at once.
"""


class BayeslawError(Exception):
    """Base class: a problem with the user's input, not a bug in bayeslaw."""


class LawSpecError(BayeslawError):
    """A law file or formula is invalid (bad syntax, unknown name, bad prior)."""


class DataError(BayeslawError):
    """A runs table is invalid (missing column, non-numeric, non-positive, ...)."""


class FitError(BayeslawError):
    """A fit request cannot be honoured (bad pooling override, bad sampler option, ...)."""


class PredictionError(BayeslawError):
    """A prediction request cannot be honoured (e.g. a new family with pooling 'none')."""


class BayeslawWarning(UserWarning):
    """Base class: a result bayeslaw delivers but whose reliability the user should check."""


class DataWarning(BayeslawWarning):
    """Data that can be fitted but deserves attention (e.g. a family with very few runs)."""


class ConvergenceWarning(BayeslawWarning):
    """The sampler's diagnostics (R-hat, ESS, divergences) say the posterior is unreliable."""


class ParetoKWarning(BayeslawWarning):
    """PSIS-LOO is unreliable for some runs (Pareto k above the threshold): those runs are
    influential; ``compare(method="largest")`` or ``"family"`` refit instead."""


class DesignWarning(BayeslawWarning):
    """The preposterior reweighting of a run design rests on too few effective draws to be trusted."""
