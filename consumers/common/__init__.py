"""Small pure helpers shared by the state and advisor consumers (event-time decay, config hashing)."""
