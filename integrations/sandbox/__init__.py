"""The sandbox operator: the operator's side of the integrations, built in, for the demo and the tests (off in
production). replica.py: its replica database; generator.py: the live players, deposits and bets written into it."""
