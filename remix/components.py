"""The registries every slot of the spec is looked up in.

Engine code registers the base components (remix/model, remix/optim, remix/data); ingredient
modules register what they bring. Importing the catalogue (remix.ingredient.catalogue) loads both.
"""

from remix.registry import Registry

NORMS = Registry("norm")                  # model.norm
POSITIONS = Registry("positions")         # model.positions
ATTENTION = Registry("attention core")    # model.attention
ACTIVATIONS = Registry("activation")      # model.activation
LOGITS = Registry("logit transform")      # model.logits
INITS = Registry("init")                  # model.init.*
OPTIMIZERS = Registry("optimizer")        # optim.<group>.optimizer
LR_SCHEDULES = Registry("lr schedule")    # schedule.lr
MOMENTUM_SCHEDULES = Registry("momentum schedule")  # schedule.momentum
LOADERS = Registry("data loader")         # data.loader
