"""Pieces every room uses: money, clock, CNPJ, errors, permissions, audit."""
