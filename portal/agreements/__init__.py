"""Customer agreements: versions published by staff, accepted by a Master or attested by staff."""
