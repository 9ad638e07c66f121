"""Settings and reference data of the STO assistant."""
