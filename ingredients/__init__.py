"""The ingredient catalogue: one module per ingredient, each defining INGREDIENT (see remix.ingredient)."""
