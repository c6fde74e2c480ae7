"""Products: create, update, read and search the catalog (with each product's current stock)."""
