"""Measuring faces: the sliced Wasserstein distance between two image sets (swd.py), and a
per-image sharpness score that ranks faces by how smeared they look (sharpness.py).
"""
