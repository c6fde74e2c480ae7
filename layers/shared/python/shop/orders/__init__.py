"""Orders: pricing, the status state machine, the order saga and their storage."""
