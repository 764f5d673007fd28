"""Sign-in with Microsoft (Entra ID, OpenID Connect): the organization's tenant link and its policy."""
