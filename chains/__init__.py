"""Chain clients (Soroban, Bitcoin) and their local sandboxes."""
