"""Payments: the provider interface, the simulated provider and the charge/refund use cases."""
