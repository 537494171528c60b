"""Authentication plugins: token, user/password (plain or bcrypt), nkeys, accounts."""
