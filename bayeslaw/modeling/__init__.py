"""The probabilistic model: a law plus a runs table become a ModelPlan and a NumPyro model (likelihoods, family pooling, correlated effects), and the law's derived quantities."""
