"""Using a trained generator: finding a shipped model or a checkpoint, loading it, drawing
faces, ranking them, walking latent space (generate.py).
"""
