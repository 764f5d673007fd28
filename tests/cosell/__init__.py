"""Co-sell deals ("Venda conjunta")."""
