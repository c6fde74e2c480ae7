"""The order saga across services: its invariants, the reconciler that re-drives stuck orders, and the check.

``domain`` holds the pure predicates, ``store`` the reads of the four collections involved and the
reconciler's own state, ``service`` the reconciler pass and the invariant check.
"""
