"""The fine-tuning studio: setup form, preflight, live curves, summary, runs list.

Shares only through qt.common; must not import other feature packages."""
