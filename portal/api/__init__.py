"""The REST API (`/api/v1`) and the API tokens a Master creates for it in "Integrações"."""
