"""Authentication and authorization: password hashing, access tokens, who the caller is, what
they may do, where they call from, and how often they may try."""
