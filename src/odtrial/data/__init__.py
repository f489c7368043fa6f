"""The validated data layer: read site extracts, map to canonical tables,
validate, raise queries, pseudonymise, freeze, derive outcomes."""
