"""Co-sell deals ("Venda conjunta") as in Partner Center's referrals: inbound, outbound and favourites."""
