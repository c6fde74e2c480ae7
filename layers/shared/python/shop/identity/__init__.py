"""Users: registration, login, the current user, and the bootstrap admin account."""
