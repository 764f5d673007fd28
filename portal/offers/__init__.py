"""Purchase offers ("Ofertas de compra"): a link with the partner's code that a customer opens and accepts."""
