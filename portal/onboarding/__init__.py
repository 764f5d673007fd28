"""Onboarding ("Contratação"): opportunity → proposal → e-signed contract → approval → handover → implantação."""
