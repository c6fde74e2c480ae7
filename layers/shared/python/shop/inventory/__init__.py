"""Stock per product: adjustments, low-stock listing, and the order-driven reservations."""
