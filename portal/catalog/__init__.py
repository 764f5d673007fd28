"""The catalog: product families, products and their dated prices."""
