"""Organizations, users, memberships, roles, login, invitations, two-factor sign-in."""
