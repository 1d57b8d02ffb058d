"""The simulated live market: the Hawkes book simulator as a Torghut-format feed for many symbols.

``symbols`` gives each symbol its own seeded model, ``regimes`` the seeded regime schedule and
what each regime changes, ``feed`` the records (quotes, trades, optional L2), ``cli`` the
``microexec feed simulate`` command. See docs/paper.md.
"""
