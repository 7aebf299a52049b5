"""The command line: bayeslaw fit / plan / compare / backtest / report / suggest / isoflop and the downstream commands. Top layer: nothing imports it."""
