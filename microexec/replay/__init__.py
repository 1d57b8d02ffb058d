"""`microexec replay`: does the advisor lower execution cost? Baseline vs advisor-bounded execution of
the same parent orders, on a recorded or simulated market, with a report and promotion gate evidence.

Why a package of small pure modules: the numbers in the report decide whether real money runs on the
advisor, so each step (advice in force, paired execution, summary figures, criteria, rendering) is
testable on its own against hand computation.
"""
