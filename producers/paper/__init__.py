"""The paper split-book executor: the same parent orders worked twice, baseline vs advisor-bounded.

Stable pure core (the replay report reuses it): ``orders`` (PaperOrder, generate_orders),
``policy_map`` (baseline_policy, advised_policy), ``split_book`` (execute_pair, trade_updates).
The Kafka loop is ``executor``; the command ``microexec paper run`` is in ``cli``.
"""
