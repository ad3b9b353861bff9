"""Chain clients (Soroban, Bitcoin). The local sandboxes are the separate ``custody_sandbox`` distribution."""
