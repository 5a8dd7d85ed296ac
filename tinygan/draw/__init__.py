"""Using a trained generator: finding a shipped model or a checkpoint, loading it, drawing
faces, ranking them, walking latent space (generate.py); every face's id, which draws it
again (ids.py); faces by id, variations, blends, picked and labelled faces (avatars.py).
"""
