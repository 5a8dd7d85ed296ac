"""The GAN built from the textbook parts: the generator and discriminator (networks.py), one
training step with the moving average of G (step.py), the recipes that name a loss and its
settings (recipes.py), and the parts the modern recipe adds: DiffAugment (augment.py) and the
R1 penalty (penalty.py).
"""
