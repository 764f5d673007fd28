"""Tests of support tickets ("Chamados"), customer side and services."""
