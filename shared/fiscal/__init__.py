"""National fiscal obligations on the documents the service issues (Spain's VERI*FACTU)."""
