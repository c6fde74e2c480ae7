"""Token issuing and checking, shared by the identity functions, the authorizer and the relay."""
