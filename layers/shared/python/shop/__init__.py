"""Shared code of the shop's Lambda functions, shipped as the `SharedLayer` Lambda layer."""
