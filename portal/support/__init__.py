"""Support tickets ("Chamados"): opened by Suporte and Master users, answered by staff suporte."""
